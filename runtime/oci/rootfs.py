"""Building the container's filesystem view, run by the init in its new mount namespace.

Order (as runc): root propagation → bind the rootfs on itself → spec mounts → devices and
/dev links → (createContainer hooks) → pivot_root → readonly root. Masked and readonly
paths are applied after the pivot by `finalize`.
"""

from __future__ import annotations

import os
import stat

from pycri.runtime.oci import mountopts
from pycri.runtime.oci.lazylog import get_logger
from pycri.runtime.oci.securejoin import check_fd_within, secure_join
from pycri.runtime.sys import Syscalls
from pycri.runtime.sys import constants as c

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

log = get_logger(__name__)


def _open_target(rootfs: str, path: str, what: str) -> int:
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        check_fd_within(rootfs, fd, what)
    except BaseException:
        os.close(fd)
        raise
    return fd


def mount_in(sc: Syscalls, rootfs: str, dest: str, source: str | None, fstype: str | None,
             flags: int, data: str | None = None, *, what: str = "") -> None:
    """mount(2) onto `dest` (already resolved inside rootfs) through an O_PATH fd."""
    fd = _open_target(rootfs, dest, what or dest)
    try:
        sc.mount(source, f"/proc/self/fd/{fd}", fstype, flags, data)
    except OSError as exc:
        raise OSError(exc.errno, f"mount {fstype or source} on `{what or dest}`: "
                      f"{os.strerror(exc.errno or 0)}", what or dest) from exc
    finally:
        os.close(fd)


def make_target(path: str, is_dir: bool) -> None:
    """Create the mountpoint: a directory, or an empty file for file bind mounts."""
    if is_dir:
        os.makedirs(path, 0o755, exist_ok=True)
        return
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    if not os.path.lexists(path):
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def prepare(sc: Syscalls, spec: dict[str, Any], bundle: str, *, in_userns: bool = False,
            before_pivot: Callable[[], None] | None = None, no_pivot: bool = False,
            pivot: bool = True) -> None:
    linux = spec.get("linux") or {}
    rootfs = spec["root"]["path"]
    prop = linux.get("rootfsPropagation") or ""
    root_flags = mountopts.PROPAGATION.get(prop, c.MS_SLAVE | c.MS_REC)
    # Shared stays shared: the copies of the host's shared mounts must remain in their peer
    # groups for bidirectional mounts to reach the host.
    sc.mount(None, "/", None, root_flags)
    if root_flags & c.MS_SHARED:
        # pivot_root refuses a shared parent; only the rootfs's parent mount goes private.
        sc.mount(None, _mount_point_of(rootfs), None, c.MS_PRIVATE)
    sc.mount(rootfs, rootfs, "bind", c.MS_BIND | c.MS_REC)
    mounts = spec.get("mounts") or []
    for m in mounts:
        mount_entry(sc, rootfs, bundle, m, in_userns=in_userns)
    from pycri.runtime.oci import devices

    if not any(m["destination"] == "/dev" and _is_bind(m) for m in mounts):
        devices.create_default(sc, rootfs, linux.get("devices") or [], in_userns=in_userns)
        devices.create_links(rootfs)
    else:
        devices.create_spec_devices(sc, rootfs, linux.get("devices") or [], in_userns=in_userns)
    if before_pivot is not None:
        before_pivot()
    if pivot:
        enter_root(sc, rootfs, no_pivot=no_pivot)


def _mount_point_of(path: str) -> str:
    """The mount point that holds `path` (the longest mounted prefix)."""
    real = os.path.realpath(path)
    best = "/"
    with open("/proc/self/mountinfo") as table:
        for line in table:
            point = line.split()[4].replace("\\040", " ")
            inside = real == point or real.startswith(point.rstrip("/") + "/")
            if inside and len(point) > len(best):
                best = point
    return best


def _is_bind(m: dict[str, Any]) -> bool:
    return m.get("type") == "bind" or bool(
        {"bind", "rbind"} & set(m.get("options") or ()))


