"""PodSandboxStatus and ListPodSandbox."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from pycri.api.cri import pb
from pycri.cri import filters
from pycri.cri.context import RuntimeContext
from pycri.cri.records import SandboxRecord, SandboxState


def _state(record: SandboxRecord) -> Any:
    if record.state == SandboxState.READY:
        return pb.PodSandboxState.SANDBOX_READY
    return pb.PodSandboxState.SANDBOX_NOTREADY


def _config(record: SandboxRecord) -> Any:
    return pb.PodSandboxConfig.FromString(record.config)


def to_status(record: SandboxRecord) -> Any:
    config = _config(record)
    network = pb.PodSandboxNetworkStatus()
    if not record.status.host_network and record.status.ip:
        network.ip = record.status.ip
        network.additional_ips.extend(pb.PodIP(ip=ip) for ip in record.status.additional_ips)
    return pb.PodSandboxStatus(
        id=record.id, metadata=config.metadata, state=_state(record),
        created_at=record.created_at, network=network,
        linux=pb.LinuxPodSandboxStatus(namespaces=pb.Namespace(
            options=config.linux.security_context.namespace_options)),
        labels=config.labels, annotations=config.annotations,
        runtime_handler=record.runtime_handler,
    )


async def status(rt: RuntimeContext, request: Any, context: Any) -> Any:
    from pycri.cri.container_status import to_status as container_status

    record = rt.state.sandbox(request.pod_sandbox_id)
    response = pb.PodSandboxStatusResponse(status=to_status(record))
    response.containers_statuses.extend(
        container_status(rt, c) for c in rt.state.containers_of(record.id)
    )
    if request.verbose:
        response.info["info"] = json.dumps({
            "id": record.id, "state": record.state.value, "runtimeHandler": record.runtime_handler,
            "status": asdict(record.status),
        })
    return response


def matches(record: SandboxRecord, flt: Any) -> bool:
    return filters.matches(flt, record_id=record.id, state=_state(record),
                           labels=lambda: _config(record).labels)


def _sandbox(record: SandboxRecord) -> Any:
    config = _config(record)
    return pb.PodSandbox(id=record.id, metadata=config.metadata, state=_state(record),
                         created_at=record.created_at, labels=config.labels,
                         annotations=config.annotations, runtime_handler=record.runtime_handler)


def listed(rt: RuntimeContext, flt: Any) -> list[Any]:
    return [_sandbox(r) for r in rt.state.sandboxes.values()
            if r.state != SandboxState.CREATING and matches(r, flt)]


async def list_sandboxes(rt: RuntimeContext, request: Any, context: Any) -> Any:
    flt = request.filter if request.HasField("filter") else None
    return pb.ListPodSandboxResponse(items=listed(rt, flt))


async def update_resources(rt: RuntimeContext, request: Any, context: Any) -> Any:
    """Pod-level cgroups belong to kubelet (it names the parent); nothing here to resize
    beyond recording that the pod exists."""
    rt.state.sandbox(request.pod_sandbox_id)
    return pb.UpdatePodSandboxResourcesResponse()
