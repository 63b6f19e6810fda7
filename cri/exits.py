"""Turns the shims' events into container state: exits (with OOM) and dead shims."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

from pycri.cri.container_stop import mark_exited
from pycri.cri.context import RuntimeContext
from pycri.cri.records import ContainerState, SandboxState

log = logging.getLogger(__name__)


async def watch(rt: RuntimeContext) -> None:
    async for event in rt.pods.tasks.events():
        try:
            await _apply(rt, event)
        except Exception:
            log.exception("apply shim event failed event=%s", event)


async def _apply(rt: RuntimeContext, event: dict[str, Any]) -> None:
    if event.get("event") != "exit":
        return
    record = rt.state.containers.get(str(event.get("container_id", "")))
    if record is None:
        return
    exit_record = SimpleNamespace(
        exit_code=event.get("exit_code", 255) if event.get("exit_code") is not None else 255,
        exited_at=event.get("exited_at") or 0, reason=event.get("reason", ""),
        message=event.get("message", ""),
    )
    await mark_exited(rt, record, exit_record)


async def settle_interrupted(rt: RuntimeContext) -> None:
    """Records a crash left half-made become visible as not ready / exited, so kubelet's
    garbage collection removes them through the ordinary Remove calls."""
    for sandbox in list(rt.state.sandboxes.values()):
        if sandbox.state == SandboxState.CREATING:
            sandbox.state = SandboxState.NOTREADY
            await rt.state.save_sandbox(sandbox)
            log.warning("pod sandbox was being created when pycri stopped pod_id=%s", sandbox.id)
    for container in list(rt.state.containers.values()):
        if container.state == ContainerState.CREATING:
            container.state = ContainerState.CREATED
            await mark_exited(rt, container, SimpleNamespace(
                exit_code=255, exited_at=0, reason="Unknown",
                message="pycri stopped while this container was being created"))


async def reconnect(rt: RuntimeContext) -> None:
    """On start: find every pod's shim again; containers of dead shims get their exits."""
    await settle_interrupted(rt)
    by_sandbox: dict[str, list[str]] = {sid: [] for sid in rt.state.sandboxes}
    for container in rt.state.containers.values():
        by_sandbox.setdefault(container.sandbox_id, []).append(container.id)
    if not by_sandbox:
        return
    outcome = await rt.pods.tasks.reconnect(by_sandbox)
    for sandbox_id, result in outcome.items():
        if isinstance(result, dict):
            for container_id, exit_record in result.items():
                record = rt.state.containers.get(container_id)
                if record is not None:
                    await mark_exited(rt, record, exit_record)
            log.warning("pod shim was gone at restart pod_id=%s", sandbox_id)
    await asyncio.sleep(0)
