"""cAdvisor-style container metrics for ListMetricDescriptors / ListPodSandboxMetrics.

kubelet turns these into its /metrics/cadvisor endpoint when it takes pod and container
stats from the runtime: each descriptor names a metric and its label keys, and each value
carries the label values in the same order. Names, help texts and labels follow the ones
cAdvisor has always exported, so dashboards keep working. CRI values are unsigned integers:
seconds are whole seconds.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from pycri.api.cri import pb
from pycri.cri import stats_cgroup, stats_detail, stats_net, stats_proc
from pycri.cri.records import ContainerRecord, SandboxRecord
from pycri.cri.stats_cgroup import CgroupDirs, Sample
from pycri.cri.stats_detail import Detail, DeviceNames
from pycri.cri.stats_proc import ProcessCounts

log = logging.getLogger(__name__)

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
    _d("container_cpu_cfs_periods_total", "Count of CFS enforcement periods that have elapsed.",
       COUNTER),
    _d("container_cpu_cfs_throttled_periods_total", "Count of CFS enforcement periods in which "
       "the container was throttled.", COUNTER),
    _d("container_cpu_cfs_throttled_seconds_total", "Cumulative time the container spent "
       "throttled by CFS, in seconds.", COUNTER),
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
    _d("container_memory_failcnt", "Count of times memory usage reached the limit.", COUNTER),
    _d("container_memory_kernel_usage", "Kernel memory charged to the container, in bytes.",
       GAUGE),
    _d("container_memory_mapped_file", "Bytes of memory-mapped files.", GAUGE),
    _d("container_memory_max_usage_bytes", "Highest memory usage seen, in bytes.", GAUGE),
    _d("container_oom_events_total", "Count of out of memory events observed for the "
       "container", COUNTER),
]
SPEC = [
    _d("container_spec_cpu_period", "CFS period of the container, in microseconds.", GAUGE),
    _d("container_spec_cpu_shares", "CPU shares of the container.", GAUGE),
    _d("container_spec_memory_limit_bytes", "Memory limit for the container.", GAUGE),
    _d("container_spec_memory_swap_limit_bytes", "Memory plus swap limit for the container, in "
       "bytes (0: none).", GAUGE),
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
    _d("container_fs_limit_bytes", "Size in bytes of the filesystem holding the container's "
       "writable layer.", GAUGE, "device"),
    _d("container_fs_inodes_total", "Inodes of the filesystem holding the container's "
       "writable layer.", GAUGE, "device"),
    _d("container_fs_inodes_free", "Free inodes of the filesystem holding the container's "
       "writable layer.", GAUGE, "device"),
    _d("container_fs_reads_bytes_total", "Cumulative bytes read from the device.", COUNTER,
       "device"),
    _d("container_fs_reads_total", "Cumulative reads completed on the device.", COUNTER,
       "device"),
    _d("container_fs_writes_bytes_total", "Cumulative bytes written to the device.", COUNTER,
       "device"),
    _d("container_fs_writes_total", "Cumulative writes completed on the device.", COUNTER,
       "device"),
    _d("container_blkio_device_usage_total", "Cumulative block I/O bytes by device and "
       "operation.", COUNTER, "device", "major", "minor", "operation"),
]
PROCESS = [
    _d("container_processes", "Number of processes running inside the container.", GAUGE),
    _d("container_threads", "Number of threads running inside the container.", GAUGE),
    _d("container_threads_max", "Most tasks the container may hold (0: no limit).", GAUGE),
    _d("container_file_descriptors", "Open file descriptors of the container's processes.",
       GAUGE),
    _d("container_sockets", "Open sockets of the container's processes.", GAUGE),
    _d("container_start_time_seconds", "Start time of the container since unix epoch in "
       "seconds.", GAUGE),
    _d("container_last_seen", "When the runtime last saw the container, in seconds since the "
       "unix epoch.", GAUGE),
]
PRESSURE = [
    _d(f"container_pressure_{res}_{kind}_seconds_total",
       f"Total time duration tasks in the container have {verb} due to {res} congestion.",
       COUNTER)
    for res in ("cpu", "memory", "io")
    for kind, verb in (("waiting", "waited"), ("stalled", "stalled"))
]
DESCRIPTORS = CPU + MEMORY + SPEC + NETWORK + FILESYSTEM + PROCESS + PRESSURE
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
    if s.memory_usage is not None:
        # The memory controller answered, so no limit means unlimited: 0, as cAdvisor says it.
        em.add("container_spec_memory_limit_bytes", s.memory_limit or 0)
    em.add("container_oom_events_total", s.oom_kills)
    for res, entries in s.psi.items():
        for kind, label in (("some", "waiting"), ("full", "stalled")):
            entry = entries.get(kind)
            if entry is not None:
                em.add(f"container_pressure_{res}_{label}_seconds_total",
                       entry.total_us // 1_000_000)


def detail_metrics(em: _Emitter, d: Detail, devices: DeviceNames) -> None:
    em.add("container_cpu_cfs_periods_total", d.cfs_periods)
    em.add("container_cpu_cfs_throttled_periods_total", d.cfs_throttled_periods)
    em.add("container_cpu_cfs_throttled_seconds_total", _seconds(d.cfs_throttled_ns))
    em.add("container_memory_failcnt", d.memory_failcnt)
    em.add("container_memory_kernel_usage", d.memory_kernel)
    em.add("container_memory_mapped_file", d.memory_mapped_file)
    em.add("container_memory_max_usage_bytes", d.memory_max_usage)
    em.add("container_spec_cpu_period", d.spec_cpu_period)
    em.add("container_spec_cpu_shares", d.spec_cpu_shares)
    em.add("container_spec_memory_swap_limit_bytes", d.spec_swap_limit)
    em.add("container_threads_max", d.threads_max)
    for device, io in sorted(d.io.items()):
        name = devices.name(device)
        em.add("container_fs_reads_bytes_total", io.read_bytes, name)
        em.add("container_fs_reads_total", io.reads, name)
        em.add("container_fs_writes_bytes_total", io.write_bytes, name)
        em.add("container_fs_writes_total", io.writes, name)
        major, minor = str(device[0]), str(device[1])
        em.add("container_blkio_device_usage_total", io.read_bytes, name, major, minor, "Read")
        em.add("container_blkio_device_usage_total", io.write_bytes, name, major, minor,
               "Write")


def process_metrics(em: _Emitter, counts: ProcessCounts) -> None:
    # Processes from cgroup.procs: pids.current would count threads too.
    em.add("container_processes", counts.processes)
    em.add("container_threads", counts.threads)
    em.add("container_file_descriptors", counts.file_descriptors)
    em.add("container_sockets", counts.sockets)


def _cgroup_families(em: _Emitter, collector: Any, dirs: CgroupDirs | None) -> None:
    if dirs is None:
        return
    cgroup_metrics(em, stats_cgroup.sample(dirs, collector.psi, full=True))
    detail_metrics(em, stats_detail.detail(dirs), collector.devices)
    process_metrics(em, stats_proc.sample(dirs))
    em.add("container_last_seen", time.time_ns() // _NS)


def network_metrics(em: _Emitter, counters: stats_net.Counters) -> None:
    for name, c in sorted(counters.items()):
        for direction, prefix in (("receive", "rx"), ("transmit", "tx")):
            base = f"container_network_{direction}_"
            em.add(base + "bytes_total", c.get(f"{prefix}_bytes"), name)
            em.add(base + "packets_total", c.get(f"{prefix}_packets"), name)
            em.add(base + "packets_dropped_total", c.get(f"{prefix}_dropped"), name)
            em.add(base + "errors_total", c.get(f"{prefix}_errors"), name)


def filesystem_metrics(em: _Emitter, collector: Any, container_id: str) -> None:
    """The writable layer's usage, and the size and inodes of the filesystem it lives on."""
    images = collector.rt.images
    if images is None:
        return
    device = str(images.config.snapshots_root)
    layer = collector.writable_layer(container_id)
    if layer is not None:
        em.add("container_fs_usage_bytes", layer[0], device)
    try:
        fs = os.statvfs(device)
    except OSError as exc:
        log.debug("statvfs path=%s: %s", device, exc)
        return
    em.add("container_fs_limit_bytes", fs.f_blocks * fs.f_frsize, device)
    em.add("container_fs_inodes_total", fs.f_files, device)
    em.add("container_fs_inodes_free", fs.f_ffree, device)


def pod_metrics(collector: Any, record: SandboxRecord) -> Any:
    """pb.PodSandboxMetrics for one pod; runs on a worker thread."""
    out = pb.PodSandboxMetrics(pod_sandbox_id=record.id)
    dirs = collector.pod_dirs(record)
    em = _Emitter([record.name, record.namespace, "",
                   collector.cgroup_paths.get("pod/" + record.id, ""), ""], 0)
    running = collector.running_in(record.id)
    _cgroup_families(em, collector, dirs)
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
    dirs = collector.container_dirs(record)
    em = _Emitter([pod.name, pod.namespace, config.metadata.name,
                   collector.cgroup_paths.get(record.id, ""), image], 0)
    _cgroup_families(em, collector, dirs)
    filesystem_metrics(em, collector, record.id)
    if record.status.started_at:
        em.add("container_start_time_seconds", record.status.started_at // _NS)
    return pb.ContainerMetrics(container_id=record.id, metrics=em.out)
