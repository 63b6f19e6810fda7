"""Real cgroups on this host: v1 (hybrid) hierarchies and the cgroup2 unified mount."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from pycri.runtime.oci.cgroups import (
    CgroupManager,
    V1Manager,
    V2Manager,
    detect_layout,
    manager_for,
)

pytestmark = pytest.mark.root

ROOT = "/sys/fs/cgroup"
UNIFIED = "/sys/fs/cgroup/unified"


def _cat(path: str) -> str:
    with open(path) as f:
        return f.read()


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


def _cleanup(m: CgroupManager) -> None:
    m.kill_all(signal.SIGKILL)
    m.destroy()


@pytest.fixture
def v1() -> Iterator[V1Manager]:
    _need_root()
    if not os.path.isdir(os.path.join(ROOT, "memory")):
        pytest.skip("no cgroup v1 memory hierarchy")
    m = manager_for(f"/pycri-test/{uuid.uuid4().hex[:12]}", "t", root=ROOT)
    assert isinstance(m, V1Manager)
    yield m
    _cleanup(m)
    for mount in m.paths().values():
        parent = os.path.dirname(mount)
        if os.path.basename(parent) == "pycri-test":
            with contextlib.suppress(OSError):
                os.rmdir(parent)


@pytest.fixture
def v2() -> Iterator[V2Manager]:
    _need_root()
    if not os.path.exists(os.path.join(UNIFIED, "cgroup.controllers")):
        if detect_layout(ROOT).value != "v2":
            pytest.skip("no cgroup2 mount")
        root = ROOT
    else:
        root = UNIFIED
    m = manager_for(f"/pycri-test-{uuid.uuid4().hex[:12]}", "t", root=root)
    assert isinstance(m, V2Manager)
    yield m
    _cleanup(m)


def test_v1_limits_freeze_stats(v1: V1Manager, sleeper: subprocess.Popen[bytes]) -> None:
    v1.create()
    v1.set_resources(
        {
            "memory": {"limit": 64 << 20, "swap": 128 << 20, "reservation": 32 << 20},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
            "pids": {"limit": 20},
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            ],
        }
    )
    v1.apply(sleeper.pid)
    mem = v1.path_for("memory")
    assert _cat(os.path.join(mem, "memory.limit_in_bytes")).strip() == str(64 << 20)
    assert _cat(os.path.join(mem, "memory.memsw.limit_in_bytes")).strip() == str(128 << 20)
    assert _cat(os.path.join(v1.path_for("pids"), "pids.max")).strip() == "20"
    assert _cat(os.path.join(v1.path_for("cpuset"), "cpuset.cpus")).strip() == "0"
    assert "c 1:3 rwm" in _cat(os.path.join(v1.path_for("devices"), "devices.list"))
    assert v1.pids() == [sleeper.pid]
    own = _cat(f"/proc/{sleeper.pid}/cgroup")
    assert "pycri-test" in own

    v1.freeze()
    assert v1.is_frozen()
    assert _cat(f"/proc/{sleeper.pid}/stat").split()[2] in ("S", "D", "T")
    v1.thaw()
    assert not v1.is_frozen()

    st = v1.stats()
    # v1 keeps charges where the pages were first touched, so usage may read 0 here.
    assert st["memory"]["usage"] >= 0
    assert st["memory"]["limit"] == 64 << 20
    assert st["pids"] == {"current": 1, "limit": 20}
    assert st["cpu"]["usage_ns"] >= 0
    assert v1.oom_kill_count() == 0

    v1.kill_all(signal.SIGKILL)
    sleeper.wait()
    v1.destroy()
    assert not v1.exists()


def test_v1_memory_update_down_then_up(v1: V1Manager) -> None:
    v1.create()
    v1.set_resources({"memory": {"limit": 256 << 20, "swap": 512 << 20}})
    v1.set_resources({"memory": {"limit": 64 << 20, "swap": 64 << 20}})
    v1.set_resources({"memory": {"limit": 1 << 30, "swap": 2 << 30}})
    mem = v1.path_for("memory")
    assert _cat(os.path.join(mem, "memory.memsw.limit_in_bytes")).strip() == str(2 << 30)


def test_v1_bad_value_names_file(v1: V1Manager) -> None:
    v1.create()
    with pytest.raises(Exception, match=r"write `cpu\.cfs_quota_us`=`1` in `/sys/fs/cgroup/cpu/"):
        v1.set_resources({"cpu": {"quota": 1}})


def test_v2_unified_freeze_kill(v2: V2Manager, sleeper: subprocess.Popen[bytes]) -> None:
    v2.create()
    v2.apply(sleeper.pid)
    assert v2.pids() == [sleeper.pid]
    v2.freeze()
    assert v2.is_frozen()
    v2.thaw()
    assert not v2.is_frozen()
    limits = []
    if "hugetlb" in _cat(os.path.join(v2.path, "cgroup.controllers")).split():
        limits = [{"pageSize": "2MB", "limit": 4 << 20}]
    v2.set_resources({"hugepageLimits": limits} if limits else {})
    if limits:
        assert _cat(os.path.join(v2.path, "hugetlb.2MB.max")).strip() == str(4 << 20)
    st = v2.stats()
    assert st["cpu"]["usage_ns"] >= 0
    v2.kill_all(signal.SIGKILL)
    assert sleeper.wait() == -signal.SIGKILL
    v2.destroy()
    assert not v2.exists()


def _child_open_in_cgroup(m: V2Manager, path: str) -> int:
    """Fork a child, move it into the cgroup, and return its exit code: 0 = opened."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        try:
            os.close(os.open(path, os.O_RDWR))
            os._exit(0)
        except PermissionError:
            os._exit(13)
        except BaseException:
            os._exit(1)
    os.close(r)
    m.apply(pid)
    os.write(w, b"x")
    os.close(w)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_v2_device_program(v2: V2Manager) -> None:
    v2.create()
    v2.set_resources(
        {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            ]
        }
    )
    assert _child_open_in_cgroup(v2, "/dev/null") == 13
    assert _child_open_in_cgroup(v2, "/dev/zero") == 0
    # Replacing the rules swaps the program.
    v2.set_resources({"devices": [{"allow": True, "type": "a", "access": "rwm"}]})
    assert _child_open_in_cgroup(v2, "/dev/null") == 0


def test_hybrid_hugetlb_goes_to_unified(v1: V1Manager) -> None:
    unified = v1.paths().get("")
    if unified is None or os.path.isdir(os.path.join(ROOT, "hugetlb")):
        pytest.skip("hugetlb is a v1 hierarchy here, or the host is not hybrid")
    v1.create()
    v1.set_resources({"hugepageLimits": [{"pageSize": "2MB", "limit": 8 << 20}]})
    assert _cat(os.path.join(unified, "hugetlb.2MB.max")).strip() == str(8 << 20)
    assert "hugetlb" in v1.stats()


def test_v1_oom_kill_counted(v1: V1Manager) -> None:
    v1.create()
    v1.set_resources({"memory": {"limit": 32 << 20, "swap": 32 << 20}})
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        blob = bytearray(256 << 20)  # touches every page: far over the limit
        os._exit(len(blob) & 0)
    os.close(r)
    v1.apply(pid)
    os.write(w, b"x")
    os.close(w)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert v1.oom_kill_count() >= 1
    assert v1.stats()["memory"]["oom_kill"] >= 1
