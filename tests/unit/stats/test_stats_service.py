from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from pycri.api.cri import pb
from pycri.cri import stats_metrics
from pycri.cri.records import ContainerState
from pycri.cri.stats_detail import DeviceNames
from pycri.cri.stats_service import StatsService
from tests.unit.stats.conftest import V2_FILES, container, sandbox, seed
from tests.unit.stats.test_stats_detail import V1_BLKIO, V1_CPU, V1_MEMORY, V2_DETAIL


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


def _metric_values(pod: Any) -> dict[str, dict[tuple[str, ...], int]]:
    """{name: {extra label values: value}} of the pod's one container."""
    (ctr,) = pod.container_metrics
    out: dict[str, dict[tuple[str, ...], int]] = {}
    for m in ctr.metrics:
        out.setdefault(m.name, {})[tuple(m.label_values[5:])] = m.value.value
    return out


async def test_v2_metrics_add_throttling_spec_io_and_filesystem(rt: Any, v2_root: Path,
                                                                tmp_path: Path) -> None:
    rt.state.add(sandbox("p1"), container("c1", "p1"))
    seed(v2_root / "pycri/p1", V2_FILES)
    seed(v2_root / "pycri/p1/c1", V2_DETAIL)
    (tmp_path / "snapshots").mkdir()
    rt.images.snapshotter.usages["c1"] = (8192, 4)
    svc = StatsService(rt)
    svc.collector.devices = DeviceNames(str(tmp_path / "sys"))
    got = await svc.ListPodSandboxMetrics(pb.ListPodSandboxMetricsRequest(), None)
    values = _metric_values(got.pod_metrics[0])
    one = {name: v[()] for name, v in values.items() if () in v}
    assert one["container_cpu_cfs_periods_total"] == 40
    assert one["container_cpu_cfs_throttled_periods_total"] == 12
    assert one["container_cpu_cfs_throttled_seconds_total"] == 3
    assert (one["container_spec_cpu_period"], one["container_spec_cpu_shares"]) == (100000, 1024)
    assert one["container_spec_memory_limit_bytes"] == 64 << 20
    assert one["container_spec_memory_swap_limit_bytes"] == 96 << 20
    assert (one["container_memory_failcnt"], one["container_memory_kernel_usage"],
            one["container_memory_mapped_file"], one["container_memory_max_usage_bytes"]) == \
        (5, 409600, 8192, 20971520)
    assert one["container_threads_max"] == 0 and one["container_threads"] == 0
    assert one["container_last_seen"] > 0
    assert values["container_fs_reads_bytes_total"][("8:0",)] == 4096
    assert values["container_fs_writes_total"][("253:1",)] == 4
    assert values["container_blkio_device_usage_total"][("8:0", "8", "0", "Write")] == 8192
    device = str(tmp_path / "snapshots")
    assert values["container_fs_usage_bytes"][(device,)] == 8192
    assert values["container_fs_limit_bytes"][(device,)] > 0
    assert values["container_fs_inodes_free"][(device,)] <= \
        values["container_fs_inodes_total"][(device,)]


async def test_v1_hybrid_metrics(rt: Any, tmp_path: Path) -> None:
    root = tmp_path / "hybrid"
    seed(root / "unified", {"cgroup.controllers": ""})
    for path in ("pycri/p1", "pycri/p1/c1"):
        seed(root / "cpu" / path, V1_CPU)
        seed(root / "cpuacct" / path, {"cpuacct.usage": "3000000000\n"})
        seed(root / "memory" / path, {**V1_MEMORY, "memory.usage_in_bytes": "4096\n",
                                      "memory.limit_in_bytes": "9223372036854771712\n"})
        seed(root / "pids" / path, {"pids.current": "1\n", "pids.max": "max\n",
                                    "cgroup.procs": f"{os.getpid()}\n"})
        seed(root / "blkio" / path, V1_BLKIO)
    rt.config.cgroup_root = str(root)
    rt.state.add(sandbox("p1"), container("c1", "p1"))
    svc = StatsService(rt)
    got = (await svc.ListPodSandboxMetrics(pb.ListPodSandboxMetricsRequest(), None)).pod_metrics
    pod_level = {m.name: m.value.value for m in got[0].metrics}
    values = _metric_values(got[0])
    one = {name: v[()] for name, v in values.items() if () in v}
    assert values["container_cpu_usage_seconds_total"][("total",)] == 3
    assert one["container_cpu_cfs_throttled_seconds_total"] == 2
    assert (one["container_spec_cpu_period"], one["container_spec_cpu_shares"]) == (100000, 512)
    assert one["container_spec_memory_limit_bytes"] == 0  # unlimited
    assert one["container_spec_memory_swap_limit_bytes"] == 96 << 20
    assert one["container_memory_failcnt"] == 9 and one["container_memory_mapped_file"] == 4096
    # This test process stands in for the container's: it has threads and open files.
    assert one["container_processes"] == 1
    assert one["container_threads"] >= 1 and one["container_file_descriptors"] >= 3
    # The pod's count walks its own cgroup and the container's under it.
    assert pod_level["container_file_descriptors"] >= one["container_file_descriptors"]
    assert values["container_blkio_device_usage_total"][
        (svc.collector.devices.name((8, 0)), "8", "0", "Read")] == 4096


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
