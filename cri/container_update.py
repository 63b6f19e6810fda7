"""UpdateContainerResources and ReopenContainerLog."""

from __future__ import annotations

import logging
from typing import Any

from pycri.api.cri import pb
from pycri.cri.context import RuntimeContext
from pycri.cri.errors import FailedPrecondition
from pycri.cri.records import ContainerState
from pycri.cri.specgen.resources import cri_resources_dict, oci_resources

log = logging.getLogger(__name__)


async def update_resources(rt: RuntimeContext, request: Any, context: Any) -> Any:
    record = rt.state.container(request.container_id)
    async with rt.state.lock(record.id):
        if record.state not in (ContainerState.CREATED, ContainerState.RUNNING):
            raise FailedPrecondition(
                f"update container `{record.id}`: it is {record.state.value}"
            )
        resources = oci_resources(request.linux)
        await rt.pods.client(record.sandbox_id).update(record.id, resources)
        record.status.resources = cri_resources_dict(resources, request.linux.oom_score_adj)
        await rt.state.save_container(record)
    log.info("container resources updated container_id=%s", record.id)
    return pb.UpdateContainerResourcesResponse()


async def reopen_log(rt: RuntimeContext, request: Any, context: Any) -> Any:
    record = rt.state.container(request.container_id)
    if record.state != ContainerState.RUNNING:
        raise FailedPrecondition(f"reopen log of container `{record.id}`: it is not running")
    await rt.pods.client(record.sandbox_id).reopen_log(record.id)
    return pb.ReopenContainerLogResponse()
