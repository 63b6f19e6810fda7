"""What the pycri-vs-containerd benches share: argument flags, sampling and the table."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

T = TypeVar("T")
RUNTIMES = ("pycri", "containerd")


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def base_parser(doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES),
                        help="comma-separated subset of pycri,containerd (default both)")
    return parser


def chosen_runtimes(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNTIMES]
    if unknown:
        raise SystemExit(f"unknown runtime(s): {', '.join(unknown)}")
    return names


@dataclass
class Samples:
    """Per-operation latencies (ms) of one runtime in one mode, and what failed."""

    ops: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    count: int = 0

    def add(self, op: str, ms: float) -> None:
        self.ops.setdefault(op, []).append(ms)

    def fail(self, what: str, exc: BaseException) -> None:
        if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
            self.failures.append(f"{what}: {exc.code().name}: {exc.details()}")
        else:
            self.failures.append(f"{what}: {type(exc).__name__}: {exc}")


def timed(samples: Samples, op: str, fn: Callable[[], T]) -> T:
    t0 = time.perf_counter()
    result = fn()
    samples.add(op, (time.perf_counter() - t0) * 1000)
    return result


def run_in_flight(fn: Callable[[int], None], indices: Sequence[int], in_flight: int) -> float:
    """Run fn(i) for every index with `in_flight` at a time; returns the wall seconds."""
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        list(pool.map(fn, indices))
    return time.perf_counter() - t0


def print_table(title: str, results: dict[str, dict[str, Samples]], ops: Sequence[str],
                unit: str = "ms") -> None:
    """results[mode][runtime] → rows per (mode, op): median/p95 per runtime, median ratio."""
    runtimes = [r for r in RUNTIMES if any(r in by_rt for by_rt in results.values())]
    print(f"\n{title}")
    head = f"{'mode':<16}{'op':<16}"
    for name in runtimes:
        head += f"{name + ' med':>16}{'p95':>9}"
    if len(runtimes) == 2:
        head += f"{'pycri/ctrd':>12}"
    print(head)
    print("-" * len(head))
    for mode, by_runtime in results.items():
        for op in ops:
            line = f"{mode:<16}{op:<16}"
            medians = []
            for name in runtimes:
                values = by_runtime.get(name, Samples()).ops.get(op, [])
                if values:
                    med = statistics.median(values)
                    medians.append(med)
                    line += f"{med:>13.1f} {unit}{pct(values, 0.95):>9.1f}"
                else:
                    medians.append(0.0)
                    line += f"{'-':>16}{'-':>9}"
            if len(runtimes) == 2 and medians[1]:
                line += f"{medians[0] / medians[1]:>12.2f}"
            print(line)
    for mode, by_runtime in results.items():
        for name, samples in by_runtime.items():
            if samples.wall_s:
                rate = samples.count / samples.wall_s
                print(f"{mode}: {name} {samples.count} in {samples.wall_s:.2f}s "
                      f"({rate:.1f}/s)")
            for failure in samples.failures[:5]:
                print(f"{mode}: {name} FAILED {failure}")
            if len(samples.failures) > 5:
                print(f"{mode}: {name} ... {len(samples.failures) - 5} more failures")


def machine_line() -> str:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{os.cpu_count()} CPUs, load average {load} (other work shares this machine)"
