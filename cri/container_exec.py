"""ExecSync: run a command in a running container and return its output and exit code."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from typing import Any

from pycri.api.cri import pb
from pycri.cri.context import RuntimeContext
from pycri.cri.errors import DeadlineExceeded, FailedPrecondition, InvalidArgument
from pycri.cri.records import ContainerRecord
from pycri.runtime.task.errors import DeadlineExceeded as ShimDeadline

log = logging.getLogger(__name__)

OUTPUT_CAP = 16 * 1024 * 1024


def exec_process(record: ContainerRecord, cmd: list[str], tty: bool = False) -> dict[str, Any]:
    """The container's own process spec with the exec's command: same user, env, caps, cwd."""
    if not cmd:
        raise InvalidArgument(f"exec in container `{record.id}`: cmd is required")
    spec = json.loads((Path(record.status.bundle) / "config.json").read_text())
    process = dict(spec["process"])
    process["args"] = list(cmd)
    process["terminal"] = tty
    process.pop("oomScoreAdj", None)
    return process


def require_running(rt: RuntimeContext, container_id: str) -> ContainerRecord:
    record = rt.state.container(container_id)
    if not record.state.can_exec():
        raise FailedPrecondition(
            f"exec in container `{record.id}`: it is {record.state.value}, not running"
        )
    return record


async def exec_sync(rt: RuntimeContext, request: Any, context: Any) -> Any:
    record = require_running(rt, request.container_id)
    process = await rt.to_thread(exec_process, record, list(request.cmd))
    exec_id = secrets.token_hex(8)
    try:
        result = await rt.pods.client(record.sandbox_id).exec_sync(
            record.id, exec_id, process, timeout=float(request.timeout))
    except ShimDeadline as exc:
        raise DeadlineExceeded(
            f"exec in container `{record.id}`: command timed out after {request.timeout}s"
        ) from exc
    return pb.ExecSyncResponse(stdout=result.stdout[:OUTPUT_CAP],
                               stderr=result.stderr[:OUTPUT_CAP], exit_code=result.exit_code)
