"""create + start + wait + delete of /bin/true: pyrunc CLI, the in-process library path,
runc and crun on the same bundle. Prints median/p95 per runtime and the per-step split,
and the memory (PSS) a created-but-not-started container's init holds.

    .venv/bin/python tests/bench/bench_runtime.py [-n 200] [--mount-hugetlb]
        [--runtimes library,pyrunc,runc,crun]   (pyrunc-m: `python -m` with site, too;
        library-py, pyrunc-py: the init parks in Python instead of the parker)

crun refuses this VM's hybrid cgroups while hugetlb sits on cgroup2; --mount-hugetlb
mounts it as a v1 hierarchy for the run and unmounts it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

STEPS = ("create", "start", "wait", "delete")
HUGETLB = "/sys/fs/cgroup/hugetlb"


def make_bundle(base: str) -> str:
    from pycri.runtime.oci.defaultspec import default_spec

    rootfs = os.path.join(base, "rootfs")
    os.makedirs(os.path.join(rootfs, "bin"))
    for d in ("proc", "sys", "dev", "tmp"):
        os.makedirs(os.path.join(rootfs, d))
    shutil.copy2("/usr/bin/busybox", os.path.join(rootfs, "bin/busybox"))
    os.symlink("busybox", os.path.join(rootfs, "bin/true"))
    spec = default_spec(["/bin/true"])
    spec["process"]["terminal"] = False
    spec["linux"].pop("resources", None)
    with open(os.path.join(base, "config.json"), "w") as f:
        json.dump(spec, f)
    return base


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wait_child(pid: int) -> None:
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except ChildProcessError:
            # A CLI's init is re-parented to us (subreaper) once the CLI exits; until then
            # it is not our child yet.
            time.sleep(0.0002)


class Cli:
    def __init__(self, argv: list[str], root: str, bundle: str) -> None:
        self.argv, self.root, self.bundle = argv, root, bundle

    def _call(self, *args: str) -> None:
        subprocess.run([*self.argv, "--root", self.root, *args], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)

    def create(self, cid: str) -> int:
        pid_file = os.path.join(self.root, f"{cid}.pid")
        self._call("create", "--bundle", self.bundle, "--pid-file", pid_file, cid)
        with open(pid_file) as f:
            pid = int(f.read())
        os.unlink(pid_file)
        return pid

    def start(self, cid: str) -> None:
        self._call("start", cid)

    def delete(self, cid: str) -> None:
        self._call("delete", cid)


class Library:
    def __init__(self, root: str, bundle: str) -> None:
        from pycri.runtime.oci.container import Container

        self.cls, self.root, self.bundle = Container, root, bundle
        self.c: dict[str, object] = {}
        self.null = os.open("/dev/null", os.O_RDWR)

    def create(self, cid: str) -> int:
        c = self.cls.create(self.root, cid, self.bundle,
                            stdio=(self.null, self.null, self.null))
        self.c[cid] = c
        return c.pid

    def start(self, cid: str) -> None:
        self.c[cid].start()  # type: ignore[attr-defined]

    def delete(self, cid: str) -> None:
        self.c.pop(cid).delete()  # type: ignore[attr-defined]


def bench(name: str, rt: Cli | Library, n: int) -> dict[str, object]:
    # One unrecorded cycle first: the steady state, with every .pyc the launcher's `-SE`
    # interpreter writes already in __pycache__ (this shell sets PYTHONDONTWRITEBYTECODE).
    warm = f"bench-{name}-{os.getpid()}-warm"
    pid = rt.create(warm)
    rt.start(warm)
    wait_child(pid)
    rt.delete(warm)
    times: dict[str, list[float]] = {s: [] for s in (*STEPS, "total")}
    pss: list[int] = []
    for i in range(n):
        cid = f"bench-{name}-{os.getpid()}-{i}"
        t0 = time.perf_counter()
        pid = rt.create(cid)
        t1 = time.perf_counter()
        if i < 20:
            pss.append(pss_kib(pid))
        t1b = time.perf_counter()
        rt.start(cid)
        t2 = time.perf_counter()
        wait_child(pid)
        t3 = time.perf_counter()
        rt.delete(cid)
        t4 = time.perf_counter()
        for step, dt in zip((*STEPS, "total"), (t1 - t0, t2 - t1b, t3 - t2, t4 - t3,
                                                  (t4 - t0) - (t1b - t1)), strict=True):
            times[step].append(dt * 1000)
    return {"times": times, "pss": statistics.median(pss) if pss else 0}


def p95(xs: list[float]) -> float:
    return sorted(xs)[max(0, int(len(xs) * 0.95) - 1)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=200, help="iterations per runtime")
    ap.add_argument("--runtimes", default="library,pyrunc,runc,crun")
    ap.add_argument("--mount-hugetlb", action="store_true",
                    help="mount hugetlb as a cgroup v1 hierarchy for crun, undone after")
    args = ap.parse_args()
    from pycri.runtime.sys import prctl
    from pycri.runtime.sys.constants import PR_SET_CHILD_SUBREAPER

    prctl(PR_SET_CHILD_SUBREAPER, 1)
    mounted = made_dir = False
    if args.mount_hugetlb and not os.path.ismount(HUGETLB):
        if not os.path.isdir(HUGETLB):
            os.makedirs(HUGETLB)
            made_dir = True
        res = subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", HUGETLB],
                             capture_output=True, text=True, check=False)
        mounted = res.returncode == 0
        if not mounted:
            # The kernel refuses while cgroup2 uses hugetlb (it is in a subtree_control).
            print(f"mount hugetlb v1 failed: {res.stderr.strip()}", file=sys.stderr)
    base = tempfile.mkdtemp(prefix="pyrunc-bench-")
    results: dict[str, dict[str, object]] = {}
    try:
        bundle = make_bundle(os.path.join(base, "bundle"))
        # `pyrunc` as installed for containerd: the site-less launcher script.
        from pycri.runtime.oci.launcher import install

        launcher = os.path.join(base, "pyrunc-launcher")
        install(launcher)
        makers: dict[str, Callable[[], Cli | Library]] = {
            "library": lambda: Library(os.path.join(base, "lib"), bundle),
            "pyrunc": lambda: Cli([launcher], os.path.join(base, "pyrunc"), bundle),
            "pyrunc-m": lambda: Cli([sys.executable, "-m", "pycri.runtime.oci.cli"],
                                    os.path.join(base, "pyrunc-m"), bundle),
            "runc": lambda: Cli(["runc"], os.path.join(base, "runc"), bundle),
            "crun": lambda: Cli(["crun"], os.path.join(base, "crun"), bundle),
        }
        for name in args.runtimes.split(","):
            if name in ("runc", "crun") and not shutil.which(name):
                print(f"{name}: not installed, skipped", file=sys.stderr)
                continue
            python_parking = name.endswith("-py")
            if python_parking:
                os.environ["PYRUNC_NO_PARKER"] = "1"  # read by create, in-process or CLI
            try:
                results[name] = bench(name, makers[name.removesuffix("-py")](), args.n)
            except (subprocess.CalledProcessError, OSError) as exc:
                print(f"{name}: failed ({exc}), skipped", file=sys.stderr)
            finally:
                os.environ.pop("PYRUNC_NO_PARKER", None)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if mounted:
            subprocess.run(["umount", HUGETLB], check=False)
        if made_dir:
            os.rmdir(HUGETLB)
    print(f"\ncreate+start+wait+delete of /bin/true, n={args.n} after one warm-up cycle "
          "(ms; medians per step)")
    print(f"{'runtime':<11}{'median':>8}{'p95':>8}{'create':>8}{'start':>8}{'wait':>8}"
          f"{'delete':>8}{'init PSS KiB':>14}")
    for name, r in results.items():
        t = r["times"]
        assert isinstance(t, dict)
        print(f"{name:<11}{statistics.median(t['total']):>8.1f}{p95(t['total']):>8.1f}"
              + "".join(f"{statistics.median(t[s]):>8.1f}" for s in STEPS)
              + f"{r['pss']:>14.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
