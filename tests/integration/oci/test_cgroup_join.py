"""The init joins its cgroups without cgroup.procs writes: born in the cgroup2 dir
(clone3 CLONE_INTO_CGROUP), moved into v1 dirs by itself (0 to `tasks`)."""

from __future__ import annotations

import os
import uuid

import pytest

from pycri.runtime.oci.cgroups import detect_layout, manager_for
from pycri.runtime.oci.cgroups.paths import Layout
from pycri.runtime.oci.init import join_cgroups
from pycri.runtime.sys import fork_into_cgroup

pytestmark = pytest.mark.root

ROOT = "/sys/fs/cgroup"


def _cgroup2_mount() -> str:
    layout = detect_layout(ROOT)
    if layout is Layout.V1:
        pytest.skip("no cgroup2 hierarchy on this host")
    return ROOT if layout is Layout.V2 else os.path.join(ROOT, "unified")


def test_fork_into_cgroup_is_born_there() -> None:
    mount = _cgroup2_mount()
    d = os.path.join(mount, f"pycri-test-born-{uuid.uuid4().hex[:8]}")
    os.mkdir(d)
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        pid = fork_into_cgroup(fd)
        if pid == 0:
            with open("/proc/self/cgroup") as f:
                line = next(x for x in f.read().splitlines() if x.startswith("0::"))
            os._exit(0 if line.endswith("/" + os.path.basename(d)) else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(fd)
        os.rmdir(d)


def test_join_plan_puts_the_child_in_every_hierarchy() -> None:
    cid = f"pycri-test-join-{uuid.uuid4().hex[:8]}"
    mgr = manager_for(f"/{cid}", cid)
    mgr.create()
    try:
        born_in, v1_dirs = mgr.join_plan()
        fd = os.open(born_in, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if born_in else -1
        try:
            pid = fork_into_cgroup(fd) if born_in else os.fork()
            if pid == 0:
                code = 0
                try:
                    join_cgroups(v1_dirs)
                    with open("/proc/self/cgroup") as f:
                        # Every hierarchy (v1 ones and cgroup2 alike) says /<cid>.
                        if any(not line.endswith("/" + cid) for line in f.read().splitlines()
                               if line.split(":")[1] != "rdma"):
                            code = 3
                except BaseException:
                    code = 4
                os._exit(code)
            _, status = os.waitpid(pid, 0)
        finally:
            if fd >= 0:
                os.close(fd)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        mgr.destroy()
