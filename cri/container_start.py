"""StartContainer: release the parked init in the shim → RUNNING."""

from __future__ import annotations

import logging
from typing import Any

from pycri.api.cri import pb
from pycri.cri.context import RuntimeContext
from pycri.cri.errors import FailedPrecondition
from pycri.cri.records import ContainerState, now_ns

log = logging.getLogger(__name__)


async def start(rt: RuntimeContext, request: Any, context: Any) -> Any:
    record = rt.state.container(request.container_id)
    async with rt.state.lock(record.id):
        if not record.state.can_start():
            raise FailedPrecondition(
                f"start container `{record.id}`: it is {record.state.value}, not created"
            )
        pid = await rt.pods.client(record.sandbox_id).start(record.id)
        # The exit watcher may already have seen a very short-lived process finish.
        if record.state == ContainerState.CREATED:
            record.state = ContainerState.RUNNING
        record.status.pid = pid
        record.status.started_at = record.status.started_at or now_ns()
        await rt.state.save_container(record)
    log.info("container started container_id=%s pid=%d", record.id, pid)
    rt.events.container_changed(record, "started")
    return pb.StartContainerResponse()
