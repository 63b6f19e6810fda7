"""Device nodes and the standard /dev links inside the rootfs (before pivot_root)."""

from __future__ import annotations

import os
import stat

from pycri.runtime.oci.securejoin import secure_join
from pycri.runtime.sys import Syscalls
from pycri.runtime.sys import constants as c

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_DEVICES: list[dict[str, Any]] = [
    {"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
    {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5},
    {"path": "/dev/full", "type": "c", "major": 1, "minor": 7},
    {"path": "/dev/random", "type": "c", "major": 1, "minor": 8},
    {"path": "/dev/urandom", "type": "c", "major": 1, "minor": 9},
    {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0},
]

_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def create_default(sc: Syscalls, rootfs: str, spec_devices: list[dict[str, Any]], *,
                   in_userns: bool = False) -> None:
    os.makedirs(os.path.join(rootfs, "dev"), 0o755, exist_ok=True)
    wanted = {d["path"] for d in spec_devices}
    for dev in DEFAULT_DEVICES:
        if dev["path"] not in wanted:
            create_device(sc, rootfs, dev, in_userns=in_userns)
    create_spec_devices(sc, rootfs, spec_devices, in_userns=in_userns)


def create_spec_devices(sc: Syscalls, rootfs: str, spec_devices: list[dict[str, Any]], *,
                        in_userns: bool = False) -> None:
    for dev in spec_devices:
        create_device(sc, rootfs, dev, in_userns=in_userns)


def create_device(sc: Syscalls, rootfs: str, dev: dict[str, Any], *,
                  in_userns: bool = False) -> None:
    path = secure_join(rootfs, dev["path"])
    if os.path.dirname(path) != rootfs:
        os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    if in_userns:
        # mknod is refused in a user namespace: bind the host's node instead.
        _bind_host_device(sc, rootfs, dev, path)
        return
    mode = dev.get("fileMode", 0o666) & 0o7777
    number = os.makedev(dev.get("major", 0), dev.get("minor", 0))
    if os.path.lexists(path):
        os.unlink(path)
    try:
        sc.mknod(path, _TYPES[dev["type"]] | mode, number)
    except PermissionError:
        _bind_host_device(sc, rootfs, dev, path)
        return
    # mknod's mode is filtered by the umask; chmod sets it exactly.
    os.chmod(path, mode)
    if "uid" in dev or "gid" in dev:
        os.lchown(path, dev.get("uid", 0), dev.get("gid", 0))


def _bind_host_device(sc: Syscalls, rootfs: str, dev: dict[str, Any], path: str) -> None:
    from pycri.runtime.oci.rootfs import make_target, mount_in

    make_target(path, False)
    mount_in(sc, rootfs, path, dev["path"], "bind", c.MS_BIND, what=dev["path"])


def create_links(rootfs: str) -> None:
    links = [("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"),
             ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr")]
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "core"))
    dev = secure_join(rootfs, "/dev")
    for target, name in links:
        path = os.path.join(dev, name)
        if not os.path.lexists(path):
            os.symlink(target, path)
    ptmx = os.path.join(dev, "ptmx")
    # The container's own devpts instance must serve its ptys, not the host's.
    if os.path.lexists(ptmx) and not os.path.islink(ptmx):
        os.unlink(ptmx)
    if not os.path.lexists(ptmx):
        os.symlink("pts/ptmx", ptmx)
