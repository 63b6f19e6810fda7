"""Mounting a container's overlay rootfs from the snapshotter's description."""

from __future__ import annotations

import errno
import os
from typing import Any

from pycri.runtime import sys as kernel

MNT_DETACH = 2


def mount_rootfs(mounts: Any, target: str) -> None:
    os.makedirs(target, mode=0o755, exist_ok=True)
    kernel.mount(mounts.source, target, mounts.type, 0, mounts.data())


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n") \
        .replace("\\134", "\\")


def is_mounted(target: str) -> bool:
    """From the mount table: os.path.ismount misses bind mounts within one filesystem."""
    path = os.path.realpath(target)
    with open("/proc/self/mountinfo") as table:
        return any(_unescape(line.split()[4]) == path for line in table)


def unmount_rootfs(target: str) -> None:
    """Idempotent: unmount everything stacked on `target`; nothing mounted there is fine."""
    while is_mounted(target):
        try:
            kernel.umount2(target, MNT_DETACH)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOENT):
                return
            raise
