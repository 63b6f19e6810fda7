from __future__ import annotations

import errno

import pytest

from pycri.runtime.sys import constants as c
from pycri.runtime.sys.fake import FakeSyscalls


def test_records_calls_in_order():
    sc = FakeSyscalls()
    sc.unshare(c.CLONE_NEWNS)
    sc.mount("proc", "/proc", "proc", c.MS_NOSUID)
    sc.sethostname("box")
    assert sc.names() == ["unshare", "mount", "sethostname"]
    assert sc.of("mount") == [("proc", "/proc", "proc", c.MS_NOSUID, None)]


def test_injected_error_looks_like_the_kernel():
    sc = FakeSyscalls()
    sc.fail("mount", errno.EPERM, match="/sys")
    sc.mount("proc", "/proc", "proc")
    with pytest.raises(PermissionError) as info:
        sc.mount("sysfs", "/sys", "sysfs")
    assert info.value.errno == errno.EPERM
    assert "`sysfs`" in info.value.strerror or "`/sys`" in info.value.strerror
    sc.mount("sysfs", "/sys", "sysfs")  # only once
    assert len(sc.of("mount")) == 2


def test_real_layer_error_names_the_path():
    from pycri.runtime.sys import umount2

    with pytest.raises(OSError) as info:
        umount2("/nonexistent/pyrunc-test")
    assert info.value.filename == "/nonexistent/pyrunc-test"
    assert info.value.strerror.startswith("umount `/nonexistent/pyrunc-test`: ")