def mount_entry(sc: Syscalls, rootfs: str, bundle: str, m: dict[str, Any], *,
                in_userns: bool = False) -> None:
    opts = mountopts.parse(m.get("options"))
    fstype = m.get("type") or ""
    dest_rel = m["destination"]
    dest = secure_join(rootfs, dest_rel)
    if _is_bind(m):
        source = m.get("source") or ""
        if not source.startswith("/"):
            source = os.path.join(bundle, source)
        try:
            st = os.stat(source)
        except OSError as exc:
            raise OSError(exc.errno, f"bind mount `{source}` on `{dest_rel}`: source: "
                          f"{os.strerror(exc.errno or 0)}", source) from exc
        make_target(dest, stat.S_ISDIR(st.st_mode))
        flags = opts.flags | c.MS_BIND
        mount_in(sc, rootfs, dest, source, "bind", flags & (c.MS_BIND | c.MS_REC), what=dest_rel)
        extra = flags & ~(c.MS_BIND | c.MS_REC | c.MS_REMOUNT)
        if extra:
            # Bind mounts ignore most flags until remounted.
            locked = mountopts.locked_flags(source)
            mount_in(sc, rootfs, dest, None, None, c.MS_BIND | c.MS_REMOUNT | extra | locked,
                     what=dest_rel)
    elif fstype == "cgroup" or fstype == "cgroup2":
        make_target(dest, True)
        from pycri.runtime.oci import cgroupfs_mount

        cgroupfs_mount.mount_cgroup(sc, rootfs, dest, dest_rel, opts, in_userns=in_userns)
    else:
        make_target(dest, True)
        flags = opts.flags & ~c.MS_REMOUNT
        data = opts.data_str
        if fstype == "mqueue" or fstype == "sysfs" or fstype == "proc":
            data = None if fstype == "proc" and not data else data
        mount_in(sc, rootfs, dest, m.get("source") or fstype, fstype, flags, data, what=dest_rel)
    for p in opts.propagation:
        mount_in(sc, rootfs, dest, None, None, p, what=dest_rel)


def enter_root(sc: Syscalls, rootfs: str, *, no_pivot: bool = False) -> None:
    """Make rootfs the process's / and drop the host's view."""
    if no_pivot:
        os.chdir(rootfs)
        sc.mount(rootfs, "/", None, c.MS_MOVE)
        os.chroot(".")
        os.chdir("/")
        return
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        # pivot_root(".", ".") stacks the old root on top of the new one: no put_old
        # directory is needed in the image, and one detach unmounts the host view.
        os.fchdir(new)
        sc.pivot_root(".", ".")
        os.fchdir(old)
        sc.mount(None, ".", None, c.MS_SLAVE | c.MS_REC)
        sc.umount2(".", c.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old)
        os.close(new)


def finalize(sc: Syscalls, spec: dict[str, Any]) -> None:
    """After the pivot: readonly/masked paths, readonly root, final root propagation."""
    linux = spec.get("linux") or {}
    for path in linux.get("readonlyPaths") or ():
        readonly_path(sc, path)
    for path in linux.get("maskedPaths") or ():
        mask_path(sc, path, linux.get("mountLabel"))
    if spec["root"].get("readonly"):
        sc.mount(None, "/", None,
                 c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY | mountopts.locked_flags("/"))
    prop = linux.get("rootfsPropagation") or ""
    if mountopts.PROPAGATION.get(prop, 0) & c.MS_SHARED:
        sc.mount(None, "/", None, mountopts.PROPAGATION[prop])


def readonly_path(sc: Syscalls, path: str) -> None:
    try:
        sc.mount(path, path, None, c.MS_BIND | c.MS_REC)
    except FileNotFoundError:
        return
    sc.mount(None, path, None,
             c.MS_BIND | c.MS_REMOUNT | c.MS_RDONLY | c.MS_REC | mountopts.locked_flags(path))


def mask_path(sc: Syscalls, path: str, label: str | None = None) -> None:
    try:
        is_dir = stat.S_ISDIR(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return
    if is_dir:
        sc.mount("tmpfs", path, "tmpfs", c.MS_RDONLY, label and f"context={label}")
    else:
        sc.mount("/dev/null", path, None, c.MS_BIND)
