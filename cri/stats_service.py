"""RuntimeService handlers for stats, metrics and container events.

Every stats RPC hands all of its file reading to one worker thread, whatever the number of
containers, so the event loop keeps serving lifecycle calls while kubelet polls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from pycri.api.cri import pb
from pycri.cri import stats_metrics
from pycri.cri.context import RuntimeContext
from pycri.cri.events import EventBroker
from pycri.cri.records import ContainerState, SandboxState
from pycri.cri.stats import StatsCollector, container_matches, pod_matches

log = logging.getLogger(__name__)

# Stream* RPCs send their list in pieces of this many items.
STREAM_CHUNK = 100


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[i:i + STREAM_CHUNK] for i in range(0, len(items), STREAM_CHUNK)] or [[]]


class StatsService:
    def __init__(self, rt: RuntimeContext, broker: EventBroker | None = None) -> None:
        self.rt = rt
        self.collector = StatsCollector(rt)
        self.broker = broker if broker is not None else EventBroker(rt)

    # ------------------------------------------------------------ containers

    async def ContainerStats(self, request: Any, context: Any) -> Any:
        record = self.rt.state.container(request.container_id)
        stats = await asyncio.to_thread(self.collector.container_stats, record)
        return pb.ContainerStatsResponse(stats=stats)

    async def ListContainerStats(self, request: Any, context: Any) -> Any:
        return pb.ListContainerStatsResponse(stats=await self._container_stats(request))

    async def StreamContainerStats(self, request: Any, context: Any) -> AsyncIterator[Any]:
        for chunk in _chunks(await self._container_stats(request)):
            yield pb.StreamContainerStatsResponse(container_stats=chunk)

    async def _container_stats(self, request: Any) -> list[Any]:
        flt = request.filter if request.HasField("filter") else None
        records = [r for r in self.rt.state.containers.values()
                   if r.state == ContainerState.RUNNING and container_matches(r, flt)]
        if flt is None:
            self._forget()
        collect = self.collector.container_stats
        return await asyncio.to_thread(lambda: [collect(r) for r in records])

    # ------------------------------------------------------------ pods

    async def PodSandboxStats(self, request: Any, context: Any) -> Any:
        record = self.rt.state.sandbox(request.pod_sandbox_id)
        stats = await asyncio.to_thread(self.collector.pod_stats, record)
        return pb.PodSandboxStatsResponse(stats=stats)

    async def ListPodSandboxStats(self, request: Any, context: Any) -> Any:
        return pb.ListPodSandboxStatsResponse(stats=await self._pod_stats(request))

    async def StreamPodSandboxStats(self, request: Any, context: Any) -> AsyncIterator[Any]:
        for chunk in _chunks(await self._pod_stats(request)):
            yield pb.StreamPodSandboxStatsResponse(pod_sandbox_stats=chunk)

    async def _pod_stats(self, request: Any) -> list[Any]:
        flt = request.filter if request.HasField("filter") else None
        records = [r for r in self.rt.state.sandboxes.values()
                   if r.state == SandboxState.READY and pod_matches(r, flt)]
        collect = self.collector.pod_stats
        return await asyncio.to_thread(lambda: [collect(r) for r in records])

    # ------------------------------------------------------------ metrics

    async def ListMetricDescriptors(self, request: Any, context: Any) -> Any:
        return pb.ListMetricDescriptorsResponse(descriptors=stats_metrics.descriptors())

    async def ListPodSandboxMetrics(self, request: Any, context: Any) -> Any:
        return pb.ListPodSandboxMetricsResponse(pod_metrics=await self._pod_metrics())

    async def StreamPodSandboxMetrics(self, request: Any, context: Any) -> AsyncIterator[Any]:
        for chunk in _chunks(await self._pod_metrics()):
            yield pb.StreamPodSandboxMetricsResponse(pod_sandbox_metrics=chunk)

    async def _pod_metrics(self) -> list[Any]:
        records = [r for r in self.rt.state.sandboxes.values() if r.state == SandboxState.READY]
        collector = self.collector
        return await asyncio.to_thread(
            lambda: [stats_metrics.pod_metrics(collector, r) for r in records])

    # ------------------------------------------------------------ events

    async def GetContainerEvents(self, request: Any, context: Any) -> AsyncIterator[Any]:
        sub = self.broker.subscribe()
        try:
            while True:
                try:
                    event = await sub.get()
                except EOFError:
                    return
                yield event
        finally:
            self.broker.unsubscribe(sub)

    def _forget(self) -> None:
        live = set(self.rt.state.containers) | set(self.rt.state.sandboxes)
        self.collector.forget(live)
