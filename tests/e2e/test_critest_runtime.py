"""critest's runtime-info, PodSandbox, idempotence and streaming-list suites, re-done over our
client: the same CRI calls with the same config fields, the same outcomes asserted."""

from __future__ import annotations

import uuid

import grpc
import pytest

from pycri.api.cri import pb
from tests.e2e.cri_env import CriEnv
from tests.e2e.critest_helpers import create, exec_ok, sandbox, start, unique

pytestmark = pytest.mark.root

# Metric families critest expects from ListMetricDescriptors, less those it lists as not yet
# implemented by runtimes (hugetlb, PSI, cpu quota spec, memory reservation, ulimits).
EXPECTED_METRICS = [
    "container_blkio_device_usage_total", "container_cpu_cfs_periods_total",
    "container_cpu_cfs_throttled_periods_total", "container_cpu_cfs_throttled_seconds_total",
    "container_cpu_system_seconds_total", "container_cpu_usage_seconds_total",
    "container_cpu_user_seconds_total", "container_file_descriptors",
    "container_fs_inodes_free", "container_fs_inodes_total", "container_fs_limit_bytes",
    "container_fs_reads_bytes_total", "container_fs_reads_total", "container_fs_usage_bytes",
    "container_fs_writes_bytes_total", "container_fs_writes_total", "container_last_seen",
    "container_memory_cache", "container_memory_failcnt", "container_memory_failures_total",
    "container_memory_kernel_usage", "container_memory_mapped_file",
    "container_memory_max_usage_bytes", "container_memory_rss", "container_memory_swap",
    "container_memory_usage_bytes", "container_memory_working_set_bytes",
    "container_network_receive_bytes_total", "container_network_receive_errors_total",
    "container_network_receive_packets_dropped_total", "container_network_receive_packets_total",
    "container_network_transmit_bytes_total", "container_network_transmit_errors_total",
    "container_network_transmit_packets_dropped_total",
    "container_network_transmit_packets_total", "container_oom_events_total",
    "container_processes", "container_sockets", "container_spec_cpu_period",
    "container_spec_cpu_shares", "container_spec_memory_limit_bytes",
    "container_spec_memory_swap_limit_bytes", "container_start_time_seconds",
    "container_threads", "container_threads_max",
]
# Values that depend on per-device block I/O accounting, which virtual disks often lack.
OPTIONAL_VALUES = {
    "container_blkio_device_usage_total", "container_fs_reads_bytes_total",
    "container_fs_reads_total", "container_fs_writes_bytes_total", "container_fs_writes_total",
}


# -- Runtime info --------------------------------------------------------------------------

def test_runtime_returns_version_info(cri: CriEnv) -> None:
    version = cri.client.version("0.1.0")
    assert version.version and version.runtime_name
    assert version.runtime_version and version.runtime_api_version


def test_runtime_returns_ready_conditions(cri: CriEnv) -> None:
    conditions = cri.client.status().status.conditions
    ready = {c.type for c in conditions if c.status}
    assert {"RuntimeReady", "NetworkReady"} <= ready


# -- PodSandbox ----------------------------------------------------------------------------

def _listed(cri: CriEnv, pod_id: str) -> bool:
    found = cri.client.list_pod_sandboxes(pb.PodSandboxFilter(id=pod_id))
    return any(p.id == pod_id for p in found)


def test_run_pod_sandbox_is_ready_and_listed(cri: CriEnv) -> None:
    with sandbox(cri, "PodSandbox-for-create-test-") as (pod_id, _):
        status = cri.client.pod_sandbox_status(pod_id).status
        assert status.state == pb.PodSandboxState.SANDBOX_READY
        assert _listed(cri, pod_id)


def test_stop_pod_sandbox_makes_it_not_ready(cri: CriEnv) -> None:
    with sandbox(cri, "PodSandbox-for-test-stop-") as (pod_id, _):
        cri.client.stop_pod_sandbox(pod_id)
        status = cri.client.pod_sandbox_status(pod_id).status
        assert status.state == pb.PodSandboxState.SANDBOX_NOTREADY


def test_remove_pod_sandbox_unlists_it(cri: CriEnv) -> None:
    pod_id = cri.client.run_pod_sandbox(cri.pod_config(unique("PodSandbox-for-test-remove-")))
    cri.client.stop_pod_sandbox(pod_id)
    cri.client.remove_pod_sandbox(pod_id)
    assert not _listed(cri, pod_id)


