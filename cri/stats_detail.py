"""cgroup readings only the metrics RPCs want: CFS throttling, memory extras, spec values,
block I/O per device.

ListContainerStats never calls this (kubelet polls it for every container and it is
benchmarked); ListPodSandboxMetrics reads these files on top of the stats sample. Spec values
follow the CRI meaning on both layouts: the swap limit is memory plus swap (v1 memsw), the
shares are v1 shares (v2 weights converted back), and "no limit" reads as 0.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field

from pycri.cri.stats_cgroup import CgroupDirs, parse_keyed, read_file, read_int

_V1_UNLIMITED = 1 << 62
# v2 cpu.weight spans 1..10000 where v1 cpu.shares span 2..262144.
_MIN_SHARES, _MAX_SHARES, _MAX_WEIGHT = 2, 262144, 10000


@dataclass
class DeviceIo:
    read_bytes: int = 0
    write_bytes: int = 0
    reads: int = 0
    writes: int = 0


@dataclass
class Detail:
    """One reading of the metrics-only numbers; None where the kernel offered none."""

    cfs_periods: int | None = None
    cfs_throttled_periods: int | None = None
    cfs_throttled_ns: int | None = None
    memory_failcnt: int | None = None
    memory_kernel: int | None = None
    memory_mapped_file: int | None = None
    memory_max_usage: int | None = None
    spec_cpu_period: int | None = None
    spec_cpu_shares: int | None = None
    spec_swap_limit: int | None = None
    threads_max: int | None = None
    # (major, minor) → counters
    io: dict[tuple[int, int], DeviceIo] = field(default_factory=dict)


def read_limit(path: str) -> int | None:
    """A limit file: None when absent, 0 for "max" or the v1 unlimited number."""
    data = read_file(path)
    if data is None:
        return None
    text = data.strip()
    if text == b"max":
        return 0
    try:
        value = int(text)
    except ValueError:
        return None
    return 0 if value < 0 or value >= _V1_UNLIMITED else value


def detail(dirs: CgroupDirs) -> Detail:
    out = Detail()
    if dirs.version == 2:
        _detail_v2(dirs.unified, out)
    else:
        _detail_v1(dirs, out)
    if dirs.pids:
        out.threads_max = read_limit(f"{dirs.pids}/pids.max")
    return out


def _detail_v1(dirs: CgroupDirs, out: Detail) -> None:
    if dirs.cpu_ctl:
        cpu = parse_keyed(read_file(f"{dirs.cpu_ctl}/cpu.stat"))
        out.cfs_periods = cpu.get(b"nr_periods")
        out.cfs_throttled_periods = cpu.get(b"nr_throttled")
        out.cfs_throttled_ns = cpu.get(b"throttled_time")
        out.spec_cpu_period = read_int(f"{dirs.cpu_ctl}/cpu.cfs_period_us")
        out.spec_cpu_shares = read_int(f"{dirs.cpu_ctl}/cpu.shares")
    d = dirs.memory
    if d:
        out.memory_failcnt = read_int(f"{d}/memory.failcnt")
        out.memory_kernel = read_int(f"{d}/memory.kmem.usage_in_bytes")
        out.memory_max_usage = read_int(f"{d}/memory.max_usage_in_bytes")
        st = parse_keyed(read_file(f"{d}/memory.stat"))
        out.memory_mapped_file = st.get(b"total_mapped_file", st.get(b"mapped_file"))
        out.spec_swap_limit = read_limit(f"{d}/memory.memsw.limit_in_bytes")
    if dirs.blkio:
        out.io = _v1_io(dirs.blkio)


def _v1_io(d: str) -> dict[tuple[int, int], DeviceIo]:
    out: dict[tuple[int, int], DeviceIo] = {}
    # The throttle files count every bio whatever the I/O scheduler; the recursive ones
    # include child cgroups as the v2 numbers do.
    for name, attrs in (("io_service_bytes", ("read_bytes", "write_bytes")),
                        ("io_serviced", ("reads", "writes"))):
        data = read_file(f"{d}/blkio.throttle.{name}_recursive")
        if data is None:
            data = read_file(f"{d}/blkio.throttle.{name}")
        for line in (data or b"").splitlines():
            parts = line.split()
            if len(parts) != 3 or parts[1] not in (b"Read", b"Write"):
                continue
            device = _device(parts[0])
            if device is None:
                continue
            entry = out.setdefault(device, DeviceIo())
            attr = attrs[0] if parts[1] == b"Read" else attrs[1]
            try:
                setattr(entry, attr, int(parts[2]))
            except ValueError:
                continue
    return out


def _detail_v2(d: str, out: Detail) -> None:
    if not d:
        return
    cpu = parse_keyed(read_file(f"{d}/cpu.stat"))
    out.cfs_periods = cpu.get(b"nr_periods")
    out.cfs_throttled_periods = cpu.get(b"nr_throttled")
    throttled = cpu.get(b"throttled_usec")
    out.cfs_throttled_ns = None if throttled is None else throttled * 1000
    cpu_max = read_file(f"{d}/cpu.max")
    if cpu_max is not None:
        fields = cpu_max.split()
        if len(fields) == 2 and fields[1].isdigit():
            out.spec_cpu_period = int(fields[1])
    weight = read_int(f"{d}/cpu.weight")
    if weight is not None:
        out.spec_cpu_shares = weight_to_shares(weight)
    events = parse_keyed(read_file(f"{d}/memory.events"))
    # Each time usage hit memory.max: the nearest v2 number to the v1 failcnt.
    out.memory_failcnt = events.get(b"max")
    st = parse_keyed(read_file(f"{d}/memory.stat"))
    if b"kernel" in st:
        out.memory_kernel = st[b"kernel"]
    elif b"kernel_stack" in st or b"slab" in st:
        out.memory_kernel = st.get(b"kernel_stack", 0) + st.get(b"slab", 0)
    out.memory_mapped_file = st.get(b"file_mapped")
    # memory.peak arrived in Linux 5.19; older kernels keep no high-water mark.
    out.memory_max_usage = read_int(f"{d}/memory.peak")
    out.spec_swap_limit = _v2_swap_limit(d)
    out.io = _v2_io(read_file(f"{d}/io.stat"))


def _v2_swap_limit(d: str) -> int | None:
    """CRI's swap limit is memory plus swap (v1 memsw); v2 limits swap alone."""
    swap = read_file(f"{d}/memory.swap.max")
    memory = read_limit(f"{d}/memory.max")
    if swap is None or memory is None:
        return None
    if swap.strip() == b"max" or memory == 0:
        return 0
    try:
        return memory + int(swap)
    except ValueError:
        return None


