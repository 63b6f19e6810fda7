"""The CRI ImageService: PullImage, ImageStatus, ListImages, RemoveImage, ImageFsInfo.

Handlers raise pycri.cri.errors; the daemon's rpc wrapper maps them to status codes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from pycri.api.cri import pb, pb_grpc
from pycri.cri.errors import InvalidArgument
from pycri.cri.images.auth import Credentials
from pycri.cri.images.config import ImageConfig
from pycri.cri.images.manager import FsUsage, ImageManager
from pycri.cri.images.records import ImageRecord
from pycri.cri.store import Store

log = logging.getLogger(__name__)

# StreamImages sends the list in pieces of this many images.
STREAM_CHUNK = 100


class ImageService(pb_grpc.ImageServiceServicer):
    def __init__(self, store: Store, config: ImageConfig) -> None:
        self.manager = ImageManager(store, config)

    async def start(self) -> None:
        """Recover from an interrupted run (ingest files, half-unpacked layers), then GC."""
        await self.manager.start()

    async def close(self) -> None:
        await self.manager.close()

    async def PullImage(self, request: Any, context: Any) -> Any:
        name = _image_name(request.image, "pull image")
        creds = Credentials.from_auth_config(request.auth if request.HasField("auth") else None)
        record = await self.manager.pull(name, creds)
        return pb.PullImageResponse(image_ref=record.id)

    async def ImageStatus(self, request: Any, context: Any) -> Any:
        name = _image_name(request.image, "get image status")
        record = await self.manager.find(name)
        if record is None:
            return pb.ImageStatusResponse()
        info = {}
        if request.verbose:
            info["info"] = json.dumps({
                "chainID": record.chain_ids[-1] if record.chain_ids else "",
                "manifestDigest": record.manifest_digest,
                "imageSpec": record.config,
                "layerDirs": [str(p) for p in record.layer_dirs],
            })
        return pb.ImageStatusResponse(image=to_pb(record), info=info)

    async def ListImages(self, request: Any, context: Any) -> Any:
        wanted = request.filter.image.image if request.HasField("filter") else ""
        if wanted:
            record = await self.manager.find(wanted)
            records = [record] if record is not None else []
        else:
            records = await self.manager.list()
        return pb.ListImagesResponse(images=[to_pb(r) for r in records])

    async def StreamImages(self, request: Any, context: Any) -> AsyncIterator[Any]:
        flt = request.filter if request.HasField("filter") else None
        images = list((await self.ListImages(pb.ListImagesRequest(filter=flt), context)).images)
        for start in range(0, max(len(images), 1), STREAM_CHUNK):
            yield pb.StreamImagesResponse(images=images[start:start + STREAM_CHUNK])

    async def RemoveImage(self, request: Any, context: Any) -> Any:
        name = _image_name(request.image, "remove image")
        await self.manager.remove(name)
        return pb.RemoveImageResponse()

    async def ImageFsInfo(self, request: Any, context: Any) -> Any:
        images, containers = await self.manager.fs_usage()
        return pb.ImageFsInfoResponse(
            image_filesystems=[_usage(u) for u in images],
            container_filesystems=[_usage(u) for u in containers],
        )


def to_pb(record: ImageRecord) -> Any:
    uid, username = record.uid_and_username()
    image = pb.Image(
        id=record.id,
        repo_tags=record.repo_tags,
        repo_digests=record.repo_digests,
        size=record.size,
        username=username,
        spec=pb.ImageSpec(image=record.id),
        pinned=record.pinned,
    )
    if uid is not None:
        image.uid.value = uid
    return image


def _usage(usage: FsUsage) -> Any:
    return pb.FilesystemUsage(
        timestamp=usage.timestamp_ns,
        fs_id=pb.FilesystemIdentifier(mountpoint=usage.mountpoint),
        used_bytes=pb.UInt64Value(value=usage.used_bytes),
        inodes_used=pb.UInt64Value(value=usage.inodes_used),
    )


def _image_name(spec: Any, what: str) -> str:
    name = str(spec.image) if spec is not None else ""
    if not name:
        raise InvalidArgument(f"{what}: no image given")
    return name
