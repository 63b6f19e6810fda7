"""Resolving a path inside the rootfs without letting symlinks lead out of it.

Every component is walked by hand: a symlink's target is re-rooted at the rootfs (an
absolute link means rootfs-relative, `..` stops at the rootfs), so a container image
cannot aim a mount at the host (the CVE-2021-30465 class). The caller then opens the
result with O_PATH|O_NOFOLLOW and mounts on /proc/self/fd/N after checking it again.
"""

from __future__ import annotations

import os
import stat

_MAX_LINKS = 255


def secure_join(root: str, unsafe: str) -> str:
    """Return `root`+`unsafe` with every symlink resolved inside `root`."""
    root = os.path.abspath(root)
    parts = [p for p in unsafe.split("/") if p]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            done.append(part)
            continue
        if not stat.S_ISLNK(st.st_mode):
            done.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(40, f"resolve `{unsafe}` in `{root}`: too many symlinks", unsafe)
        target = os.readlink(candidate)
        if target.startswith("/"):
            done = []
        parts = [p for p in target.split("/") if p] + parts
    return os.path.join(root, *done) if done else root


def is_within(root: str, path: str) -> bool:
    root = root.rstrip("/") or "/"
    return root == "/" or path == root or path.startswith(root + "/")


def check_fd_within(root: str, fd: int, what: str) -> None:
    """After opening with O_PATH, make sure the object really is inside `root`."""
    real = os.readlink(f"/proc/self/fd/{fd}")
    if not is_within(os.path.realpath(root), real):
        raise OSError(1, f"mount target `{what}` escapes the rootfs (now `{real}`)", what)
