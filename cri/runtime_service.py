"""RuntimeService handlers for pods and containers; each delegates to its RPC's module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pycri.api.cri import pb
from pycri.cri import (
    container_create,
    container_exec,
    container_remove,
    container_start,
    container_status,
    container_stop,
    container_update,
    sandbox_remove,
    sandbox_run,
    sandbox_status,
    sandbox_stop,
)
from pycri.cri.context import RuntimeContext

# The Stream* list RPCs send their list in pieces of this many items.
STREAM_CHUNK = 100


def _filter(request: Any) -> Any:
    return request.filter if request.HasField("filter") else None


def chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i:i + STREAM_CHUNK] for i in range(0, len(items), STREAM_CHUNK)] or [[]]


class PodAndContainerService:
    def __init__(self, rt: RuntimeContext) -> None:
        self.rt = rt

    async def RunPodSandbox(self, request: Any, context: Any) -> Any:
        return await sandbox_run.run(self.rt, request, context)

    async def StopPodSandbox(self, request: Any, context: Any) -> Any:
        return await sandbox_stop.stop(self.rt, request, context)

    async def RemovePodSandbox(self, request: Any, context: Any) -> Any:
        return await sandbox_remove.remove(self.rt, request, context)

    async def PodSandboxStatus(self, request: Any, context: Any) -> Any:
        return await sandbox_status.status(self.rt, request, context)

    async def ListPodSandbox(self, request: Any, context: Any) -> Any:
        return await sandbox_status.list_sandboxes(self.rt, request, context)

    async def StreamPodSandboxes(self, request: Any, context: Any) -> AsyncIterator[Any]:
        listed = await sandbox_status.list_sandboxes(
            self.rt, pb.ListPodSandboxRequest(filter=_filter(request)), context)
        for chunk in chunks(list(listed.items)):
            yield pb.StreamPodSandboxesResponse(pod_sandboxes=chunk)

    async def CreateContainer(self, request: Any, context: Any) -> Any:
        return await container_create.create(self.rt, request, context)

    async def StartContainer(self, request: Any, context: Any) -> Any:
        return await container_start.start(self.rt, request, context)

    async def StopContainer(self, request: Any, context: Any) -> Any:
        return await container_stop.stop(self.rt, request, context)

    async def RemoveContainer(self, request: Any, context: Any) -> Any:
        return await container_remove.remove(self.rt, request, context)

    async def ContainerStatus(self, request: Any, context: Any) -> Any:
        return await container_status.status(self.rt, request, context)

    async def ListContainers(self, request: Any, context: Any) -> Any:
        return await container_status.list_containers(self.rt, request, context)

    async def StreamContainers(self, request: Any, context: Any) -> AsyncIterator[Any]:
        listed = await container_status.list_containers(
            self.rt, pb.ListContainersRequest(filter=_filter(request)), context)
        for chunk in chunks(list(listed.containers)):
            yield pb.StreamContainersResponse(containers=chunk)

    async def ExecSync(self, request: Any, context: Any) -> Any:
        return await container_exec.exec_sync(self.rt, request, context)

    async def UpdateContainerResources(self, request: Any, context: Any) -> Any:
        return await container_update.update_resources(self.rt, request, context)

    async def ReopenContainerLog(self, request: Any, context: Any) -> Any:
        return await container_update.reopen_log(self.rt, request, context)

    async def UpdatePodSandboxResources(self, request: Any, context: Any) -> Any:
        return await sandbox_status.update_resources(self.rt, request, context)
