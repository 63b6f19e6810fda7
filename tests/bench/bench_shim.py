"""Shim benchmark: memory per pod and container create+start latency.

    sudo .venv/bin/python tests/bench/bench_shim.py [--pods 1,10,50] [--runs 20]
                                                    [--no-containerd]

Memory: PSS (/proc/<pid>/smaps_rollup) of pycri's shim per pod, each pod with its
namespaces pinned and one running busybox `sleep` container, next to Debian's containerd
(own root/state/socket) running the same container through containerd-shim-runc-v2; its
container stands in for the pause process a containerd pod also has, so containerd's
per-pod figure is shim + that process. Latency: create+start of a container through the
shim, through runc, and through the pyrunc CLI when it exists. Prints tables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from pycri.runtime.oci.defaultspec import default_spec
from pycri.runtime.task import ShimStartOptions, TaskManager

CG = f"pycri-bench-{uuid.uuid4().hex[:6]}"
CD_NS = f"{CG}-cd"  # containerd puts its containers' cgroups under /<namespace>/


def pss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def make_rootfs(d: str) -> str:
    os.makedirs(f"{d}/bin")
    shutil.copy("/usr/bin/busybox", f"{d}/bin/busybox")
    for t in ("sh", "sleep", "true"):
        os.symlink("busybox", f"{d}/bin/{t}")
    for sub in ("proc", "dev", "sys", "tmp"):
        os.makedirs(f"{d}/{sub}")
    return d


def make_bundle(base: str, cid: str, rootfs: str, args: list[str],
                ns: dict[str, str] | None = None) -> str:
    b = os.path.join(base, "bundles", cid)
    os.makedirs(b)
    spec = default_spec(args)
    spec["process"]["terminal"] = False
    spec["root"] = {"path": rootfs, "readonly": True}
    nss = [{"type": "mount"}, {"type": "pid"}]
    for k, t in (("net", "network"), ("ipc", "ipc"), ("uts", "uts")):
        nss.append({"type": t, "path": ns[k]} if ns and k in ns else {"type": t})
    spec["linux"]["namespaces"] = nss
    spec["linux"]["cgroupsPath"] = f"/{CG}/{cid}"
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(spec, f)
    return b


# -- pycri --------------------------------------------------------------------------
async def pycri_memory(pods: list[int], base: str, rootfs: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for n in pods:
        root = tempfile.mkdtemp(prefix="pb-", dir="/tmp")
        tm = TaskManager(root, runtime="oci")
        try:
            shims = []
            for i in range(n):
                sid = f"p{i}"
                shim = await tm.start_shim(sid, ShimStartOptions(namespaces=["net", "ipc",
                                                                             "uts"]))
                b = make_bundle(root, f"{sid}c", rootfs, ["sleep", "1000"],
                                shim.info["namespaces"])
                await shim.create(f"{sid}c", b)
                await shim.start(f"{sid}c")
                shims.append(shim)
            await asyncio.sleep(0.5)
            out[n] = sum(pss_kb(s.info["pid"]) for s in shims) / n
        finally:
            for sid in list(tm.shims):
                with contextlib.suppress(Exception):
                    await tm.shutdown_shim(sid, force=True)
            await tm.close()
            shutil.rmtree(root, ignore_errors=True)
    return out


async def pycri_latency(runs: int, base: str, rootfs: str) -> list[float]:
    root = tempfile.mkdtemp(prefix="pl-", dir="/tmp")
    tm = TaskManager(root, runtime="oci")
    times = []
    try:
        shim = await tm.start_shim("lat", ShimStartOptions(namespaces=["net", "ipc", "uts"]))
        bundles = [make_bundle(root, f"l{i}", rootfs, ["true"], shim.info["namespaces"])
                   for i in range(runs)]
        for i, b in enumerate(bundles):
            t0 = time.perf_counter()
            await shim.create(f"l{i}", b)
            await shim.start(f"l{i}")
            times.append(time.perf_counter() - t0)
            await shim.wait(f"l{i}")
            await shim.delete(f"l{i}")
        await tm.shutdown_shim("lat")
    finally:
        await tm.close()
        shutil.rmtree(root, ignore_errors=True)
    return times


def cli_latency(cli: list[str], runs: int, rootfs: str) -> list[float]:
    root = tempfile.mkdtemp(prefix="rl-", dir="/tmp")
    times = []
    try:
        for _ in range(runs):
            cid = f"r{uuid.uuid4().hex[:8]}"
            b = make_bundle(root, cid, rootfs, ["true"])
            t0 = time.perf_counter()
            subprocess.run([*cli, "--root", f"{root}/state", "create", "--bundle", b, cid],
                           check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            subprocess.run([*cli, "--root", f"{root}/state", "start", cid], check=True)
            times.append(time.perf_counter() - t0)
            for _ in range(200):
                st = subprocess.run([*cli, "--root", f"{root}/state", "state", cid],
                                    capture_output=True, text=True)
                if '"stopped"' in st.stdout:
                    break
                time.sleep(0.01)
            subprocess.run([*cli, "--root", f"{root}/state", "delete", "-f", cid],
                           capture_output=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return times


# -- containerd ------------------------------------------------------------------------
def containerd_memory(pods: list[int], rootfs: str) -> dict[int, tuple[float, float]]:
    out: dict[int, tuple[float, float]] = {}
    for n in pods:
        root = tempfile.mkdtemp(prefix="cd-", dir="/tmp")
        sock = f"{root}/c.sock"
        cfg = f"{root}/config.toml"
        with open(cfg, "w") as f:
            f.write('version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
        d = subprocess.Popen(["containerd", "--config", cfg, "--root", f"{root}/root",
                              "--state", f"{root}/state", "--address", sock],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ctr = ["ctr", "--address", sock, "--namespace", CD_NS]
        try:
            for _ in range(100):
                if subprocess.run([*ctr, "version"], capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)
            for i in range(n):
                r = subprocess.run([*ctr, "run", "-d", "--rootfs", rootfs, f"c{i}",
                                    "/bin/sleep", "1000"], capture_output=True, text=True)
                if r.returncode != 0:
                    raise RuntimeError(f"ctr run: {r.stderr.strip()}")
            time.sleep(0.5)
            shims, inits = [], []
            for pid in _pids():
                comm = _comm(pid)
                if comm.startswith("containerd-shim") and root in _cmdline(pid):
                    shims.append(pid)
            for s in shims:
                inits += [c for c in _children(s)]
            out[n] = (sum(pss_kb(p) for p in shims) / max(1, len(shims)),
                      sum(pss_kb(p) for p in inits) / max(1, len(inits)))
        finally:
            for i in range(n):
                subprocess.run([*ctr, "task", "kill", "-s", "SIGKILL", f"c{i}"],
                               capture_output=True)
            time.sleep(0.5)
            for i in range(n):
                subprocess.run([*ctr, "task", "delete", "-f", f"c{i}"], capture_output=True)
                subprocess.run([*ctr, "container", "delete", f"c{i}"], capture_output=True)
            d.send_signal(signal.SIGTERM)
            d.wait(timeout=20)
            for pid in _pids():
                if root in _cmdline(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            subprocess.run(["umount", "-R", f"{root}/state"], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)
    return out


def _pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def _cleanup_cgroups() -> None:
    for base, name in [(b, n) for b in os.listdir("/sys/fs/cgroup") for n in (CG, CD_NS)]:
        p = os.path.join("/sys/fs/cgroup", base, name)
        if os.path.isdir(p):
            for c in os.listdir(p):
                with contextlib.suppress(OSError):
                    os.rmdir(os.path.join(p, c))
            with contextlib.suppress(OSError):
                os.rmdir(p)


def _row(name: str, xs: list[float]) -> str:
    xs = sorted(xs)
    p90 = xs[min(len(xs) - 1, int(len(xs) * 0.9))]
    return (f"{name:<22} {statistics.median(xs) * 1000:>9.1f} {p90 * 1000:>9.1f} "
            f"{statistics.mean(xs) * 1000:>9.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", default="1,10,50")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--no-containerd", action="store_true")
    a = ap.parse_args()
    pods = [int(x) for x in a.pods.split(",")]
    base = tempfile.mkdtemp(prefix="pbb-", dir="/tmp")
    rootfs = make_rootfs(os.path.join(base, "rootfs"))
    try:
        mem = asyncio.run(pycri_memory(pods, base, rootfs))
        cd = {} if a.no_containerd or not shutil.which("containerd") else \
            containerd_memory(pods, rootfs)
        print("\nPSS per pod (kB)")
        print(f"{'pods':>5} {'pycri shim':>11} {'cd shim':>9} {'cd pause*':>10} "
              f"{'cd total':>9} {'ratio':>6}")
        for n in pods:
            if n in cd:
                s, p = cd[n]
                print(f"{n:>5} {mem[n]:>11.0f} {s:>9.0f} {p:>10.0f} {s + p:>9.0f} "
                      f"{mem[n] / (s + p):>6.2f}")
            else:
                print(f"{n:>5} {mem[n]:>11.0f} {'-':>9} {'-':>10} {'-':>9} {'-':>6}")
        print("* the containerd pod's container (busybox sleep) stands in for pause")
        print(f"\ncreate+start latency, {a.runs} runs (ms)")
        print(f"{'path':<22} {'median':>9} {'p90':>9} {'mean':>9}")
        print(_row("pycri shim (in-proc)", asyncio.run(pycri_latency(a.runs, base, rootfs))))
        if shutil.which("runc"):
            print(_row("runc CLI", cli_latency(["runc"], a.runs, rootfs)))
        if importlib.util.find_spec("pycri.runtime.oci.cli") is not None:
            print(_row("pyrunc CLI", cli_latency([sys.executable, "-m", "pycri.runtime.oci.cli"],
                                                 a.runs, rootfs)))
    finally:
        _cleanup_cgroups()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
