"""Mounting the cgroup filesystem inside the container (a `cgroup` mount in the spec).

On cgroup v2 hosts the container gets a cgroup2 mount (scoped by its cgroup namespace, or
its own cgroup bound when there is none). On v1 hosts it gets a tmpfs with each host
hierarchy's container cgroup bound at the usual place, as runc does.
"""

from __future__ import annotations

import os

from pycri.runtime.oci.mountopts import MountOptions
from pycri.runtime.sys import Syscalls
from pycri.runtime.sys import constants as c


def is_unified(root: str = "/sys/fs/cgroup") -> bool:
    try:
        return _fstype(root) == "cgroup2"
    except OSError:
        return False


def _fstype(path: str) -> str:
    best = ("", "")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mnt = fields[4]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[0]):
                sep = fields.index("-")
                best = (mnt, fields[sep + 1])
    return best[1]


def v1_hierarchies() -> list[tuple[str, str]]:
    """(mountpoint, root-in-hierarchy) of every host cgroup v1 mount."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] == "cgroup":
                out.append((fields[4], fields[3]))
    return out


_remembered: dict[str, str] | None = None


def remember_own() -> None:
    """Read our cgroups before a new cgroup namespace re-roots /proc/self/cgroup at "/"."""
    global _remembered
    _remembered = None
    _remembered = own_cgroups()


def own_cgroups() -> dict[str, str]:
    """controller(s) -> path of this process, from /proc/self/cgroup."""
    if _remembered is not None:
        return _remembered
    out: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            out[ctrls] = path
    return out


def mount_cgroup(sc: Syscalls, rootfs: str, dest: str, dest_rel: str, opts: MountOptions, *,
                 in_userns: bool = False) -> None:
    from pycri.runtime.oci.rootfs import mount_in

    flags = opts.flags & ~(c.MS_BIND | c.MS_REC | c.MS_REMOUNT)
    if is_unified():
        try:
            mount_in(sc, rootfs, dest, "cgroup2", "cgroup2", flags, what=dest_rel)
        except PermissionError:
            unified_path = own_cgroups().get("", "/")
            mount_in(sc, rootfs, dest, "/sys/fs/cgroup" + unified_path, "bind",
                     c.MS_BIND | c.MS_REC, what=dest_rel)
        return
    mount_in(sc, rootfs, dest, "tmpfs", "tmpfs", c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC,
             "mode=755", what=dest_rel)
    own = own_cgroups()
    for mnt, hroot in v1_hierarchies():
        name = os.path.basename(mnt)
        sub = os.path.join(dest, name)
        os.makedirs(sub, 0o755, exist_ok=True)
        path = next((p for k, p in own.items() if name in k.split(",")
                     or k == f"name={name}"), "/")
        rel = os.path.relpath(path, hroot) if path.startswith(hroot) else path.lstrip("/")
        src = os.path.normpath(os.path.join(mnt, rel))
        mount_in(sc, rootfs, sub, src, "bind", c.MS_BIND | c.MS_REC, what=f"{dest_rel}/{name}")
        mount_in(sc, rootfs, sub, None, None,
                 c.MS_BIND | c.MS_REMOUNT | flags | c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC,
                 what=f"{dest_rel}/{name}")
    if flags & c.MS_RDONLY:
        mount_in(sc, rootfs, dest, None, None, c.MS_REMOUNT | flags | c.MS_NOSUID | c.MS_NODEV
                 | c.MS_NOEXEC, "mode=755", what=dest_rel)
