"""StopPodSandbox: stop the pod's containers, detach it from the network; keep the record."""

from __future__ import annotations

import logging
from typing import Any

from pycri.api.cri import pb
from pycri.cri.context import RuntimeContext
from pycri.cri.records import SandboxRecord, SandboxState

log = logging.getLogger(__name__)


async def stop(rt: RuntimeContext, request: Any, context: Any) -> Any:
    record = rt.state.find_sandbox(request.pod_sandbox_id)
    if record is not None:
        async with rt.state.lock(record.id):
            await stop_record(rt, record)
    return pb.StopPodSandboxResponse()


async def stop_record(rt: RuntimeContext, record: SandboxRecord) -> None:
    """Idempotent: every step checks whether it is still needed."""
    from pycri.cri import container_stop

    for container in rt.state.containers_of(record.id):
        await container_stop.stop_record(rt, container, timeout=0)
    status = record.status
    if status.network_attached:
        await rt.network.teardown_pod(record.id, status.netns_path, name=record.name,
                                      namespace=record.namespace, uid=record.uid)
        status.network_attached = False
        await rt.state.save_sandbox(record)
    if record.state != SandboxState.NOTREADY:
        record.state = SandboxState.NOTREADY
        await rt.state.save_sandbox(record)
        log.info("pod sandbox stopped pod_id=%s", record.id)
        rt.events.sandbox_changed(record)
