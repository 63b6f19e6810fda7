"""ContainerStatus and ListContainers."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from pycri.api.cri import pb
from pycri.cri import filters
from pycri.cri.container_stop import stop_signal_name
from pycri.cri.context import RuntimeContext
from pycri.cri.records import ContainerRecord, ContainerState

_STATES = {
    ContainerState.CREATING: pb.ContainerState.CONTAINER_UNKNOWN,
    ContainerState.CREATED: pb.ContainerState.CONTAINER_CREATED,
    ContainerState.RUNNING: pb.ContainerState.CONTAINER_RUNNING,
    ContainerState.EXITED: pb.ContainerState.CONTAINER_EXITED,
    ContainerState.UNKNOWN: pb.ContainerState.CONTAINER_UNKNOWN,
}


def _config(record: ContainerRecord) -> Any:
    return pb.ContainerConfig.FromString(record.config)


def _image_spec(record: ContainerRecord, config: Any) -> Any:
    """The image as kubelet shows it: a tag when the image has one, else its ID."""
    return pb.ImageSpec(image=record.status.repo_tag or record.status.image_id,
                        annotations=config.image.annotations,
                        user_specified_image=config.image.image)


def _image_ref(record: ContainerRecord) -> str:
    """A pullable reference (repo digest) when known; kubelet reports it as the imageID."""
    return record.status.repo_digest or record.image_ref


def _stop_signal(config: Any, image_signal: str) -> Any:
    try:
        return pb.Signal.Value(stop_signal_name(config, image_signal))
    except ValueError:
        return pb.Signal.SIGTERM


def to_status(rt: RuntimeContext, record: ContainerRecord) -> Any:
    config = _config(record)
    s = record.status
    status = pb.ContainerStatus(
        id=record.id, metadata=config.metadata, state=_STATES[record.state],
        created_at=record.created_at, started_at=s.started_at, finished_at=s.finished_at,
        exit_code=s.exit_code, image=_image_spec(record, config), image_ref=_image_ref(record),
        reason=s.reason, message=s.message, labels=config.labels,
        annotations=config.annotations, log_path=s.log_path, image_id=record.image_ref,
    )
    status.stop_signal = _stop_signal(config, s.stop_signal)
    for mount in s.mounts:
        status.mounts.append(pb.Mount(**mount))
    if s.resources:
        res = dict(s.resources)
        unified = res.pop("unified", {})
        status.resources.linux.CopyFrom(pb.LinuxContainerResources(**res, unified=unified))
    if s.user:
        status.user.linux.CopyFrom(pb.LinuxContainerUser(
            uid=s.user.get("uid", 0), gid=s.user.get("gid", 0),
            supplemental_groups=s.user.get("additionalGids", [])))
    return status


async def status(rt: RuntimeContext, request: Any, context: Any) -> Any:
    record = rt.state.container(request.container_id)
    response = pb.ContainerStatusResponse(status=to_status(rt, record))
    if request.verbose:
        info: dict[str, Any] = {"sandboxID": record.sandbox_id, "pid": record.status.pid,
                                "status": asdict(record.status)}
        try:
            with open(f"{record.status.bundle}/config.json") as spec:
                info["runtimeSpec"] = json.load(spec)
        except (OSError, ValueError):
            pass
        response.info["info"] = json.dumps(info)
    return response


def matches(record: ContainerRecord, flt: Any) -> bool:
    return filters.matches(flt, record_id=record.id, sandbox_id=record.sandbox_id,
                           state=_STATES[record.state], labels=lambda: _config(record).labels)


def _container(record: ContainerRecord) -> Any:
    config = _config(record)
    return pb.Container(
        id=record.id, pod_sandbox_id=record.sandbox_id, metadata=config.metadata,
        image=_image_spec(record, config), image_ref=_image_ref(record),
        state=_STATES[record.state], created_at=record.created_at, labels=config.labels,
        annotations=config.annotations, image_id=record.image_ref,
    )


def listed(rt: RuntimeContext, flt: Any) -> list[Any]:
    return [_container(r) for r in rt.state.containers.values()
            if r.state != ContainerState.CREATING and matches(r, flt)]


async def list_containers(rt: RuntimeContext, request: Any, context: Any) -> Any:
    flt = request.filter if request.HasField("filter") else None
    return pb.ListContainersResponse(containers=listed(rt, flt))
