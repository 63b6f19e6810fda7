"""The few cgroup files CRI stats need, read straight from cgroupfs by the daemon.

kubelet polls ListContainerStats for every container every few seconds, so this reads only
what the CRI messages carry (about eight small files per cgroup) with raw os.open/os.read,
instead of the runtime's full `stats()` (which also walks io, hugetlb and limits) or a shim
round trip per container. Directories are resolved once per cgroup through the cgroups
package's `manager_for`, with the daemon's cgroup root.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from dataclasses import dataclass, field

from pycri.runtime.oci.cgroups import manager_for
from pycri.runtime.oci.cgroups.stats import working_set

log = logging.getLogger(__name__)

_READ_MAX = 64 * 1024
# v1 reports "no limit" as a huge page-aligned number.
_V1_UNLIMITED = 1 << 62
_PSI_RESOURCES = ("cpu", "memory", "io")


@dataclass(frozen=True)
class CgroupDirs:
    """Where one cgroup's files are: v1 per controller, v2 (or hybrid PSI) in `unified`."""

    version: int
    cpu: str = ""
    memory: str = ""
    pids: str = ""
    unified: str = ""  # v2 dir; on hybrid hosts the unified dir (PSI only)
    cpu_ctl: str = ""  # v1 `cpu` controller (CFS numbers and spec); `cpu` above is cpuacct
    blkio: str = ""


@dataclass
class Psi:
    total_us: int = 0
    avg10: float = 0.0
    avg60: float = 0.0
    avg300: float = 0.0


@dataclass
class Sample:
    """One reading of a cgroup; None where the kernel offered no number."""

    timestamp_ns: int
    cpu_ns: int | None = None
    cpu_user_ns: int | None = None
    cpu_system_ns: int | None = None
    memory_usage: int | None = None
    memory_limit: int | None = None
    working_set: int | None = None
    rss: int | None = None
    cache: int | None = None
    pgfault: int | None = None
    pgmajfault: int | None = None
    swap_usage: int | None = None
    swap_limit: int | None = None
    oom_kills: int | None = None
    pids: int | None = None
    # {"cpu"|"memory"|"io": {"some"|"full": Psi}}
    psi: dict[str, dict[str, Psi]] = field(default_factory=dict)


def resolve(cgroups_path: str, owner_id: str, cgroup_root: str) -> CgroupDirs:
    """Directories of the cgroup at `cgroups_path` (absolute, as pycri writes it)."""
    paths = manager_for(cgroups_path, owner_id, root=cgroup_root).paths()
    unified = paths.get("", "")
    if "memory" not in paths and "cpuacct" not in paths and "cpu" not in paths:
        return CgroupDirs(version=2, cpu=unified, memory=unified, pids=unified, unified=unified,
                          cpu_ctl=unified, blkio=unified)
    return CgroupDirs(version=1, cpu=paths.get("cpuacct", ""), memory=paths.get("memory", ""),
                      pids=paths.get("pids", ""), unified=unified,
                      cpu_ctl=paths.get("cpu", ""), blkio=paths.get("blkio", ""))


