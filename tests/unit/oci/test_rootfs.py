"""The mount sequence against the recording fake (no root needed)."""

from __future__ import annotations

import errno
import os

import pytest

from pycri.runtime.oci import rootfs
from pycri.runtime.oci.defaultspec import default_spec
from pycri.runtime.sys import constants as c
from pycri.runtime.sys.fake import FakeSyscalls


@pytest.fixture
def spec(tmp_path):
    (tmp_path / "rootfs").mkdir()
    s = default_spec(["true"])
    s["root"]["path"] = str(tmp_path / "rootfs")
    s["mounts"] = [m for m in s["mounts"] if m["type"] != "cgroup"]
    return s


def _targets(sc):
    out = []
    for src, _target, fstype, flags, data in sc.of("mount"):
        out.append((src, fstype, flags, data))
    return out


def test_prepare_order_and_devices(spec, tmp_path):
    sc = FakeSyscalls()
    spec["mounts"].append({"destination": "/data", "type": "bind",
                           "source": str(tmp_path), "options": ["rbind", "ro", "nosuid"]})
    rootfs.prepare(sc, spec, str(tmp_path), pivot=False)
    mounts = _targets(sc)
    r = spec["root"]["path"]
    assert mounts[0] == (None, None, c.MS_SLAVE | c.MS_REC, None)
    assert mounts[1] == (r, "bind", c.MS_BIND | c.MS_REC, None)
    assert mounts[2][:2] == ("proc", "proc")
    assert mounts[3] == ("tmpfs", "tmpfs", c.MS_NOSUID | c.MS_STRICTATIME,
                         "mode=755,size=65536k")
    binds = [m for m in mounts if m[0] == str(tmp_path)]
    assert binds == [(str(tmp_path), "bind", c.MS_BIND | c.MS_REC, None)]
    remount = mounts[mounts.index(binds[0]) + 1]
    assert remount[2] & (c.MS_REMOUNT | c.MS_BIND | c.MS_RDONLY | c.MS_NOSUID) == \
        c.MS_REMOUNT | c.MS_BIND | c.MS_RDONLY | c.MS_NOSUID
    nodes = sorted(os.path.basename(p) for p, _, _ in sc.of("mknod"))
    assert nodes == ["full", "null", "random", "tty", "urandom", "zero"]
    assert os.readlink(os.path.join(r, "dev/ptmx")) == "pts/ptmx"
    assert os.readlink(os.path.join(r, "dev/fd")) == "/proc/self/fd"


def test_mount_targets_never_leave_the_rootfs(spec, tmp_path):
    r = spec["root"]["path"]
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), os.path.join(r, "evil"))
    spec["mounts"] = [{"destination": "/evil/proc", "type": "proc", "source": "proc"}]
    sc = FakeSyscalls()
    rootfs.prepare(sc, spec, str(tmp_path), pivot=False)
    assert not (outside / "proc").exists()
    assert os.path.isdir(os.path.join(r, str(outside).lstrip("/"), "proc"))


def test_mount_error_names_the_destination(spec, tmp_path):
    sc = FakeSyscalls()
    sc.fail("mount", errno.EACCES, match="mqueue")
    with pytest.raises(PermissionError, match="`/dev/mqueue`"):
        rootfs.prepare(sc, spec, str(tmp_path), pivot=False)


def test_userns_binds_devices_instead_of_mknod(spec, tmp_path):
    sc = FakeSyscalls()
    rootfs.prepare(sc, spec, str(tmp_path), pivot=False, in_userns=True)
    assert sc.of("mknod") == []
    assert ("/dev/null", "bind", c.MS_BIND, None) in _targets(sc)


def test_finalize_masks_and_readonly(spec, tmp_path, monkeypatch):
    sc = FakeSyscalls()
    spec["linux"]["maskedPaths"] = [str(tmp_path), "/nonexistent/x", "/etc/hostname"]
    spec["linux"]["readonlyPaths"] = ["/proc/sys"]
    rootfs.finalize(sc, spec)
    calls = sc.of("mount")
    assert ("/proc/sys", "/proc/sys", None, c.MS_BIND | c.MS_REC, None) in calls
    assert ("tmpfs", str(tmp_path), "tmpfs", c.MS_RDONLY, None) in calls
    assert ("/dev/null", "/etc/hostname", None, c.MS_BIND, None) in calls
    assert not [m for m in calls if m[1] == "/nonexistent/x"]
    ro_root = [m for m in calls if m[1] == "/" and m[3] & c.MS_RDONLY]
    assert ro_root
