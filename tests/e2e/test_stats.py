"""Stats and CRI metrics over the socket, against real containers and cgroups."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from pycri.api.cri import pb
from tests.e2e.cri_env import CriEnv

pytestmark = pytest.mark.root


@contextmanager
def pods(cri: CriEnv) -> Iterator[list[str]]:
    made: list[str] = []
    try:
        yield made
    finally:
        for pod_id in made:
            cri.client.stop_pod_sandbox(pod_id)
            cri.client.remove_pod_sandbox(pod_id)


def _run(cri: CriEnv, made: list[str], name: str, command: list[str], **kwargs: Any) -> str:
    pod_id, container_id = cri.run(cri.pod_config(name), name, command, **kwargs)
    made.append(pod_id)
    return container_id


def _pod_stats(cri: CriEnv, pod_id: str) -> Any:
    request = pb.PodSandboxStatsRequest(pod_sandbox_id=pod_id)
    return cri.client.runtime.PodSandboxStats(request, timeout=30).stats


def test_cpu_burner_uses_about_one_core(cri: CriEnv) -> None:
    with pods(cri) as made:
        cid = _run(cri, made, "burn", ["sh", "-c", "while :; do :; done"])
        first = cri.client.container_stats(cid)
        time.sleep(1.5)
        second = cri.client.container_stats(cid)
    assert first.attributes.id == cid and first.attributes.metadata.name == "burn"
    used = (second.cpu.usage_core_nano_seconds.value - first.cpu.usage_core_nano_seconds.value)
    elapsed = second.cpu.timestamp - first.cpu.timestamp
    nano_cores = second.cpu.usage_nano_cores.value
    # One spinning thread: a core at most; less when the machine's other work takes turns.
    assert 0.15e9 < nano_cores <= 1.05e9
    assert abs(nano_cores - used * 1e9 / elapsed) < 0.05e9


def test_memory_working_set_grows_with_an_allocation(cri: CriEnv) -> None:
    with pods(cri) as made:
        cid = _run(cri, made, "alloc", ["sleep", "300"])
        before = cri.client.container_stats(cid).memory
        out = cri.client.exec_sync(
            cid, ["dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=40"], timeout=30)
        assert out.exit_code == 0, out.stderr
        after = cri.client.container_stats(cid).memory
    grown = after.working_set_bytes.value - before.working_set_bytes.value
    assert grown >= 30 << 20
    assert after.usage_bytes.value >= after.working_set_bytes.value
    assert after.timestamp > before.timestamp


def test_writable_layer_usage_counts_written_files(cri: CriEnv) -> None:
    with pods(cri) as made:
        cid = _run(cri, made, "writer", ["sleep", "300"])
        out = cri.client.exec_sync(
            cid, ["dd", "if=/dev/zero", "of=/big", "bs=1M", "count=6"], timeout=30)
        assert out.exit_code == 0, out.stderr
        deadline = time.monotonic() + 30
        layer = cri.client.container_stats(cid).writable_layer
        while layer.used_bytes.value < 6 << 20 and time.monotonic() < deadline:
            time.sleep(0.5)  # the layer walk is cached for a few seconds
            layer = cri.client.container_stats(cid).writable_layer
    assert layer.used_bytes.value >= 6 << 20
    assert layer.inodes_used.value >= 1
    assert layer.fs_id.mountpoint


def test_network_counters_grow_after_traffic_between_pods(cri: CriEnv) -> None:
    with pods(cri) as made:
        a = _run(cri, made, "net-a", ["sleep", "300"])
        _run(cri, made, "net-b", ["sleep", "300"])
        ip_b = cri.client.pod_sandbox_status(made[1]).status.network.ip
        before = _pod_stats(cri, made[0]).linux.network.default_interface
        out = cri.client.exec_sync(a, ["ping", "-c", "3", "-i", "0.2", "-s", "1000", ip_b],
                                   timeout=20)
        assert out.exit_code == 0, out.stdout + out.stderr
        after_a = _pod_stats(cri, made[0]).linux.network.default_interface
        after_b = _pod_stats(cri, made[1]).linux.network.default_interface
    assert after_a.name == "eth0"
    assert after_a.tx_bytes.value - before.tx_bytes.value >= 3000
    assert after_a.rx_bytes.value - before.rx_bytes.value >= 3000
    assert after_b.rx_bytes.value >= 3000


def test_pod_stats_list_processes_and_filters(cri: CriEnv) -> None:
    with pods(cri) as made:
        cid = _run(cri, made, "listed", ["sleep", "300"])
        other = _run(cri, made, "other", ["sleep", "300"])
        stats = _pod_stats(cri, made[0])
        listed = cri.client.runtime.ListPodSandboxStats(
            pb.ListPodSandboxStatsRequest(), timeout=30).stats
        only = cri.client.list_container_stats(pb.ContainerStatsFilter(pod_sandbox_id=made[1]))
        everything = {s.attributes.id for s in cri.client.list_container_stats()}
    assert stats.attributes.metadata.name == "listed"
    assert stats.linux.process.process_count.value >= 1
    assert stats.linux.memory.working_set_bytes.value > 0
    assert [c.attributes.id for c in stats.linux.containers] == [cid]
    assert set(made) <= {s.attributes.id for s in listed}
    assert [s.attributes.id for s in only] == [other]
    assert {cid, other} <= everything


def test_metric_descriptors_and_pod_metrics(cri: CriEnv) -> None:
    descriptors = cri.client.runtime.ListMetricDescriptors(
        pb.ListMetricDescriptorsRequest(), timeout=30).descriptors
    keys = {d.name: list(d.label_keys) for d in descriptors}
    for name in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                 "container_memory_usage_bytes", "container_network_receive_bytes_total",
                 "container_network_transmit_bytes_total", "container_fs_usage_bytes"):
        assert name in keys
    with pods(cri) as made:
        cid = _run(cri, made, "metrics", ["sleep", "300"])
        got = cri.client.runtime.ListPodSandboxMetrics(
            pb.ListPodSandboxMetricsRequest(), timeout=30).pod_metrics
    pod = next(p for p in got if p.pod_sandbox_id == made[0])
    names = {m.name for m in pod.metrics}
    assert "container_network_receive_bytes_total" in names
    (container,) = pod.container_metrics
    assert container.container_id == cid
    for metric in [*pod.metrics, *container.metrics]:
        assert len(metric.label_values) == len(keys[metric.name])
    values = {m.name: m for m in container.metrics}
    assert values["container_memory_working_set_bytes"].value.value > 0
    labels = dict(zip(keys["container_memory_working_set_bytes"],
                      values["container_memory_working_set_bytes"].label_values, strict=True))
    assert labels["container"] == "metrics" and labels["namespace"] == "e2e"


def test_metrics_carry_spec_throttling_and_process_numbers(cri: CriEnv) -> None:
    resources = pb.LinuxContainerResources(
        cpu_period=100000, cpu_quota=10000, cpu_shares=512,
        memory_limit_in_bytes=64 << 20, memory_swap_limit_in_bytes=96 << 20)
    with pods(cri) as made:
        # Spinning under a 10% quota is throttled in nearly every period; the shell holds
        # its stdio descriptors and no socket.
        cid = _run(cri, made, "limited", ["sh", "-c", "while :; do :; done"],
                   linux=pb.LinuxContainerConfig(resources=resources))
        deadline = time.monotonic() + 30
        while True:
            got = cri.client.runtime.ListPodSandboxMetrics(
                pb.ListPodSandboxMetricsRequest(), timeout=30).pod_metrics
            pod = next(p for p in got if p.pod_sandbox_id == made[0])
            (container,) = pod.container_metrics
            values = {m.name: m.value.value for m in container.metrics}
            if values.get("container_cpu_cfs_throttled_periods_total") or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert container.container_id == cid
    assert values["container_spec_cpu_period"] == 100000
    assert values["container_spec_cpu_shares"] == 512
    assert values["container_spec_memory_limit_bytes"] == 64 << 20
    assert values["container_spec_memory_swap_limit_bytes"] == 96 << 20
    assert values["container_cpu_cfs_periods_total"] >= values[
        "container_cpu_cfs_throttled_periods_total"] >= 1
    assert values["container_processes"] == 1
    assert values["container_threads"] >= 1 and values["container_file_descriptors"] >= 3
    assert values["container_sockets"] == 0
    assert values["container_fs_limit_bytes"] > 0 and values["container_fs_inodes_free"] > 0
    assert values["container_last_seen"] >= values["container_start_time_seconds"] > 0
    assert values["container_memory_max_usage_bytes"] >= values["container_memory_usage_bytes"]
