"""StopContainer: the stop signal, then SIGKILL after the grace period; idempotent."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from pycri.api.cri import pb
from pycri.cri.context import RuntimeContext
from pycri.cri.records import ContainerRecord, ContainerState, now_ns
from pycri.runtime.task.errors import NotFound as ShimNotFound
from pycri.runtime.task.errors import ShimGone

log = logging.getLogger(__name__)


async def stop(rt: RuntimeContext, request: Any, context: Any) -> Any:
    record = rt.state.find_container(request.container_id)
    if record is not None:
        await stop_record(rt, record, timeout=request.timeout)
    return pb.StopContainerResponse()


def stop_signal_name(config: Any, image_signal: str) -> str:
    """The signal StopContainer sends, by name: the config's, else the image's, else SIGTERM."""
    if config.stop_signal:
        return str(pb.Signal.Name(config.stop_signal))
    text = image_signal.strip().upper()
    if text.isdigit():
        try:
            return signal.Signals(int(text)).name
        except ValueError:
            return "SIGTERM"
    if not text:
        return "SIGTERM"
    return text if text.startswith("SIG") else f"SIG{text}"


def stop_signal(rt: RuntimeContext, record: ContainerRecord) -> int:
    config = pb.ContainerConfig.FromString(record.config)
    name = stop_signal_name(config, record.status.stop_signal)
    return int(getattr(signal, name, signal.SIGTERM))


async def stop_record(rt: RuntimeContext, record: ContainerRecord, timeout: int) -> None:
    if record.state in (ContainerState.EXITED, ContainerState.CREATING):
        return
    tasks = rt.pods.tasks
    try:
        if record.state == ContainerState.RUNNING and timeout > 0:
            sig = stop_signal(rt, record)
            log.info("stopping container container_id=%s signal=%d grace_s=%d", record.id, sig,
                     timeout)
            await _kill(rt, record, sig)
            try:
                exit_record = await asyncio.wait_for(tasks.wait(record.sandbox_id, record.id),
                                                     timeout)
            except TimeoutError:
                exit_record = None
            if exit_record is not None:
                await mark_exited(rt, record, exit_record)
                return
        await _kill(rt, record, signal.SIGKILL)
        exit_record = await tasks.wait(record.sandbox_id, record.id)
    except (ShimNotFound, ShimGone) as exc:
        log.warning("stop container container_id=%s: %s", record.id, exc)
        exit_record = None
    await mark_exited(rt, record, exit_record)


async def _kill(rt: RuntimeContext, record: ContainerRecord, sig: int) -> None:
    try:
        await rt.pods.client(record.sandbox_id).kill(record.id, sig, all=True)
    except Exception as exc:
        # Already exited between our look and the kill: the wait that follows settles it.
        log.debug("kill container_id=%s signal=%d: %s", record.id, sig, exc)


async def mark_exited(rt: RuntimeContext, record: ContainerRecord, exit_record: Any) -> None:
    """Record the exit once; later reports of the same exit change nothing."""
    if record.state == ContainerState.EXITED:
        return
    status = record.status
    if exit_record is not None:
        status.exit_code = int(exit_record.exit_code)
        status.finished_at = int(exit_record.exited_at) or now_ns()
        status.reason = exit_record.reason or ("Completed" if status.exit_code == 0 else "Error")
        status.message = exit_record.message or ""
    else:
        status.exit_code, status.finished_at = 255, now_ns()
        status.reason, status.message = "Unknown", "the container's shim is gone"
    record.state = ContainerState.EXITED
    await rt.state.save_container(record)
    log.info("container exited container_id=%s exit_code=%d reason=%s", record.id,
             status.exit_code, status.reason)
    rt.events.container_changed(record, "stopped")
