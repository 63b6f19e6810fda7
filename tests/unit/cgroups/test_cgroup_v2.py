from __future__ import annotations

import signal
from pathlib import Path

import pytest

from pycri.runtime.oci.cgroups import CgroupError, UnsupportedError, V2Manager, manager_for
from pycri.runtime.oci.cgroups.convert import (
    blkio_weight_to_io_weight,
    cpu_shares_to_weight,
    memory_swap_to_v2,
)

V2_FILES = [
    *("cgroup.procs", "cgroup.freeze", "cgroup.events", "cgroup.kill"),
    *("memory.max", "memory.low", "memory.swap.max", "memory.high"),
    *("cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems"),
    *("pids.max", "io.weight", "io.max", "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "rdma.max"),
]


@pytest.fixture
def mgr(v2_root: Path, seed) -> V2Manager:
    m = manager_for("/pod/c1", "c1", root=str(v2_root))
    assert isinstance(m, V2Manager)
    m.create()
    seed(Path(m.path), dict.fromkeys(V2_FILES, ""))
    (Path(m.path) / "cgroup.events").write_text("populated 0\nfrozen 0\n")
    return m


def read(m: V2Manager, name: str) -> str:
    return (Path(m.path) / name).read_text()


def test_create_delegates_controllers(v2_root: Path) -> None:
    m = manager_for("/a/b", "b", root=str(v2_root))
    m.create()
    assert (v2_root / "a" / "b").is_dir()
    enabled = (v2_root / "cgroup.subtree_control").read_text().split()
    assert "+memory" in enabled and "+pids" in enabled
    assert m.exists()


def test_conversions() -> None:
    assert cpu_shares_to_weight(0) == 0
    assert cpu_shares_to_weight(2) == 1
    assert cpu_shares_to_weight(1024) == 100
    assert cpu_shares_to_weight(262144) == 10000
    assert 1 < cpu_shares_to_weight(512) < 100
    assert blkio_weight_to_io_weight(10) == 1
    assert blkio_weight_to_io_weight(1000) == 10000
    assert blkio_weight_to_io_weight(500) == 1 + 490 * 9999 // 990
    assert memory_swap_to_v2(0, -1) == -1
    assert memory_swap_to_v2(-1, 100) == -1
    assert memory_swap_to_v2(0, 100) == 0
    assert memory_swap_to_v2(300, 100) == 200
    with pytest.raises(CgroupError, match="below the memory limit"):
        memory_swap_to_v2(50, 100)
    with pytest.raises(CgroupError, match="needs a memory limit"):
        memory_swap_to_v2(50, 0)


def test_memory_cpu_pids(mgr: V2Manager) -> None:
    mgr.set_resources(
        {
            "memory": {"limit": 100 << 20, "swap": 150 << 20, "reservation": 50 << 20},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
            "pids": {"limit": 42},
        }
    )
    assert read(mgr, "memory.max") == str(100 << 20)
    assert read(mgr, "memory.swap.max") == str(50 << 20)
    assert read(mgr, "memory.low") == str(50 << 20)
    assert read(mgr, "cpu.weight") == "100"
    assert read(mgr, "cpu.max") == "50000 100000"
    assert read(mgr, "cpuset.cpus") == "0-1"
    assert read(mgr, "pids.max") == "42"


def test_unlimited_values(mgr: V2Manager) -> None:
    mgr.set_resources({"memory": {"limit": -1}, "cpu": {"quota": -1}, "pids": {"limit": 0}})
    assert read(mgr, "memory.max") == "max"
    assert read(mgr, "memory.swap.max") == "max"
    assert read(mgr, "cpu.max") == "max"
    assert read(mgr, "pids.max") == "max"


def test_realtime_refused(mgr: V2Manager) -> None:
    with pytest.raises(UnsupportedError, match="realtime"):
        mgr.set_resources({"cpu": {"realtimeRuntime": 100}})


def test_io_and_hugetlb(mgr: V2Manager) -> None:
    mgr.set_resources(
        {
            "blockIO": {
                "weight": 1000,
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            },
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        }
    )
    # io.max is written once per device/key; the last write is what the file holds here.
    assert read(mgr, "io.weight") == "default 10000"
    assert read(mgr, "io.max") == "8:0 rbps=1048576"
    assert read(mgr, "hugetlb.2MB.max") == "4194304"
    assert read(mgr, "hugetlb.2MB.rsvd.max") == "4194304"
    with pytest.raises(CgroupError, match="pageSize"):
        mgr.set_resources({"hugepageLimits": [{"pageSize": "2mb", "limit": 1}]})


def test_unified_keys(mgr: V2Manager) -> None:
    mgr.set_resources({"memory": {"limit": 1000}, "unified": {"memory.high": "900"}})
    assert read(mgr, "memory.high") == "900"
    with pytest.raises(UnsupportedError, match=r"`foo\.bar`"):
        mgr.set_resources({"unified": {"foo.bar": "1"}})
    with pytest.raises(CgroupError, match="not a cgroup file"):
        mgr.set_resources({"unified": {"../x": "1"}})


def test_missing_controller_names_file(mgr: V2Manager) -> None:
    (Path(mgr.path) / "pids.max").unlink()
    with pytest.raises(UnsupportedError, match=r"write `pids.max`=`7` in .*`pids` controller"):
        mgr.set_resources({"pids": {"limit": 7}})


def test_devices_go_to_hook(mgr: V2Manager) -> None:
    seen = []
    mgr.devices_apply = lambda path, rules: seen.append((path, rules))
    rules = [{"allow": False, "access": "rwm"}]
    mgr.set_resources({"devices": rules})
    assert seen == [(mgr.path, rules)]


def test_freeze_thaw(mgr: V2Manager) -> None:
    events = Path(mgr.path) / "cgroup.events"
    events.write_text("populated 1\nfrozen 1\n")
    mgr.freeze(timeout=0.5)
    assert read(mgr, "cgroup.freeze") == "1"
    assert mgr.is_frozen()
    events.write_text("populated 1\nfrozen 0\n")
    mgr.thaw(timeout=0.5)
    assert not mgr.is_frozen()


def test_freeze_timeout_thaws_back(mgr: V2Manager) -> None:
    with pytest.raises(CgroupError, match=r"freeze cgroup .* timed out"):
        mgr.freeze(timeout=0.05)
    assert read(mgr, "cgroup.freeze") == "0"


def test_pids_recursive_and_kill(mgr: V2Manager, monkeypatch: pytest.MonkeyPatch, seed) -> None:
    (Path(mgr.path) / "cgroup.procs").write_text("10\n11\n")
    seed(Path(mgr.path) / "sub", {"cgroup.procs": "12\n"})
    assert mgr.pids() == [10, 11, 12]
    mgr.kill_all(signal.SIGKILL)
    assert read(mgr, "cgroup.kill") == "1"
    sent = []
    monkeypatch.setattr("os.kill", lambda pid, sig: sent.append((pid, sig)))
    (Path(mgr.path) / "cgroup.freeze").unlink()
    mgr.kill_all(signal.SIGTERM)
    assert sent == [(10, signal.SIGTERM), (11, signal.SIGTERM), (12, signal.SIGTERM)]


def test_destroy(mgr: V2Manager, fake_rmdir, seed) -> None:
    seed(Path(mgr.path) / "nested", {"cgroup.procs": ""})
    mgr.rmdir = fake_rmdir
    mgr.destroy()
    assert not mgr.exists()
    mgr.destroy()  # idempotent


def test_destroy_busy_retries_then_fails(mgr: V2Manager, monkeypatch) -> None:
    import errno

    calls = []

    def busy(path: str) -> None:
        calls.append(path)
        raise OSError(errno.EBUSY, "busy")

    monkeypatch.setattr("pycri.runtime.oci.cgroups.base.RMDIR_FIRST_DELAY", 0.0)
    mgr.rmdir = busy
    with pytest.raises(CgroupError, match=r"remove cgroup .*: device or resource busy"):
        mgr.destroy()
    assert len(calls) > 1
