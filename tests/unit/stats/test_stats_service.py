from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pycri.api.cri import pb
from pycri.cri import stats_metrics
from pycri.cri.records import ContainerState
from pycri.cri.stats_service import StatsService
from tests.unit.stats.conftest import V2_FILES, container, sandbox, seed


def _pods(rt: Any, v2_root: Path) -> None:
    rt.state.add(sandbox("p1"), sandbox("p2"), container("c1", "p1"), container("c2", "p2"),
                 container("c3", "p2", state=ContainerState.EXITED))
    for path in ("p1", "p1/c1", "p2", "p2/c2"):
        seed(v2_root / "pycri" / path, V2_FILES)


async def test_list_container_stats_running_only_and_filtered(rt: Any, v2_root: Path) -> None:
    _pods(rt, v2_root)
    svc = StatsService(rt)
    got = await svc.ListContainerStats(pb.ListContainerStatsRequest(), None)
    assert sorted(s.attributes.id for s in got.stats) == ["c1", "c2"]
    flt = pb.ContainerStatsFilter(pod_sandbox_id="p2")
    got = await svc.ListContainerStats(pb.ListContainerStatsRequest(filter=flt), None)
    assert [s.attributes.id for s in got.stats] == ["c2"]
    chunks = [c async for c in svc.StreamContainerStats(pb.StreamContainerStatsRequest(), None)]
    assert sorted(s.attributes.id for c in chunks for s in c.container_stats) == ["c1", "c2"]


async def test_pod_stats_rpcs(rt: Any, v2_root: Path) -> None:
    _pods(rt, v2_root)
    svc = StatsService(rt)
    one = await svc.PodSandboxStats(pb.PodSandboxStatsRequest(pod_sandbox_id="p2"), None)
    assert [c.attributes.id for c in one.stats.linux.containers] == ["c2"]
    got = await svc.ListPodSandboxStats(pb.ListPodSandboxStatsRequest(), None)
    assert sorted(s.attributes.id for s in got.stats) == ["p1", "p2"]


async def test_metrics_match_their_descriptors(rt: Any, v2_root: Path) -> None:
    _pods(rt, v2_root)
    rt.images.snapshotter.usages["c1"] = (8192, 4)
    svc = StatsService(rt)
    descriptors = (await svc.ListMetricDescriptors(pb.ListMetricDescriptorsRequest(),
                                                   None)).descriptors
    keys = {d.name: list(d.label_keys) for d in descriptors}
    assert len(keys) == len(descriptors)
    assert keys["container_cpu_usage_seconds_total"][-1] == "cpu"
    got = await svc.ListPodSandboxMetrics(pb.ListPodSandboxMetricsRequest(), None)
    pods = {p.pod_sandbox_id: p for p in got.pod_metrics}
    assert set(pods) == {"p1", "p2"}
    values: dict[str, Any] = {}
    for pod in pods.values():
        for m in [*pod.metrics, *(m for c in pod.container_metrics for m in c.metrics)]:
            assert len(m.label_values) == len(keys[m.name]), m.name
            values.setdefault(m.name, []).append(m)
    (c1,) = pods["p1"].container_metrics
    by_name = {m.name: m for m in c1.metrics}
    cpu = by_name["container_cpu_usage_seconds_total"]
    assert cpu.value.value == 2 and cpu.metric_type == pb.MetricType.COUNTER
    assert dict(zip(keys[cpu.name], cpu.label_values, strict=True)) == {
        "pod": "web", "namespace": "ns", "container": "app", "id": "/pycri/p1/c1",
        "image": "busybox:latest", "cpu": "total"}
    assert by_name["container_memory_working_set_bytes"].value.value == 10485760 - 2097152
    assert by_name["container_fs_usage_bytes"].value.value == 8192
    assert "container_processes" in values
    assert set(stats_metrics.BY_NAME) >= set(values)


async def test_get_container_events_streams_until_cancelled(rt: Any) -> None:
    svc = StatsService(rt)
    stream = svc.GetContainerEvents(pb.GetEventsRequest(), None)
    first = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0)
    assert svc.broker.subscribers == 1
    ctr = container("c1", "p1")
    rt.state.add(sandbox("p1"), ctr)
    rt.events.container_changed(ctr, "started")
    assert (await first).container_id == "c1"
    await stream.aclose()
    assert svc.broker.subscribers == 0
