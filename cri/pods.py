"""The daemon's handle on pod shims: start one per pod, stop it when the pod goes."""

from __future__ import annotations

import logging
from typing import Any

from pycri.runtime.task.errors import ShimGone
from pycri.runtime.task.launch import ShimStartOptions
from pycri.runtime.task.manager import TaskManager

log = logging.getLogger(__name__)


class PodShims:
    def __init__(self, tasks: TaskManager, log_level: str = "info") -> None:
        self.tasks = tasks
        self._log_level = log_level.upper()

    async def start(self, sandbox_id: str, *, namespaces: list[str], hostname: str,
                    pid_ns: bool) -> dict[str, Any]:
        options = ShimStartOptions(namespaces=namespaces, hostname=hostname, pid_ns=pid_ns,
                                   log_level=self._log_level)
        client = await self.tasks.start_shim(sandbox_id, options)
        info: dict[str, Any] = await client.call("sandbox_info")
        log.info("pod shim started pod_id=%s shim_pid=%s", sandbox_id, info.get("pid"))
        return info

    async def stop(self, sandbox_id: str) -> None:
        """Idempotent: a shim that is already gone is fine."""
        try:
            await self.tasks.connect(sandbox_id)
        except (ShimGone, OSError):
            return
        await self.tasks.shutdown_shim(sandbox_id, force=True)

    def client(self, sandbox_id: str) -> Any:
        return self.tasks.client(sandbox_id)
