"""rootfs and mounts: readonly root, binds, tmpfs, masked/readonly paths, devices,
symlinks in the image that point out of it."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.root


def test_readonly_root_masked_and_readonly_paths(make_bundle, run, spec_for):
    spec = spec_for(["sh", "-c", "touch /x 2>/dev/null && echo rw-root || echo ro-root; "
                     "wc -c < /etc/passwd; (echo 1 > /proc/sys/kernel/domainname) "
                     "2>/dev/null && echo rw-sys || echo ro-sys; touch /tmp/ok && echo tmp"])
    spec["root"]["readonly"] = True
    spec["linux"]["maskedPaths"].append("/etc/passwd")
    spec["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                           "options": ["nosuid", "size=1m"]})
    code, out = run(make_bundle([], spec=spec))
    assert code == 0, out
    assert out.split() == ["ro-root", "0", "ro-sys", "tmp"]


def test_bind_mounts_file_and_dir_readonly(make_bundle, run, spec_for, tmp_path):
    host_dir = tmp_path / "share"
    host_dir.mkdir()
    (host_dir / "f").write_text("from-host\n")
    host_file = tmp_path / "single"
    host_file.write_text("one-file\n")
    spec = spec_for(["sh", "-c", "cat /mnt/share/f /etc/single; "
                     "touch /mnt/share/new 2>/dev/null && echo rw || echo ro; "
                     "grep /mnt/share /proc/self/mounts | cut -d' ' -f4"])
    spec["mounts"] += [
        {"destination": "/mnt/share", "type": "bind", "source": str(host_dir),
         "options": ["rbind", "ro", "nosuid", "nodev"]},
        {"destination": "/etc/single", "type": "bind", "source": str(host_file),
         "options": ["bind"]},
    ]
    code, out = run(make_bundle([], spec=spec))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[:3] == ["from-host", "one-file", "ro"]
    assert {"ro", "nosuid", "nodev"} <= set(lines[3].split(","))
    assert not (host_dir / "new").exists()


def test_symlink_in_image_cannot_redirect_a_mount(make_bundle, run, spec_for, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    bundle = make_bundle(["true"])
    os.symlink(str(outside), os.path.join(bundle, "rootfs", "evil"))
    spec = spec_for(["sh", "-c", "mount | grep -c evil-tmpfs"])
    spec["mounts"].append({"destination": "/evil/m", "type": "tmpfs", "source": "evil-tmpfs"})
    bundle = make_bundle([], spec=spec)
    code, out = run(bundle)
    assert code == 0, out
    assert not (outside / "m").exists()
    assert os.path.isdir(os.path.join(bundle, "rootfs", str(outside).lstrip("/"), "m"))


def test_devices_and_dev_links(make_bundle, run, spec_for):
    spec = spec_for(["sh", "-c", "ls -l /dev/mynull /dev/ptmx /dev/fd | cut -c1; "
                     "echo x > /dev/mynull && echo wrote; stat -c '%t,%T %a' /dev/mynull"])
    spec["linux"]["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                                 "fileMode": 0o640}]
    code, out = run(make_bundle([], spec=spec))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[:3] == ["l", "c", "l"]  # fd, mynull, ptmx
    assert lines[3] == "wrote"
    assert lines[4] == "1,3 640"


def test_no_pivot(make_bundle, run):
    code, out = run(make_bundle(["sh", "-c", "ls /; echo $$"]), no_pivot=True)
    assert code == 0, out
    assert "busybox" not in out.split() and out.split()[-1] == "1"
