"""One image pull: resolve → manifest → config → layers (download + unpack) → record.

Concurrent pulls share work: one download per blob digest and one unpack per chain ID in
this process, whoever asked first; the others await the same task. Layers download in
parallel (bounded) and each unpacks as soon as its blob is complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pycri.cri.errors import FailedPrecondition
from pycri.cri.images import hosts, media
from pycri.cri.images.auth import Credentials
from pycri.cri.images.config import ImageConfig
from pycri.cri.images.content import ContentStore, DigestMismatch
from pycri.cri.images.gate import PullGate
from pycri.cri.images.records import DIGEST, TAG, ImageRecord, ImageStore, NewImage
from pycri.cri.images.reference import Reference
from pycri.cri.images.registry import ClientPool, Manifest, RegistryClient
from pycri.cri.images.snapshots import Snapshotter
from pycri.cri.images.streaming_unpack import StreamBroken, StreamingUnpack
from pycri.cri.images.unpack import MissingLinkTarget, apply_layer

log = logging.getLogger(__name__)

T = TypeVar("T")

CONFIG_MEDIA_TYPES = frozenset({media.OCI_CONFIG, media.DOCKER_CONFIG})


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    chains: list[str] = []
    for diff_id in diff_ids:
        if not chains:
            chains.append(diff_id)
        else:
            joined = f"{chains[-1]} {diff_id}".encode()
            chains.append("sha256:" + hashlib.sha256(joined).hexdigest())
    return chains


@dataclass
class Leases:
    """What in-flight pulls are using, so GC leaves it alone."""

    digests: dict[str, int] = field(default_factory=dict)
    chains: dict[str, int] = field(default_factory=dict)

    def take(self, digests: list[str], chains: list[str]) -> None:
        for key in digests:
            self.digests[key] = self.digests.get(key, 0) + 1
        for key in chains:
            self.chains[key] = self.chains.get(key, 0) + 1

    def give(self, digests: list[str], chains: list[str]) -> None:
        for table, keys in ((self.digests, digests), (self.chains, chains)):
            for key in keys:
                table[key] -= 1
                if not table[key]:
                    del table[key]


class Shared:
    """In-process de-duplication: one task per key, awaited by every caller.

    One caller giving up does not cancel the work the others wait for. With
    `cancel_abandoned`, the work is cancelled (and its cleanup awaited) once its last caller
    has gone; without it, it runs to the end so a retry finds the result.
    """

    def __init__(self, cancel_abandoned: bool = True) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._waiters: dict[str, int] = {}
        self._cancel_abandoned = cancel_abandoned

    def running(self, key: str) -> bool:
        return key in self._tasks

    async def run(self, key: str, factory: Callable[[], Awaitable[T]]) -> T:
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(factory())
            self._tasks[key] = task
            task.add_done_callback(lambda _t: self._forget(key, _t))
        self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            result: T = await asyncio.shield(task)
            return result
        except asyncio.CancelledError:
            if self._cancel_abandoned and self._waiters.get(key) == 1 and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            raise
        finally:
            self._waiters[key] -= 1
            if not self._waiters[key]:
                del self._waiters[key]

    def _forget(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]


class Puller:
    def __init__(
        self,
        config: ImageConfig,
        content: ContentStore,
        snapshotter: Snapshotter,
        images: ImageStore,
        pool: ClientPool,
    ) -> None:
        self.config = config
        self.content = content
        self.snapshotter = snapshotter
        self.images = images
        self.pool = pool
        self.leases = Leases()
        self._downloads = asyncio.Semaphore(config.max_concurrent_downloads)
        self._unpacks = asyncio.Semaphore(config.max_concurrent_unpacks)
        self._blobs = Shared()
        self._layers = Shared()
        self._pulls = Shared(cancel_abandoned=False)
        self.platform = config.target_platform()
        self.gate = PullGate()

    async def pull(self, ref: Reference, creds: Credentials) -> ImageRecord:
        key = f"{ref}|{hash(creds)}"
        return await self._pulls.run(key, lambda: self._pull(ref, creds))

    async def _pull(self, ref: Reference, creds: Credentials) -> ImageRecord:
        async with self.gate.pulling():
            return await self._pull_locked(ref, creds)

    async def _pull_locked(self, ref: Reference, creds: Credentials) -> ImageRecord:
        started = time.monotonic()
        log.debug("pull started ref=%s", ref)
        host_config = await asyncio.to_thread(
            hosts.load, ref.domain, self.config.registry_config_dir
        )
        client = RegistryClient(ref, host_config, creds, self.pool)
        top = await client.resolve()
        index_digest = ""
        manifest = top
        if top.media_type in media.INDEXES:
            index_digest = top.digest
            chosen = media.choose_manifest(top.json(), self.platform, str(ref))
            manifest = await client.fetch_manifest(chosen["digest"])
            if manifest.media_type not in media.MANIFESTS:
                raise FailedPrecondition(
                    f"pull image `{ref}`: index entry `{chosen['digest']}` is not a manifest"
                )
        body = manifest.json()
        config_desc = body.get("config") or {}
        layer_descs: list[dict[str, Any]] = body.get("layers") or []
        if config_desc.get("mediaType") not in CONFIG_MEDIA_TYPES:
            raise FailedPrecondition(
                f"pull image `{ref}`: config media type `{config_desc.get('mediaType')}` "
                "is not a container image"
            )
        digests = [top.digest, manifest.digest, config_desc["digest"]]
        digests += [d["digest"] for d in layer_descs]
        self.leases.take(digests, [])
        chains: list[str] = []
        try:
            config_bytes = await self._config(client, config_desc)
            image_config = json.loads(config_bytes)
            diff_ids: list[str] = (image_config.get("rootfs") or {}).get("diff_ids") or []
            if len(diff_ids) != len(layer_descs):
                raise FailedPrecondition(
                    f"pull image `{ref}`: manifest has {len(layer_descs)} layers but the "
                    f"config lists {len(diff_ids)} diff IDs"
                )
            chains = chain_ids(diff_ids)
            self.leases.take([], chains)
            await self._layers_of(client, layer_descs, diff_ids, chains)
            for stored in (top, manifest):
                await asyncio.to_thread(self.content.put, stored.digest, stored.data)
            names = [(ref.with_digest(top.digest), DIGEST)]
            if ref.tag:
                names.append((ref.tagged(), TAG))
            size = int(config_desc.get("size", len(config_bytes)))
            size += sum(int(d.get("size", 0)) for d in layer_descs)
            record = await asyncio.to_thread(self.images.add, NewImage(
                id=config_desc["digest"],
                manifest_digest=manifest.digest,
                index_digest=index_digest,
                config=config_bytes,
                size=size,
                chain_ids=chains,
                content=sorted(set(digests)),
                names=names,
            ))
        finally:
            self.leases.give(digests, chains)
        log.info("pulled image ref=%s id=%s layers=%d duration_s=%.2f", ref, record.id,
                 len(layer_descs), time.monotonic() - started)
        return record

    async def _config(self, client: RegistryClient, desc: dict[str, Any]) -> bytes:
        digest = desc["digest"]
        if await asyncio.to_thread(self.content.has, digest):
            return await asyncio.to_thread(self.content.read, digest)
        data = await client.fetch_small_blob(digest)
        if int(desc.get("size", len(data))) != len(data):
            raise DigestMismatch(f"pull image `{client.ref}`: config `{digest}` has "
                                 f"{len(data)} bytes, manifest says {desc.get('size')}")
        await asyncio.to_thread(self.content.put, digest, data)
        return data

    async def _layers_of(
        self,
        client: RegistryClient,
        descs: list[dict[str, Any]],
        diff_ids: list[str],
        chains: list[str],
    ) -> None:
        for desc in descs:
            media.compression_of(desc.get("mediaType", ""))
        done: list[asyncio.Future[None]] = []
        for i, desc in enumerate(descs):
            done.append(asyncio.ensure_future(self._layer(client, desc, diff_ids, chains, i, done)))
        try:
            await asyncio.gather(*done)
        except BaseException:
            for future in done:
                future.cancel()
            await asyncio.gather(*done, return_exceptions=True)
            raise

    async def _layer(
        self,
        client: RegistryClient,
        desc: dict[str, Any],
        diff_ids: list[str],
        chains: list[str],
        i: int,
        done: list[asyncio.Future[None]],
    ) -> None:
        chain = chains[i]
        if await asyncio.to_thread(self.snapshotter.layer_dir, chain) is not None:
            return
        digest = desc["digest"]

        async def build() -> None:
            if await asyncio.to_thread(self.snapshotter.layer_dir, chain) is not None:
                return
            streamed = False
            if not self._blobs.running(digest) and not self.content.has(digest):
                target = _StreamTarget(chain, chains[i - 1] if i else "", diff_ids[i],
                                       media.compression_of(desc.get("mediaType", "")))
                streamed = await self._blobs.run(
                    digest, lambda: self._download(client, desc, target))
            else:
                await self._blob(client, desc)
            if not streamed:
                await self._unpack(desc, diff_ids[i], chains, i, done)

        await self._layers.run(chain, build)

    async def _blob(self, client: RegistryClient, desc: dict[str, Any]) -> None:
        await self._blobs.run(desc["digest"], lambda: self._download(client, desc, None))

    async def _download(
        self, client: RegistryClient, desc: dict[str, Any], target: _StreamTarget | None
    ) -> bool:
        """Fetch a blob into the content store; True when it was also unpacked on the way."""
        digest = desc["digest"]
        if await asyncio.to_thread(self.content.has, digest):
            return False
        async with self._downloads:
            ingest = await asyncio.to_thread(self.content.ingest, digest, int(desc["size"]))
            unpacker: StreamingUnpack | None = None
            if target is not None and ingest.offset == 0:
                fs = await asyncio.to_thread(
                    self.snapshotter.begin_layer, target.chain, target.parent, target.diff_id)
                unpacker = StreamingUnpack(target.compression, fs)
            try:
                await client.fetch_blob(digest, ingest, unpacker)
                await asyncio.to_thread(ingest.commit)
            except BaseException as exc:
                # A mismatch is garbage; anything else keeps the bytes for a resume.
                ingest.abort(keep=not isinstance(exc, DigestMismatch))
                if unpacker is not None and target is not None:
                    await asyncio.shield(self._drop_stream(unpacker, target))
                raise
        if unpacker is None or target is None:
            return False
        return await self._finish_stream(unpacker, target)

    async def _finish_stream(self, unpacker: StreamingUnpack, target: _StreamTarget) -> bool:
        try:
            stats = await asyncio.to_thread(unpacker.finish)
            if stats.diff_id != target.diff_id:
                raise DigestMismatch(f"unpack layer `{target.chain}`: uncompressed digest "
                                     f"`{stats.diff_id}` is not the config's `{target.diff_id}`")
        except (StreamBroken, MissingLinkTarget):
            # Unpack again from the stored blob (with the parents, for a hardlink into them).
            await asyncio.to_thread(self.snapshotter.abort_layer, target.chain)
            return False
        except BaseException:
            await asyncio.shield(asyncio.to_thread(self.snapshotter.abort_layer, target.chain))
            raise
        await asyncio.to_thread(self.snapshotter.commit_layer, target.chain, stats.size,
                                stats.inodes)
        return True

    async def _drop_stream(self, unpacker: StreamingUnpack, target: _StreamTarget) -> None:
        await asyncio.to_thread(unpacker.abort)
        await asyncio.to_thread(self.snapshotter.abort_layer, target.chain)

    async def _unpack(
        self,
        desc: dict[str, Any],
        diff_id: str,
        chains: list[str],
        i: int,
        done: list[asyncio.Future[None]],
    ) -> None:
        chain = chains[i]
        if await asyncio.to_thread(self.snapshotter.layer_dir, chain) is not None:
            return
        compression = media.compression_of(desc.get("mediaType", ""))
        blob = self.content.blob_path(desc["digest"])
        parent = chains[i - 1] if i else ""
        async with self._unpacks:
            try:
                stats = await self._apply(chain, parent, diff_id, blob, compression, [])
            except _NeedsLowers:
                # A hardlink into a parent layer: unpack again once the parents are in.
                await asyncio.gather(*done[:i])
                lowers = [await asyncio.to_thread(self.snapshotter.layer_dir, c)
                          for c in reversed(chains[:i])]
                stats = await self._apply(chain, parent, diff_id, blob, compression,
                                          [p for p in lowers if p is not None])
        log.debug("layer unpacked chain_id=%s size=%d inodes=%d", chain, stats[0], stats[1])

    async def _apply(self, chain: str, parent: str, diff_id: str, blob: Any, compression: str,
                     lowers: list[Any]) -> tuple[int, int]:
        fs = await asyncio.to_thread(self.snapshotter.begin_layer, chain, parent, diff_id)
        try:
            stats = await asyncio.to_thread(apply_layer, blob, compression, fs, lowers)
            if stats.diff_id != diff_id:
                raise DigestMismatch(f"unpack layer `{blob.name}`: uncompressed digest "
                                     f"`{stats.diff_id}` is not the config's `{diff_id}`")
        except MissingLinkTarget as exc:
            await asyncio.to_thread(self.snapshotter.abort_layer, chain)
            if not lowers:
                raise _NeedsLowers() from exc
            raise
        except BaseException:
            await asyncio.shield(asyncio.to_thread(self.snapshotter.abort_layer, chain))
            raise
        await asyncio.to_thread(self.snapshotter.commit_layer, chain, stats.size, stats.inodes)
        return stats.size, stats.inodes


class _NeedsLowers(Exception):
    pass


@dataclass(frozen=True)
class _StreamTarget:
    """Where a layer downloaded for the first time gets unpacked while it arrives."""

    chain: str
    parent: str
    diff_id: str
    compression: str


__all__ = ["Manifest", "Puller", "chain_ids"]