def test_pod_sandbox_attributes_are_preserved(cri: CriEnv) -> None:
    name, uid, namespace = unique("PodSandbox-with-attributes-"), unique("uid"), unique("ns")
    labels = {"foo": "bar", "io.kubernetes.pod.name": name,
              "io.kubernetes.pod.namespace": namespace, "io.kubernetes.pod.uid": uid}
    annotations = {"abc": "def"}
    config = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace=namespace, attempt=0),
        labels=labels, annotations=annotations, log_directory=str(cri.log_dir / name))
    pod_id = cri.client.run_pod_sandbox(config)
    try:
        status = cri.client.pod_sandbox_status(pod_id).status
        listed = cri.client.list_pod_sandboxes(pb.PodSandboxFilter(id=pod_id))
        assert len(listed) == 1
        for seen in (status, listed[0]):
            assert (seen.metadata.name, seen.metadata.uid, seen.metadata.namespace,
                    seen.metadata.attempt) == (name, uid, namespace, 0)
            assert labels.items() <= dict(seen.labels).items()
            assert annotations.items() <= dict(seen.annotations).items()
    finally:
        cri.client.stop_pod_sandbox(pod_id)
        cri.client.remove_pod_sandbox(pod_id)


@pytest.mark.parametrize(("sysctl", "value", "path"), [
    ("kernel.shm_rmid_forced", "1", "/proc/sys/kernel/shm_rmid_forced"),
    ("fs.mqueue.msg_max", "100", "/proc/sys/fs/mqueue/msg_max"),
])
def test_pod_sysctls_apply_in_containers(cri: CriEnv, sysctl: str, value: str,
                                         path: str) -> None:
    linux = pb.LinuxPodSandboxConfig(sysctls={sysctl: value})
    with sandbox(cri, "pod-sandbox-with-sysctls-", linux=linux) as pod:
        container_id = start(cri, pod, "container-sysctl-")
        assert exec_ok(cri, container_id, ["cat", path]).strip() == value


def test_metric_descriptors_cover_the_expected_families(cri: CriEnv) -> None:
    descriptors = cri.client.runtime.ListMetricDescriptors(
        pb.ListMetricDescriptorsRequest(), timeout=30).descriptors
    by_name = {d.name: d for d in descriptors}
    for descriptor in descriptors:
        assert descriptor.help and descriptor.label_keys, descriptor.name
    assert [n for n in EXPECTED_METRICS if n not in by_name] == []


def test_pod_sandbox_metrics_have_the_described_labels(cri: CriEnv) -> None:
    resources = pb.LinuxContainerResources(
        cpu_period=100000, cpu_quota=20000, cpu_shares=1024,
        memory_limit_in_bytes=64 << 20, memory_swap_limit_in_bytes=64 << 20)
    with sandbox(cri, "pod-for-metrics-") as pod:
        container_id = start(cri, pod, "container-for-metrics-",
                             linux=pb.LinuxContainerConfig(resources=resources))
        exec_ok(cri, container_id, ["sh", "-c", "mkdir -p /var/lib/mydisktest && for i in "
                                    "$(seq 1 10); do echo hi >> /var/lib/mydisktest/f$i; "
                                    "done; sync"])
        descriptors = cri.client.runtime.ListMetricDescriptors(
            pb.ListMetricDescriptorsRequest(), timeout=30).descriptors
        all_metrics = cri.client.runtime.ListPodSandboxMetrics(
            pb.ListPodSandboxMetricsRequest(), timeout=30).pod_metrics
        mine = [m for m in all_metrics if m.pod_sandbox_id == pod[0]]
        assert mine, "no metrics for the pod"
        found: dict[str, list[str]] = {}
        for metric in [*mine[0].metrics,
                       *(m for c in mine[0].container_metrics for m in c.metrics)]:
            if not found.get(metric.name):
                found[metric.name] = list(metric.label_values)
    missing = [n for n in EXPECTED_METRICS if not found.get(n) and n not in OPTIONAL_VALUES]
    assert missing == []
    mismatched = [d.name for d in descriptors if d.name in found
                  and len(found[d.name]) != len(d.label_keys)]
    assert mismatched == []


# -- Idempotence ---------------------------------------------------------------------------

def test_stop_and_remove_of_absent_objects_succeed(cri: CriEnv) -> None:
    cri.client.stop_pod_sandbox(str(uuid.uuid4()))
    cri.client.remove_pod_sandbox(str(uuid.uuid4()))
    cri.client.stop_container(str(uuid.uuid4()), 0)
    cri.client.remove_container(str(uuid.uuid4()))


