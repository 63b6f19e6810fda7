"""Container and pod resource usage for the CRI stats RPCs.

`StatsCollector` keeps what stays the same between kubelet's polls (each cgroup's
directories, each object's CRI attributes) and the previous CPU reading per cgroup, from
which `usage_nano_cores` is the rate over at least `MIN_RATE_WINDOW_NS`. All file reading
happens on one worker thread per RPC, so the event loop never waits on cgroupfs.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from pycri.api.cri import pb
from pycri.cri import filters, stats_cgroup, stats_net
from pycri.cri.pod_cgroup import container_cgroup, pod_cgroup
from pycri.cri.records import ContainerRecord, ContainerState, SandboxRecord
from pycri.cri.stats_cgroup import CgroupDirs, PsiSwitch, Sample
from pycri.cri.stats_detail import DeviceNames

log = logging.getLogger(__name__)

# A rate over a shorter window is mostly noise; a closer poll repeats the last rate.
MIN_RATE_WINDOW_NS = 1_000_000_000
# Walking a writable layer costs a directory scan; kubelet polls every ~10 s.
LAYER_CACHE_S = 5.0


@dataclass
class _CpuPoint:
    timestamp_ns: int
    usage_ns: int
    rate: int | None


@dataclass
class PodSample:
    cgroup: Sample | None
    network: stats_net.Counters | None
    network_ts: int
    containers: list[Any]  # pb.ContainerStats


def _u64(value: int | None) -> Any:
    return None if value is None else pb.UInt64Value(value=max(int(value), 0))


def _psi(entries: dict[str, stats_cgroup.Psi] | None) -> Any:
    if not entries:
        return None
    out = pb.PsiStats()
    for kind, target in (("full", out.Full), ("some", out.Some)):
        p = entries.get(kind)
        if p is not None:
            # The kernel counts microseconds; CRI carries nanoseconds.
            target.Total, target.Avg10 = p.total_us * 1000, p.avg10
            target.Avg60, target.Avg300 = p.avg60, p.avg300
    return out


class StatsCollector:
    def __init__(self, rt: Any, *, layer_cache_s: float = LAYER_CACHE_S) -> None:
        self.rt = rt
        self.psi = PsiSwitch()
        # Block device names for the metrics' `device` label.
        self.devices = DeviceNames()
        self.layer_cache_s = layer_cache_s
        self._dirs: dict[str, CgroupDirs | None] = {}
        # cgroupsPath by container id (pods: "pod/<id>"), for the metrics' `id` label.
        self.cgroup_paths: dict[str, str] = {}
        self._cpu: dict[str, _CpuPoint] = {}
        self._layers: dict[str, tuple[float, int, int]] = {}
        self._attributes: dict[str, Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------ cgroups

    def container_dirs(self, record: ContainerRecord) -> CgroupDirs | None:
        key = record.id
        if key not in self._dirs:
            self.cgroup_paths[key] = path = self._container_path(record)
            self._dirs[key] = self._resolve(path, record.id)
        return self._dirs[key]

    def pod_dirs(self, record: SandboxRecord) -> CgroupDirs | None:
        key = "pod/" + record.id
        if key not in self._dirs:
            path = pod_cgroup(record.status.cgroup_parent, record.id)
            self.cgroup_paths[key] = path
            self._dirs[key] = self._resolve(path, record.id)
        return self._dirs[key]

    def _container_path(self, record: ContainerRecord) -> str:
        """linux.cgroupsPath from the bundle: what the runtime really used."""
        if record.status.bundle:
            try:
                with open(f"{record.status.bundle}/config.json", "rb") as f:
                    path = json.load(f).get("linux", {}).get("cgroupsPath", "")
                if path:
                    return str(path)
            except (OSError, ValueError):
                pass
        sandbox = self.rt.state.sandboxes.get(record.sandbox_id)
        parent = sandbox.status.cgroup_parent if sandbox is not None else ""
        return container_cgroup(parent, record.sandbox_id, record.id)

    def _resolve(self, path: str, owner: str) -> CgroupDirs | None:
        try:
            return stats_cgroup.resolve(path, owner, self.rt.config.cgroup_root)
        except Exception as exc:
            # The systemd driver or a missing hierarchy: report what else we know.
            log.debug("resolve cgroup path=%s owner=%s: %s", path, owner, exc)
            return None

    def nano_cores(self, key: str, sample: Sample) -> int | None:
        if sample.cpu_ns is None:
            return None
        with self._lock:
            prev = self._cpu.get(key)
            if prev is None or sample.cpu_ns < prev.usage_ns:
                self._cpu[key] = _CpuPoint(sample.timestamp_ns, sample.cpu_ns, None)
                return None
            elapsed = sample.timestamp_ns - prev.timestamp_ns
            if elapsed < MIN_RATE_WINDOW_NS:
                return prev.rate
            rate = (sample.cpu_ns - prev.usage_ns) * 1_000_000_000 // elapsed
            self._cpu[key] = _CpuPoint(sample.timestamp_ns, sample.cpu_ns, rate)
            return rate

    def forget(self, live: set[str]) -> None:
        """Drop cached state of containers and pods that are gone."""
        caches: list[dict[str, Any]] = [self._dirs, self.cgroup_paths, self._cpu, self._layers,
                                        self._attributes]
        for cache in caches:
            # list() first: a worker thread may add keys meanwhile.
            for key in [k for k in list(cache) if k.removeprefix("pod/") not in live]:
                cache.pop(key, None)

    # ------------------------------------------------------------ containers

    def writable_layer(self, container_id: str) -> tuple[int, int] | None:
        now = time.monotonic()
        cached = self._layers.get(container_id)
        if cached is not None and now - cached[0] < self.layer_cache_s:
            return cached[1], cached[2]
        images = self.rt.images
        if images is None:
            return None
        try:
            used, inodes = images.snapshotter.usage(container_id)
        except Exception as exc:
            log.debug("writable layer usage container_id=%s: %s", container_id, exc)
            return None
        self._layers[container_id] = (now, used, inodes)
        return used, inodes

    def container_attributes(self, record: ContainerRecord) -> Any:
        attrs = self._attributes.get(record.id)
        if attrs is None:
            config = pb.ContainerConfig.FromString(record.config)
            attrs = pb.ContainerAttributes(id=record.id, metadata=config.metadata,
                                           labels=config.labels, annotations=config.annotations)
            self._attributes[record.id] = attrs
        return attrs

    def sample_container(self, record: ContainerRecord, *, full: bool = False) -> Sample | None:
        if record.state not in (ContainerState.RUNNING, ContainerState.CREATED):
            return None
        dirs = self.container_dirs(record)
        return stats_cgroup.sample(dirs, self.psi, full=full) if dirs is not None else None

    def running_in(self, sandbox_id: str) -> list[ContainerRecord]:
        return [c for c in self.rt.state.containers.values()
                if c.sandbox_id == sandbox_id and c.state == ContainerState.RUNNING]

    def container_stats(self, record: ContainerRecord) -> Any:
        """pb.ContainerStats; runs on a worker thread."""
        out = pb.ContainerStats(attributes=self.container_attributes(record))
        sample = self.sample_container(record)
        if sample is not None:
            self._fill_cpu_memory(out, record.id, sample)
            if sample.swap_usage is not None:
                out.swap.CopyFrom(_swap(sample))
            psi = _psi(sample.psi.get("io"))
            if psi is not None:
                out.io.CopyFrom(pb.IoUsage(timestamp=sample.timestamp_ns, psi=psi))
        layer = self.writable_layer(record.id)
        if layer is not None:
            out.writable_layer.CopyFrom(pb.FilesystemUsage(
                timestamp=time.time_ns(), fs_id=pb.FilesystemIdentifier(
                    mountpoint=str(self.rt.images.config.snapshots_root)),
                used_bytes=_u64(layer[0]), inodes_used=_u64(layer[1])))
        return out

    def _fill_cpu_memory(self, out: Any, key: str, sample: Sample) -> None:
        if sample.cpu_ns is not None:
            out.cpu.CopyFrom(pb.CpuUsage(
                timestamp=sample.timestamp_ns, usage_core_nano_seconds=_u64(sample.cpu_ns),
                usage_nano_cores=_u64(self.nano_cores(key, sample)),
                psi=_psi(sample.psi.get("cpu"))))
        if sample.memory_usage is not None:
            out.memory.CopyFrom(_memory(sample))

    # ------------------------------------------------------------ pods

    def pod_attributes(self, record: SandboxRecord) -> Any:
        key = "pod/" + record.id
        attrs = self._attributes.get(key)
        if attrs is None:
            config = pb.PodSandboxConfig.FromString(record.config)
            attrs = pb.PodSandboxAttributes(id=record.id, metadata=config.metadata,
                                            labels=config.labels, annotations=config.annotations)
            self._attributes[key] = attrs
        return attrs

    def sample_pod(self, record: SandboxRecord) -> PodSample:
        containers = self.running_in(record.id)
        dirs = self.pod_dirs(record)
        cgroup = stats_cgroup.sample(dirs, self.psi, full=True) if dirs is not None else None
        network = None
        if not record.status.host_network:
            network = stats_net.pod_counters([c.status.pid for c in containers],
                                             record.status.netns_path)
        return PodSample(cgroup, network, time.time_ns(),
                         [self.container_stats(c) for c in containers])

    def pod_stats(self, record: SandboxRecord) -> Any:
        """pb.PodSandboxStats; runs on a worker thread."""
        got = self.sample_pod(record)
        linux = pb.LinuxPodSandboxStats(containers=got.containers)
        if got.cgroup is not None:
            self._fill_cpu_memory(linux, "pod/" + record.id, got.cgroup)
            if got.cgroup.pids is not None:
                linux.process.CopyFrom(pb.ProcessUsage(
                    timestamp=got.cgroup.timestamp_ns, process_count=_u64(got.cgroup.pids)))
            psi = _psi(got.cgroup.psi.get("io"))
            if psi is not None:
                linux.io.CopyFrom(pb.IoUsage(timestamp=got.cgroup.timestamp_ns, psi=psi))
        if got.network is not None:
            linux.network.CopyFrom(_network(got.network, got.network_ts))
        return pb.PodSandboxStats(attributes=self.pod_attributes(record), linux=linux)


def _memory(sample: Sample) -> Any:
    available = None
    if sample.memory_limit is not None and sample.working_set is not None:
        available = max(sample.memory_limit - sample.working_set, 0)
    return pb.MemoryUsage(
        timestamp=sample.timestamp_ns, working_set_bytes=_u64(sample.working_set),
        available_bytes=_u64(available), usage_bytes=_u64(sample.memory_usage),
        rss_bytes=_u64(sample.rss), page_faults=_u64(sample.pgfault),
        major_page_faults=_u64(sample.pgmajfault), psi=_psi(sample.psi.get("memory")))


def _swap(sample: Sample) -> Any:
    available = None
    if sample.swap_limit is not None and sample.swap_usage is not None:
        available = max(sample.swap_limit - sample.swap_usage, 0)
    return pb.SwapUsage(timestamp=sample.timestamp_ns, swap_usage_bytes=_u64(sample.swap_usage),
                        swap_available_bytes=_u64(available))


def _interface(name: str, c: dict[str, int]) -> Any:
    return pb.NetworkInterfaceUsage(
        name=name, rx_bytes=_u64(c.get("rx_bytes", 0)), rx_errors=_u64(c.get("rx_errors", 0)),
        tx_bytes=_u64(c.get("tx_bytes", 0)), tx_errors=_u64(c.get("tx_errors", 0)))


def _network(counters: stats_net.Counters, timestamp: int) -> Any:
    out = pb.NetworkUsage(timestamp=timestamp)
    default = stats_net.default_interface(counters)
    if default:
        out.default_interface.CopyFrom(_interface(default, counters[default]))
    out.interfaces.extend(_interface(n, c) for n, c in sorted(counters.items()))
    return out


def container_matches(record: ContainerRecord, flt: Any) -> bool:
    """ContainerStatsFilter: id and pod id by prefix, labels exactly."""
    return filters.matches(flt, record_id=record.id, sandbox_id=record.sandbox_id,
                           labels=lambda: pb.ContainerConfig.FromString(record.config).labels)


def pod_matches(record: SandboxRecord, flt: Any) -> bool:
    return filters.matches(flt, record_id=record.id,
                           labels=lambda: pb.PodSandboxConfig.FromString(record.config).labels)
