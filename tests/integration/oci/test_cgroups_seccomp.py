"""linux.resources visible inside, the OOM killer at the memory limit, pause/resume,
update, pids; seccomp blocking a syscall."""

from __future__ import annotations

import os
import signal

import pytest

from pycri.runtime.oci.cgroupfs_mount import is_unified

pytestmark = pytest.mark.root

MEM = 32 * 1024 * 1024


def _limit_cmd() -> str:
    if is_unified():
        return "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
    return ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
            "/sys/fs/cgroup/pids/pids.max")


def test_limits_visible_inside(make_bundle, run, spec_for):
    spec = spec_for(["sh", "-c", _limit_cmd()])
    spec["linux"]["resources"] = {"memory": {"limit": MEM}, "pids": {"limit": 42}}
    code, out = run(make_bundle([], spec=spec))
    assert code == 0, out
    assert out.split() == [str(MEM), "42"]


def test_oom_killer_at_memory_limit(make_bundle, run, spec_for):
    spec = spec_for(["sh", "-c", "tail /dev/zero; echo status=$?"])
    spec["linux"]["resources"] = {"memory": {"limit": 16 * 1024 * 1024,
                                             "swap": 16 * 1024 * 1024}}
    code, out = run(make_bundle([], spec=spec))
    assert code == 0, out
    assert f"status={128 + signal.SIGKILL}" in out


def test_pause_resume_update_pids(make_bundle, spec_for, state_root, cid):
    from pycri.runtime.oci.container import Container

    c = Container.create(state_root, cid, make_bundle(["sleep", "1000"]))
    try:
        c.start()
        c.pause()
        assert c.state()["status"] == "paused"
        c.resume()
        assert c.state()["status"] == "running"
        c.update({"pids": {"limit": 77}})
        assert Container.load(state_root, cid).record["config"]["linux"]["resources"][
            "pids"]["limit"] == 77
        assert c.pid in c.pids()
        c.pause()
    finally:
        c.delete(force=True)
        os.waitpid(c.pid, 0)


def test_seccomp_blocks_a_syscall(make_bundle, run, spec_for):
    pytest.importorskip("pycri.runtime.oci.seccomp")
    spec = spec_for(["sh", "-c", "mkdir /tmp/x 2>&1 || echo blocked; echo still-alive"])
    spec["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": 1}],
    }
    code, out = run(make_bundle([], spec=spec))
    assert code == 0, out
    assert "Operation not permitted" in out and "blocked" in out and "still-alive" in out
