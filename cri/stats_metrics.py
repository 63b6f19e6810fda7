"""cAdvisor-style container metrics for ListMetricDescriptors / ListPodSandboxMetrics.

kubelet turns these into its /metrics/cadvisor endpoint when it takes pod and container
stats from the runtime: each descriptor names a metric and its label keys, and each value
carries the label values in the same order. Names, help texts and labels follow the ones
cAdvisor has always exported, so dashboards keep working. CRI values are unsigned integers:
seconds are whole seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pycri.api.cri import pb
from pycri.cri import stats_net
from pycri.cri.records import ContainerRecord, SandboxRecord
from pycri.cri.stats_cgroup import Sample

COUNTER = pb.MetricType.COUNTER
GAUGE = pb.MetricType.GAUGE
BASE_LABELS = ("pod", "namespace", "container", "id", "image")
_NS = 1_000_000_000


@dataclass(frozen=True)
class Descriptor:
    name: str
    help: str
    kind: Any
    extra_labels: tuple[str, ...] = ()

    @property
    def label_keys(self) -> list[str]:
        return [*BASE_LABELS, *self.extra_labels]


def _d(name: str, help_text: str, kind: Any, *extra: str) -> Descriptor:
    return Descriptor(name, help_text, kind, extra)


CPU = [
    _d("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.",
       COUNTER, "cpu"),
    _d("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.",
       COUNTER),
    _d("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.",
       COUNTER),
]
MEMORY = [
    _d("container_memory_usage_bytes", "Current memory usage in bytes, including all memory "
       "regardless of when it was accessed", GAUGE),
    _d("container_memory_working_set_bytes", "Current working set in bytes.", GAUGE),
    _d("container_memory_rss", "Size of RSS in bytes.", GAUGE),
    _d("container_memory_cache", "Number of bytes of page cache memory.", GAUGE),
    _d("container_memory_swap", "Container swap usage in bytes.", GAUGE),
    _d("container_memory_failures_total", "Cumulative count of memory allocation failures.",
       COUNTER, "failure_type", "scope"),
    _d("container_spec_memory_limit_bytes", "Memory limit for the container.", GAUGE),
    _d("container_oom_events_total", "Count of out of memory events observed for the "
       "container", COUNTER),
]
NETWORK = [
    _d(f"container_network_{direction}_{what}_total", f"Cumulative count of {text}", COUNTER,
       "interface")
    for direction, verb in (("receive", "receiving"), ("transmit", "transmitting"))
    for what, text in (
        ("bytes", "bytes " + ("received" if direction == "receive" else "transmitted")),
        ("packets", "packets " + ("received" if direction == "receive" else "transmitted")),
        ("packets_dropped", f"packets dropped while {verb}"),
        ("errors", f"errors encountered while {verb}"),
    )
]
FILESYSTEM = [
    _d("container_fs_usage_bytes", "Number of bytes that are consumed by the container on "
       "this filesystem.", GAUGE, "device"),
    _d("container_fs_inodes_total", "Number of inodes used by the container on this "
       "filesystem.", GAUGE, "device"),
]
PROCESS = [
    _d("container_processes", "Number of processes running inside the container.", GAUGE),
    _d("container_start_time_seconds", "Start time of the container since unix epoch in "
       "seconds.", GAUGE),
]
PRESSURE = [
    _d(f"container_pressure_{res}_{kind}_seconds_total",
       f"Total time duration tasks in the container have {verb} due to {res} congestion.",
       COUNTER)
    for res in ("cpu", "memory", "io")
    for kind, verb in (("waiting", "waited"), ("stalled", "stalled"))
]
DESCRIPTORS = CPU + MEMORY + NETWORK + FILESYSTEM + PROCESS + PRESSURE
BY_NAME = {d.name: d for d in DESCRIPTORS}


def descriptors() -> list[Any]:
    return [pb.MetricDescriptor(name=d.name, help=d.help, label_keys=d.label_keys)
            for d in DESCRIPTORS]


class _Emitter:
    """Collects Metric messages for one object with its base label values."""

    def __init__(self, base: list[str], timestamp: int) -> None:
        self.base = base
        self.timestamp = timestamp
        self.out: list[Any] = []

    def add(self, name: str, value: int | None, *extra: str) -> None:
        if value is None:
            return
        d = BY_NAME[name]
        self.out.append(pb.Metric(name=name, timestamp=self.timestamp, metric_type=d.kind,
                                  label_values=[*self.base, *extra],
                                  value=pb.UInt64Value(value=max(int(value), 0))))


def _seconds(ns: int | None) -> int | None:
    return None if ns is None else ns // _NS


def cgroup_metrics(em: _Emitter, s: Sample) -> None:
    em.add("container_cpu_usage_seconds_total", _seconds(s.cpu_ns), "total")
    em.add("container_cpu_user_seconds_total", _seconds(s.cpu_user_ns))
    em.add("container_cpu_system_seconds_total", _seconds(s.cpu_system_ns))
    em.add("container_memory_usage_bytes", s.memory_usage)
    em.add("container_memory_working_set_bytes", s.working_set)
    em.add("container_memory_rss", s.rss)
    em.add("container_memory_cache", s.cache)
    em.add("container_memory_swap", s.swap_usage)
    em.add("container_memory_failures_total", s.pgfault, "pgfault", "container")
    em.add("container_memory_failures_total", s.pgmajfault, "pgmajfault", "container")
    em.add("container_spec_memory_limit_bytes", s.memory_limit)
    em.add("container_oom_events_total", s.oom_kills)
    em.add("container_processes", s.pids)
    for res, entries in s.psi.items():
        for kind, label in (("some", "waiting"), ("full", "stalled")):
            entry = entries.get(kind)
            if entry is not None:
                em.add(f"container_pressure_{res}_{label}_seconds_total",
                       entry.total_us // 1_000_000)


def network_metrics(em: _Emitter, counters: stats_net.Counters) -> None:
    for name, c in sorted(counters.items()):
        for direction, prefix in (("receive", "rx"), ("transmit", "tx")):
            base = f"container_network_{direction}_"
            em.add(base + "bytes_total", c.get(f"{prefix}_bytes"), name)
            em.add(base + "packets_total", c.get(f"{prefix}_packets"), name)
            em.add(base + "packets_dropped_total", c.get(f"{prefix}_dropped"), name)
            em.add(base + "errors_total", c.get(f"{prefix}_errors"), name)


def pod_metrics(collector: Any, record: SandboxRecord) -> Any:
    """pb.PodSandboxMetrics for one pod; runs on a worker thread."""
    out = pb.PodSandboxMetrics(pod_sandbox_id=record.id)
    dirs = collector.pod_dirs(record)
    em = _Emitter([record.name, record.namespace, "",
                   collector.cgroup_paths.get("pod/" + record.id, ""), ""], 0)
    running = collector.running_in(record.id)
    if dirs is not None:
        from pycri.cri.stats_cgroup import sample

        cgroup_metrics(em, sample(dirs, collector.psi, full=True))
    if not record.status.host_network:
        counters = stats_net.pod_counters([c.status.pid for c in running],
                                          record.status.netns_path)
        if counters:
            network_metrics(em, counters)
    out.metrics.extend(em.out)
    for container in running:
        out.container_metrics.append(container_metrics(collector, record, container))
    return out


def container_metrics(collector: Any, pod: SandboxRecord, record: ContainerRecord) -> Any:
    config = pb.ContainerConfig.FromString(record.config)
    image = record.status.image_name or config.image.image
    sample = collector.sample_container(record, full=True)
    em = _Emitter([pod.name, pod.namespace, config.metadata.name,
                   collector.cgroup_paths.get(record.id, ""), image], 0)
    if sample is not None:
        cgroup_metrics(em, sample)
    layer = collector.writable_layer(record.id)
    if layer is not None:
        device = str(collector.rt.images.config.snapshots_root)
        em.add("container_fs_usage_bytes", layer[0], device)
        em.add("container_fs_inodes_total", layer[1], device)
    if record.status.started_at:
        em.add("container_start_time_seconds", record.status.started_at // _NS)
    return pb.ContainerMetrics(container_id=record.id, metrics=em.out)
