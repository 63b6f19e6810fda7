"""Image volumes: an image's filesystem mounted read-only into a container (Mount.image)."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Any

from pycri.cri.errors import InvalidArgument
from pycri.cri.rootfs import unmount_rootfs
from pycri.runtime import sys as kernel

MS_RDONLY = 1
VOLUMES_DIR = "imagevols"


def volume_key(container_id: str, index: int) -> str:
    """The snapshot key of a container's image volume: GC keeps its layers while it lives."""
    return f"{container_id}.vol{index}"


def indexes(bundle: Path) -> list[int]:
    try:
        return sorted(int(p.name) for p in (bundle / VOLUMES_DIR).iterdir() if p.name.isdigit())
    except FileNotFoundError:
        return []


def prepare(bundle: Path, index: int, mounts: Any, image_id: str, sub_path: str) -> str:
    """Mount the image's snapshot read-only under the bundle; returns the host path to bind."""
    target = bundle / VOLUMES_DIR / str(index)
    os.makedirs(target, mode=0o755, exist_ok=True)
    kernel.mount(mounts.source, str(target), mounts.type, MS_RDONLY, mounts.data())
    if not sub_path:
        return str(target)
    source = os.path.normpath(os.path.join(target, sub_path.lstrip("/")))
    if not source.startswith(str(target) + os.sep) or not os.path.exists(source):
        with contextlib.suppress(OSError):
            unmount_rootfs(str(target))
        raise InvalidArgument(
            f"image volume `{image_id}`: sub path `{sub_path}` does not exist in the image"
        )
    return source


def release_all(bundle: Path) -> None:
    """Idempotent: unmount every image volume of the bundle."""
    directory = bundle / VOLUMES_DIR
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            unmount_rootfs(str(entry))
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
