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


def unmount_rootfs(target: str) -> None:
    """Idempotent: nothing mounted there is fine."""
    while os.path.ismount(target):
        try:
            kernel.umount2(target, MNT_DETACH)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOENT):
                return
            raise