def test_stop_pod_sandbox_twice(cri: CriEnv) -> None:
    pod_id = cri.client.run_pod_sandbox(cri.pod_config(unique("idempotence-pod-")))
    for _ in range(2):
        cri.client.stop_pod_sandbox(pod_id)
        status = cri.client.pod_sandbox_status(pod_id).status
        assert status.state == pb.PodSandboxState.SANDBOX_NOTREADY
    cri.client.remove_pod_sandbox(pod_id)


def test_stop_then_remove_container_twice(cri: CriEnv) -> None:
    with sandbox(cri, "idempotence-") as pod:
        container_id = start(cri, pod, "idempotence-container-")
        cri.client.stop_container(container_id, 60)
        assert cri.client.container_status(container_id).status.state == \
            pb.ContainerState.CONTAINER_EXITED
        cri.client.remove_container(container_id)
        cri.client.remove_container(container_id)


# -- Streaming list (the Stream* RPCs of cri-api 1.36) -------------------------------------

def test_streamed_pod_lists(cri: CriEnv) -> None:
    labels = {"stream-test": "yes"}
    with sandbox(cri, "stream-list-pod-", labels=labels) as (pod_id, _):
        ids = [p.id for p in cri.client.stream_pod_sandboxes(pb.PodSandboxFilter(id=pod_id))]
        assert ids == [pod_id]
        ready = pb.PodSandboxFilter(state=pb.PodSandboxStateValue(
            state=pb.PodSandboxState.SANDBOX_READY))
        assert pod_id in [p.id for p in cri.client.stream_pod_sandboxes(ready)]
        by_label = pb.PodSandboxFilter(label_selector=labels)
        assert pod_id in [p.id for p in cri.client.stream_pod_sandboxes(by_label)]
        wrong = pb.PodSandboxFilter(label_selector={"stream-test": "no"})
        assert pod_id not in [p.id for p in cri.client.stream_pod_sandboxes(wrong)]
        absent = pb.PodSandboxFilter(id="non-existent-id")
        assert list(cri.client.stream_pod_sandboxes(absent)) == []
        stats = [s for chunk in cri.client.runtime.StreamPodSandboxStats(
            pb.StreamPodSandboxStatsRequest(filter=pb.PodSandboxStatsFilter(id=pod_id)),
            timeout=30) for s in chunk.pod_sandbox_stats]
        assert [s.attributes.id for s in stats] == [pod_id]
        metrics = [m for chunk in cri.client.runtime.StreamPodSandboxMetrics(
            pb.StreamPodSandboxMetricsRequest(), timeout=30) for m in chunk.pod_sandbox_metrics]
        assert pod_id in [m.pod_sandbox_id for m in metrics]


def test_streamed_container_lists(cri: CriEnv) -> None:
    labels = {"stream-stats": "yes"}
    with sandbox(cri, "stream-list-ctr-") as pod:
        running = start(cri, pod, "stream-list-ctr-state-", labels=labels)
        created = [create(cri, pod, f"stream-list-multi-{n}-") for n in range(3)]
        in_pod = [c.id for c in cri.client.stream_containers(
            pb.ContainerFilter(pod_sandbox_id=pod[0]))]
        assert set(in_pod) == {running, *created}
        state = pb.ContainerFilter(state=pb.ContainerStateValue(
            state=pb.ContainerState.CONTAINER_RUNNING))
        assert running in [c.id for c in cri.client.stream_containers(state)]
        cri.client.remove_container(created[0])
        gone = pb.ContainerFilter(id=created[0])
        assert list(cri.client.stream_containers(gone)) == []
        stats = [s.attributes.id for chunk in cri.client.runtime.StreamContainerStats(
            pb.StreamContainerStatsRequest(filter=pb.ContainerStatsFilter(
                label_selector=labels)), timeout=30) for s in chunk.container_stats]
        assert running in stats
        stats = [s.attributes.id for chunk in cri.client.runtime.StreamContainerStats(
            pb.StreamContainerStatsRequest(filter=pb.ContainerStatsFilter(
                label_selector={"stream-stats": "no"})), timeout=30)
            for s in chunk.container_stats]
        assert running not in stats


def test_unknown_rpc_errors_are_grpc_errors(cri: CriEnv) -> None:
    # critest treats any failure of these calls as fatal; an absent id must be NOT_FOUND.
    with pytest.raises(grpc.RpcError) as caught:
        cri.client.pod_sandbox_status("no-such-pod")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
