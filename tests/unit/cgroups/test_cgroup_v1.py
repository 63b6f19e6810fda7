from __future__ import annotations

import signal
from pathlib import Path

import pytest

from pycri.runtime.oci.cgroups import CgroupError, UnsupportedError, V1Manager, manager_for
from pycri.runtime.oci.cgroups.v1_resources import device_rule

FILES = {
    "memory": "memory.limit_in_bytes memory.memsw.limit_in_bytes memory.soft_limit_in_bytes "
    "memory.swappiness memory.oom_control",
    "cpu": "cpu.shares cpu.cfs_period_us cpu.cfs_quota_us cpu.rt_period_us cpu.rt_runtime_us "
    "cpu.idle",
    "cpuset": "cpuset.cpus cpuset.mems",
    "pids": "pids.max",
    "blkio": "blkio.weight blkio.weight_device blkio.throttle.read_bps_device "
    "blkio.throttle.write_iops_device",
    "devices": "devices.allow devices.deny",
    "freezer": "freezer.state",
    "hugetlb": "hugetlb.2MB.limit_in_bytes",
    "cpuacct": "cpuacct.usage",
}


@pytest.fixture
def mgr(v1_root: Path, seed) -> V1Manager:
    m = manager_for("/pod/c1", "c1", root=str(v1_root))
    assert isinstance(m, V1Manager)
    # Kernel-made files: a new cpuset dir starts empty.
    for ctrl, names in FILES.items():
        seed(Path(m.path_for(ctrl)), dict.fromkeys([*names.split(), "cgroup.procs"], ""))
    seed(Path(m.path_for("cpuset")).parent, {"cpuset.cpus": "", "cpuset.mems": ""})
    m.create()
    return m


def read(m: V1Manager, ctrl: str, name: str) -> str:
    return (Path(m.path_for(ctrl)) / name).read_text()


def test_create_copies_cpuset_down(mgr: V1Manager) -> None:
    assert read(mgr, "cpuset", "cpuset.cpus") == "0-3"
    assert (Path(mgr.path_for("cpuset")).parent / "cpuset.mems").read_text() == "0"


def test_memory_and_swap_order(mgr: V1Manager, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[tuple[str, str]] = []
    from pycri.runtime.oci.cgroups import fsio

    real = fsio.write

    def spy(directory: str, name: str, value: str) -> None:
        writes.append((name, value))
        real(directory, name, value)

    monkeypatch.setattr(fsio, "write", spy)
    (Path(mgr.path_for("memory")) / "memory.limit_in_bytes").write_text("1000")
    mgr.set_resources({"memory": {"limit": 2000, "swap": 3000, "swappiness": 10}})
    assert writes[:2] == [
        ("memory.memsw.limit_in_bytes", "3000"),
        ("memory.limit_in_bytes", "2000"),
    ]
    writes.clear()
    (Path(mgr.path_for("memory")) / "memory.limit_in_bytes").write_text("9000")
    mgr.set_resources({"memory": {"limit": 500, "swap": 800}})
    assert writes == [("memory.limit_in_bytes", "500"), ("memory.memsw.limit_in_bytes", "800")]
    assert read(mgr, "memory", "memory.swappiness") == "10"


def test_memory_misc(mgr: V1Manager) -> None:
    mgr.set_resources(
        {"memory": {"limit": -1, "reservation": 100, "kernelTCP": 5, "disableOOMKiller": True}}
    )
    assert read(mgr, "memory", "memory.limit_in_bytes") == "-1"
    assert read(mgr, "memory", "memory.memsw.limit_in_bytes") == "-1"
    assert read(mgr, "memory", "memory.soft_limit_in_bytes") == "100"
    assert read(mgr, "memory", "memory.oom_control") == "1"
    with pytest.raises(CgroupError, match="0-100"):
        mgr.set_resources({"memory": {"swappiness": 101}})


def test_cpu(mgr: V1Manager) -> None:
    mgr.set_resources(
        {
            "cpu": {
                "shares": 512,
                "quota": 20000,
                "period": 100000,
                "realtimePeriod": 1000000,
                "realtimeRuntime": 950000,
                "cpus": "1",
                "mems": "0",
            },
            "pids": {"limit": -1},
        }
    )
    assert read(mgr, "cpu", "cpu.shares") == "512"
    assert read(mgr, "cpu", "cpu.cfs_quota_us") == "20000"
    assert read(mgr, "cpu", "cpu.cfs_period_us") == "100000"
    assert read(mgr, "cpu", "cpu.rt_runtime_us") == "950000"
    assert read(mgr, "cpuset", "cpuset.cpus") == "1"
    assert read(mgr, "pids", "pids.max") == "max"


def test_blkio_hugetlb(mgr: V1Manager) -> None:
    mgr.set_resources(
        {
            "blockIO": {
                "weight": 300,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1024}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 50}],
            },
            "hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}],
        }
    )
    assert read(mgr, "blkio", "blkio.weight") == "300"
    assert read(mgr, "blkio", "blkio.weight_device") == "8:0 500"
    assert read(mgr, "blkio", "blkio.throttle.read_bps_device") == "8:0 1024"
    assert read(mgr, "blkio", "blkio.throttle.write_iops_device") == "8:16 50"
    assert read(mgr, "hugetlb", "hugetlb.2MB.limit_in_bytes") == "2097152"