def _v2_io(data: bytes | None) -> dict[tuple[int, int], DeviceIo]:
    out: dict[tuple[int, int], DeviceIo] = {}
    for line in (data or b"").splitlines():
        parts = line.split()
        device = _device(parts[0]) if parts else None
        if device is None:
            continue
        values = parse_keyed(b"\n".join(p.replace(b"=", b" ") for p in parts[1:]))
        out[device] = DeviceIo(read_bytes=values.get(b"rbytes", 0),
                               write_bytes=values.get(b"wbytes", 0),
                               reads=values.get(b"rios", 0), writes=values.get(b"wios", 0))
    return out


def _device(text: bytes) -> tuple[int, int] | None:
    major, sep, minor = text.partition(b":")
    if not sep or not major.isdigit() or not minor.isdigit():
        return None
    return int(major), int(minor)


def weight_to_shares(weight: int) -> int:
    """Inverse of the runtime's shares → weight curve, so v2 reports the shares asked for.

    The runtime sets weight = 10^((l^2 + 125*l)/612 - 7/34) with l = log2(shares); solving the
    quadratic for l gives the shares back (to within the rounding of the forward step).
    """
    weight = min(max(weight, 1), _MAX_WEIGHT)
    c = 612 * (math.log10(weight) + 7 / 34)
    lg = (-125 + math.sqrt(125 * 125 + 4 * c)) / 2
    return min(max(round(2**lg), _MIN_SHARES), _MAX_SHARES)


class DeviceNames:
    """major:minor → /dev name from sysfs, remembered (block devices rarely change)."""

    def __init__(self, sys_root: str = "/sys") -> None:
        self.sys_root = sys_root
        self._names: dict[tuple[int, int], str] = {}
        self._lock = threading.Lock()

    def name(self, device: tuple[int, int]) -> str:
        with self._lock:
            known = self._names.get(device)
        if known is not None:
            return known
        name = f"{device[0]}:{device[1]}"
        data = read_file(f"{self.sys_root}/dev/block/{name}/uevent")
        for line in (data or b"").splitlines():
            key, _, value = line.partition(b"=")
            if key == b"DEVNAME" and value:
                name = os.path.join("/dev", value.decode(errors="replace"))
        with self._lock:
            self._names[device] = name
        return name