def read_file(path: str) -> bytes | None:
    """Whole small file, or None when absent (cgroup gone) or the feature is off."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, _READ_MAX)
    except OSError as exc:
        # EOPNOTSUPP: PSI compiled in but switched off; ENODEV: cgroup removed meanwhile.
        if exc.errno not in (errno.EOPNOTSUPP, errno.ENODEV, errno.ENOENT):
            log.debug("read cgroup file path=%s err=%s", path, exc)
        return None
    finally:
        os.close(fd)


def read_int(path: str) -> int | None:
    data = read_file(path)
    if data is None:
        return None
    text = data.strip()
    if not text or text == b"max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def parse_keyed(data: bytes | None) -> dict[bytes, int]:
    """`key value` lines (memory.stat, cpu.stat); keys stay bytes to skip decoding."""
    out: dict[bytes, int] = {}
    if not data:
        return out
    for line in data.splitlines():
        key, _, value = line.partition(b" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def parse_psi(data: bytes | None) -> dict[str, Psi]:
    out: dict[str, Psi] = {}
    if not data:
        return out
    for line in data.splitlines():
        parts = line.split()
        if not parts or parts[0] not in (b"some", b"full"):
            continue
        entry = Psi()
        for item in parts[1:]:
            key, _, value = item.partition(b"=")
            try:
                if key == b"total":
                    entry.total_us = int(value)
                elif key == b"avg10":
                    entry.avg10 = float(value)
                elif key == b"avg60":
                    entry.avg60 = float(value)
                elif key == b"avg300":
                    entry.avg300 = float(value)
            except ValueError:
                continue
        out[parts[0].decode()] = entry
    return out


class PsiSwitch:
    """Remembers a host without PSI so later samples skip three failing reads each."""

    def __init__(self) -> None:
        self.enabled = True

    def read(self, directory: str) -> dict[str, dict[str, Psi]]:
        if not self.enabled or not directory:
            return {}
        out: dict[str, dict[str, Psi]] = {}
        for resource in _PSI_RESOURCES:
            data = read_file(f"{directory}/{resource}.pressure")
            if data is None:
                if resource == "cpu" and os.path.isdir(directory):
                    # The cgroup exists but has no PSI: the kernel lacks or disables it.
                    self.enabled = False
                    log.info("pressure stall information unavailable; not reading it dir=%s",
                             directory)
                return out
            out[resource] = parse_psi(data)
        return out


def sample(dirs: CgroupDirs, psi: PsiSwitch | None = None, *, full: bool = False) -> Sample:
    """Read the cgroup once; `full` adds what only pod stats and metrics want."""
    out = Sample(timestamp_ns=time.time_ns())
    if dirs.version == 2:
        _sample_v2(dirs.unified, out)
    else:
        _sample_v1(dirs, out)
        if full:
            _sample_v1_extra(dirs, out)
    if full and dirs.pids:
        out.pids = read_int(f"{dirs.pids}/pids.current")
    if psi is not None:
        out.psi = psi.read(dirs.unified)
    return out


def _sample_v2(d: str, out: Sample) -> None:
    cpu = parse_keyed(read_file(f"{d}/cpu.stat"))
    if b"usage_usec" in cpu:
        out.cpu_ns = cpu[b"usage_usec"] * 1000
        out.cpu_user_ns = cpu.get(b"user_usec", 0) * 1000
        out.cpu_system_ns = cpu.get(b"system_usec", 0) * 1000
    usage = read_int(f"{d}/memory.current")
    if usage is None:
        return
    st = parse_keyed(read_file(f"{d}/memory.stat"))
    out.memory_usage = usage
    out.memory_limit = read_int(f"{d}/memory.max")
    out.working_set = working_set(usage, st.get(b"inactive_file", 0))
    out.rss = st.get(b"anon", 0)
    out.cache = st.get(b"file", 0)
    out.pgfault = st.get(b"pgfault", 0)
    out.pgmajfault = st.get(b"pgmajfault", 0)
    out.swap_usage = read_int(f"{d}/memory.swap.current")
    if out.swap_usage is not None:
        out.swap_limit = read_int(f"{d}/memory.swap.max")
    out.oom_kills = parse_keyed(read_file(f"{d}/memory.events")).get(b"oom_kill")


def _v1_limit(value: int | None) -> int | None:
    return None if value is None or value < 0 or value >= _V1_UNLIMITED else value


def _sample_v1(dirs: CgroupDirs, out: Sample) -> None:
    if dirs.cpu:
        out.cpu_ns = read_int(f"{dirs.cpu}/cpuacct.usage")
    d = dirs.memory
    if not d:
        return
    usage = read_int(f"{d}/memory.usage_in_bytes")
    if usage is None:
        return
    st = parse_keyed(read_file(f"{d}/memory.stat"))

    def total(key: bytes) -> int:
        # total_* include descendants, as the v2 numbers do.
        return st.get(b"total_" + key, st.get(key, 0))

    out.memory_usage = usage
    out.memory_limit = _v1_limit(read_int(f"{d}/memory.limit_in_bytes"))
    out.working_set = working_set(usage, total(b"inactive_file"))
    out.rss = total(b"rss")
    out.cache = total(b"cache")
    out.pgfault = total(b"pgfault")
    out.pgmajfault = total(b"pgmajfault")
    memsw = read_int(f"{d}/memory.memsw.usage_in_bytes")
    if memsw is not None:
        out.swap_usage = max(memsw - usage, 0)
        memsw_limit = _v1_limit(read_int(f"{d}/memory.memsw.limit_in_bytes"))
        if memsw_limit is not None and out.memory_limit is not None:
            out.swap_limit = max(memsw_limit - out.memory_limit, 0)


def _sample_v1_extra(dirs: CgroupDirs, out: Sample) -> None:
    if dirs.cpu:
        out.cpu_user_ns = read_int(f"{dirs.cpu}/cpuacct.usage_user")
        out.cpu_system_ns = read_int(f"{dirs.cpu}/cpuacct.usage_sys")
    if dirs.memory:
        oom = parse_keyed(read_file(f"{dirs.memory}/memory.oom_control"))
        out.oom_kills = oom.get(b"oom_kill")