def test_devices(mgr: V1Manager) -> None:
    assert device_rule({"allow": False, "access": "rwm"}) == "a"
    assert device_rule({"type": "c", "major": 1, "minor": 3, "access": "rw"}) == "c 1:3 rw"
    assert device_rule({"type": "b", "major": 8, "access": "r"}) == "b 8:* r"
    with pytest.raises(CgroupError, match="access `rx`"):
        device_rule({"type": "c", "access": "rx"})
    mgr.set_resources(
        {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            ]
        }
    )
    assert read(mgr, "devices", "devices.deny") == "a"
    assert read(mgr, "devices", "devices.allow") == "c 1:5 rwm"


def test_unified_refused_on_v1(mgr: V1Manager) -> None:
    with pytest.raises(UnsupportedError, match=r"`memory\.high`"):
        mgr.set_resources({"unified": {"memory.high": "1"}})


def test_unmounted_controller(v1_root: Path) -> None:
    m = manager_for("/x", "x", root=str(v1_root))
    with pytest.raises(UnsupportedError, match="`rdma` cgroup controller is not mounted"):
        m.set_resources({"rdma": {"mlx5_0": {"hcaHandles": 1}}})


def test_write_error_names_file_value_dir(mgr: V1Manager) -> None:
    (Path(mgr.path_for("pids")) / "pids.max").unlink()
    with pytest.raises(CgroupError) as info:
        mgr.set_resources({"pids": {"limit": 5}})
    msg = str(info.value)
    assert msg.startswith("write `pids.max`=`5` in `") and "no such file" in msg


def test_freeze_thaw(mgr: V1Manager) -> None:
    mgr.freeze(timeout=0.5)
    assert read(mgr, "freezer", "freezer.state") == "FROZEN"
    assert mgr.is_frozen()
    mgr.thaw(timeout=0.5)
    assert not mgr.is_frozen()


def test_kill_all_freezes_around_signals(mgr: V1Manager, monkeypatch: pytest.MonkeyPatch) -> None:
    (Path(mgr.path_for("pids")) / "cgroup.procs").write_text("7\n8\n")
    states = []

    def fake_kill(pid: int, sig: int) -> None:
        states.append((pid, sig, read(mgr, "freezer", "freezer.state")))

    monkeypatch.setattr("os.kill", fake_kill)
    mgr.kill_all(signal.SIGKILL)
    assert states == [(7, 9, "FROZEN"), (8, 9, "FROZEN")]
    assert read(mgr, "freezer", "freezer.state") == "THAWED"
    assert mgr.pids() == [7, 8]


def test_apply_and_destroy(mgr: V1Manager, fake_rmdir) -> None:
    mgr.apply(1234)
    assert read(mgr, "memory", "cgroup.procs") == "1234"
    mgr.rmdir = fake_rmdir
    mgr.destroy()
    assert not mgr.exists()
