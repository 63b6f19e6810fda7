"""RemoveContainer: kill if running, delete in the shim, unmount, drop layer and record."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from pycri.api.cri import pb
from pycri.cri import image_volumes, rootfs
from pycri.cri.container_stop import stop_record
from pycri.cri.context import RuntimeContext
from pycri.cri.records import ContainerRecord
from pycri.runtime.task.errors import NotFound as ShimNotFound
from pycri.runtime.task.errors import ShimGone

log = logging.getLogger(__name__)


async def remove(rt: RuntimeContext, request: Any, context: Any) -> Any:
    record = rt.state.find_container(request.container_id)
    if record is not None:
        await remove_record(rt, record)
    return pb.RemoveContainerResponse()


async def remove_record(rt: RuntimeContext, record: ContainerRecord) -> None:
    async with rt.state.lock(record.id):
        if record.id not in rt.state.containers:
            return
        await stop_record(rt, record, timeout=0)
        with contextlib.suppress(ShimNotFound, ShimGone):
            await rt.pods.tasks.delete(record.sandbox_id, record.id, force=True)
        bundle = record.status.bundle
        volumes: list[int] = []
        if bundle:
            volumes = image_volumes.indexes(Path(bundle))
            await rt.to_thread(image_volumes.release_all, Path(bundle))
            await rt.to_thread(rootfs.unmount_rootfs, os.path.join(bundle, "rootfs"))
            await rt.to_thread(shutil.rmtree, bundle, True)
        await rt.to_thread(rt.images.snapshotter.remove, record.id)
        for index in volumes:
            await rt.to_thread(rt.images.snapshotter.remove,
                               image_volumes.volume_key(record.id, index))
        await rt.state.drop_container(record)
    log.info("container removed container_id=%s", record.id)
    rt.events.container_changed(record, "deleted")

