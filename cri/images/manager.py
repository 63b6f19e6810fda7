"""The image subsystem as one object: pull, find, remove, garbage-collect, usage.

`ImageManager` wires the content store, snapshotter, image records and puller together;
the gRPC ImageService and the container side (CreateContainer) both go through it.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from dataclasses import dataclass

from pycri.cri.images import reference
from pycri.cri.images.auth import Credentials
from pycri.cri.images.config import ImageConfig
from pycri.cri.images.content import ContentStore
from pycri.cri.images.gc import collect
from pycri.cri.images.pull import Puller
from pycri.cri.images.records import ImageRecord, ImageStore
from pycri.cri.images.registry import ClientPool
from pycri.cri.images.snapshots import Snapshotter, tree_usage
from pycri.cri.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FsUsage:
    mountpoint: str
    used_bytes: int
    inodes_used: int
    timestamp_ns: int


class ImageManager:
    def __init__(self, store: Store, config: ImageConfig) -> None:
        self.config = config
        self.store = store
        self.content = ContentStore(config.content_root)
        self.snapshotter = Snapshotter(store, config.snapshots_root)
        self.images = ImageStore(store, self.snapshotter)
        self.pool = ClientPool(config.pull_progress_timeout)
        self.puller = Puller(config, self.content, self.snapshotter, self.images, self.pool)
        self._fs_cache: tuple[float, builtins.list[FsUsage], builtins.list[FsUsage]] | None = None
        self._recovered = False

    def recover(self) -> None:
        """On daemon start, before any pull: drop leftovers of an interrupted run."""
        self.content.clean_ingest()
        self.snapshotter.recover()
        self._recovered = True

    async def start(self) -> None:
        await asyncio.to_thread(self.recover)
        await self.gc()

    async def close(self) -> None:
        await self.pool.aclose()

    async def pull(self, ref_text: str, creds: Credentials | None = None) -> ImageRecord:
        ref = reference.parse(ref_text)
        return await self.puller.pull(ref, creds or Credentials())

    async def find(self, ref_or_id: str) -> ImageRecord | None:
        return await asyncio.to_thread(self.images.find, ref_or_id)

    async def resolve(self, ref_or_id: str) -> ImageRecord:
        return await asyncio.to_thread(self.images.resolve, ref_or_id)

    async def list(self) -> list[ImageRecord]:
        return await asyncio.to_thread(self.images.list)

    async def remove(self, ref_or_id: str) -> bool:
        """Remove the image a name or ID points at, with all its names; False when absent.

        A container already running on it keeps its layers: its snapshot references them,
        and GC follows those references.
        """
        record = await self.find(ref_or_id)
        if record is None:
            return False
        removed = await asyncio.to_thread(self.images.remove, record.id)
        users = await asyncio.to_thread(self.images.users, record.id)
        log.info("removed image id=%s names=%s users=%d", record.id,
                 ",".join(record.repo_tags + record.repo_digests), len(users))
        await self.gc()
        return removed

    async def gc(self) -> None:
        async with self.puller.gate.collecting():
            await asyncio.to_thread(
                collect, self.store, self.content, self.snapshotter, self.puller.leases
            )
        self._fs_cache = None

    async def fs_usage(self) -> tuple[builtins.list[FsUsage], builtins.list[FsUsage]]:
        """(image filesystems, container filesystems), cached for a few seconds."""
        now = time.monotonic()
        cached = self._fs_cache
        if cached is not None and now - cached[0] < self.config.fs_info_cache_s:
            return cached[1], cached[2]
        images, containers = await asyncio.to_thread(self._measure)
        self._fs_cache = (now, images, containers)
        return images, containers

    def _measure(self) -> tuple[builtins.list[FsUsage], builtins.list[FsUsage]]:
        stamp = time.time_ns()
        layer_bytes, layer_inodes = self.snapshotter.usage_total()
        blob_bytes, blob_inodes = self.content.usage()
        image_fs = FsUsage(str(self.config.snapshots_root), layer_bytes + blob_bytes,
                           layer_inodes + blob_inodes, stamp)
        upper_bytes = upper_inodes = 0
        for info in self.snapshotter.list():
            if info.kind == "active":
                used, inodes = tree_usage(self.snapshotter.dir_of(info.n) / "fs")
                upper_bytes += used
                upper_inodes += inodes
        container_fs = FsUsage(str(self.config.snapshots_root), upper_bytes, upper_inodes, stamp)
        return [image_fs], [container_fs]
