"""Per-pod memory through CRI, pycri vs Debian's containerd (issue 5's memory figure).

`bench_shim.py` measures the shims driven directly, with a busybox `sleep` standing in for
pause. This one measures what a kubelet-made pod costs: pods started over CRI, each with
one busybox `sleep` container; per pod it sums the runtime's own processes (pycri: the
pod's shim and anything it runs that is not the container; containerd:
containerd-shim-runc-v2 + the static pause process), leaving the container's `sleep` out.
PSS and USS come from /proc/<pid>/smaps_rollup, so shared interpreter pages are split
among the shims that map them. The daemons' own PSS is shown too (with pycri's shim
factory, the warm interpreter its shims fork from).

    sudo .venv/bin/python -m tests.bench.bench_shim_memory [--quick] [--pods 1,10,50]
        [--empty-pods] [--share-pid] [--runtimes pycri,containerd]
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from tests.bench.bench_common import RUNTIMES, base_parser, chosen_runtimes, machine_line
from tests.bench.containerd_env import BenchWorld, RuntimeEnv

WORKLOAD = "/bin/sleep"
SETTLE_S = 1.0


def rollup(pid: int) -> tuple[int, int]:
    """(PSS, USS) in KiB; (0, 0) for a process that is gone."""
    pss = uss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key == "Pss":
                    pss = int(rest.split()[0])
                elif key in ("Private_Clean", "Private_Dirty"):
                    uss += int(rest.split()[0])
    except OSError:
        pass
    return pss, uss


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def overhead_pids(runtime: RuntimeEnv) -> list[int]:
    """The runtime's per-pod processes: its shims and their descendants, minus workloads
    (and minus the runc/pyrunc of an operation in flight, which the settle time avoids)."""
    kids = children_map()
    found: list[int] = []
    stack = list(runtime.shim_pids())
    while stack:
        pid = stack.pop()
        if pid in found:
            continue
        if not cmdline(pid).startswith(WORKLOAD):
            found.append(pid)
        stack.extend(kids.get(pid, []))
    return found


@dataclass
class Point:
    pods: int
    processes: int
    pss_kb: int
    uss_kb: int
    daemon_pss_kb: int

    def per_pod(self, value: int) -> float:
        return value / self.pods / 1024


def grow(world: BenchWorld, runtime: RuntimeEnv, have: int, want: int, empty: bool,
         share_pid: bool) -> None:
    client = runtime.client
    for index in range(have, want):
        pod = world.pod_config(f"mem{index}", share_pid=share_pid)
        pod_id = client.run_pod_sandbox(pod)
        if not empty:
            container = world.sleep_container(share_pid=share_pid)
            cid = client.create_container(pod_id, container, pod)
            client.start_container(cid)


def measure(world: BenchWorld, runtime: RuntimeEnv, counts: list[int], empty: bool,
            share_pid: bool) -> list[Point]:
    if not empty:
        runtime.client.pull_image(world.busybox_ref)
    points = []
    have = 0
    assert runtime.process is not None
    for count in counts:
        grow(world, runtime, have, count, empty, share_pid)
        have = count
        time.sleep(SETTLE_S)
        pids = overhead_pids(runtime)
        pss = uss = 0
        for pid in pids:
            p, u = rollup(pid)
            pss, uss = pss + p, uss + u
        daemon = rollup(runtime.process.pid)[0] + sum(rollup(p)[0] for p in runtime.helper_pids())
        points.append(Point(count, len(pids), pss, uss, daemon))
    return points


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--pods", default="1,10,50", help="pod counts (default 1,10,50)")
    parser.add_argument("--empty-pods", action="store_true", help="pods without a container")
    parser.add_argument("--share-pid", action="store_true",
                        help="pods that share one PID namespace (shareProcessNamespace)")
    args = parser.parse_args()
    counts = [1, 5] if args.quick else sorted(int(n) for n in args.pods.split(","))
    results: dict[str, list[Point]] = {}
    failures = []
    with BenchWorld() as world:
        for name in chosen_runtimes(args.runtimes):
            start = world.pycri if name == "pycri" else world.containerd
            with start() as runtime:
                try:
                    results[name] = measure(world, runtime, counts, args.empty_pods,
                                            args.share_pid)
                except grpc.RpcError as exc:
                    failures.append(f"{name}: {exc.code().name}: {exc.details()}")
        names = [n for n in RUNTIMES if n in results]
        what = "empty pods" if args.empty_pods else "pods with one busybox sleep container"
        if args.share_pid:
            what += ", shared PID namespace"
        print(f"\nPer-pod memory of the runtime's own processes, {what} ({machine_line()})")
        print("pycri: shim (+ anything it runs that is not the container); "
              f"containerd: containerd-shim-runc-v2 + {world.pause_kind}")
        head = f"{'pods':>5}"
        for name in names:
            head += f"{name + ' PSS/pod':>20}{'USS/pod':>9}{'procs':>6}{'daemon PSS':>12}"
        if len(names) == 2:
            head += f"{'PSS pycri/ctrd':>16}"
        print(head)
        print("-" * len(head))
        for i, count in enumerate(counts):
            line = f"{count:>5}"
            per_pod = []
            for name in names:
                point = results[name][i]
                per_pod.append(point.per_pod(point.pss_kb))
                line += (f"{point.per_pod(point.pss_kb):>17.2f} MB"
                         f"{point.per_pod(point.uss_kb):>9.2f}{point.processes:>6}"
                         f"{point.daemon_pss_kb / 1024:>9.1f} MB")
            if len(names) == 2 and per_pod[1]:
                line += f"{per_pod[0] / per_pod[1]:>16.2f}"
            print(line)
        for failure in failures:
            print(f"FAILED {failure}")


if __name__ == "__main__":
    main()
