"""Read resource usage from cgroup v1 and v2 files into one dict shape.

Shape (sections are absent when the kernel does not offer the files):
  cpu:     usage_ns, user_ns, system_ns, nr_periods, nr_throttled, throttled_ns
  memory:  usage, limit (None = unlimited), max_usage, inactive_file, working_set, rss,
           cache, pgfault, pgmajfault, swap_usage, swap_limit, failcnt, oom, oom_kill, stat
  pids:    current, limit
  io:      read_bytes, write_bytes, read_ios, write_ios, devices {"maj:min": {...}}
  hugetlb: {"2MB": {usage, max_usage, failcnt}}
  psi:     {"cpu"|"memory"|"io": {"some"|"full": {avg10, avg60, avg300, total}}}
"""

from __future__ import annotations

import os

from pycri.runtime.oci.cgroups import fsio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# cpuacct.stat counts in USER_HZ ticks.
_USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_NS_PER_TICK = 1_000_000_000 // _USER_HZ
# v1 reports "unlimited" as the largest page-aligned long.
_V1_UNLIMITED = 1 << 62


def _v1_limit(value: int | None) -> int | None:
    if value is None or value < 0 or value >= _V1_UNLIMITED:
        return None
    return value


def working_set(usage: int, inactive_file: int) -> int:
    """What kubelet evicts on: usage minus the easily reclaimed page cache."""
    return max(usage - inactive_file, 0)


def psi(directory: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for res in ("cpu", "memory", "io"):
        text = fsio.read_optional(directory, f"{res}.pressure")
        if text:
            out[res] = fsio.parse_psi(text)
    return out


# ---------------------------------------------------------------- cgroup v2


def cpu_v2(directory: str) -> dict[str, int] | None:
    text = fsio.read_optional(directory, "cpu.stat")
    if text is None:
        return None
    st = fsio.parse_flat_keyed(text)
    return {
        "usage_ns": st.get("usage_usec", 0) * 1000,
        "user_ns": st.get("user_usec", 0) * 1000,
        "system_ns": st.get("system_usec", 0) * 1000,
        "nr_periods": st.get("nr_periods", 0),
        "nr_throttled": st.get("nr_throttled", 0),
        "throttled_ns": st.get("throttled_usec", 0) * 1000,
    }


def memory_v2(directory: str) -> dict[str, Any] | None:
    usage = fsio.read_int(directory, "memory.current")
    if usage is None:
        return None
    st = fsio.parse_flat_keyed(fsio.read_optional(directory, "memory.stat") or "")
    events = fsio.parse_flat_keyed(fsio.read_optional(directory, "memory.events") or "")
    inactive = st.get("inactive_file", 0)
    return {
        "usage": usage,
        "limit": fsio.read_int(directory, "memory.max"),
        "max_usage": fsio.read_int(directory, "memory.peak"),
        "inactive_file": inactive,
        "working_set": working_set(usage, inactive),
        "rss": st.get("anon", 0),
        "cache": st.get("file", 0),
        "pgfault": st.get("pgfault", 0),
        "pgmajfault": st.get("pgmajfault", 0),
        "swap_usage": fsio.read_int(directory, "memory.swap.current"),
        "swap_limit": fsio.read_int(directory, "memory.swap.max"),
        "failcnt": events.get("max", 0),
        "oom": events.get("oom", 0),
        "oom_kill": events.get("oom_kill", 0),
        "stat": st,
    }


def pids_stats(directory: str) -> dict[str, int | None] | None:
    current = fsio.read_int(directory, "pids.current")
    if current is None:
        return None
    return {"current": current, "limit": fsio.read_int(directory, "pids.max")}


def io_v2(directory: str) -> dict[str, Any] | None:
    text = fsio.read_optional(directory, "io.stat")
    if text is None:
        return None
    devices: dict[str, dict[str, int]] = {}
    for dev, fields in fsio.parse_nested_keyed(text).items():
        devices[dev] = {k: int(v) for k, v in fields.items() if v.isdigit()}
    return _io_totals(devices)


def _io_totals(devices: dict[str, dict[str, int]]) -> dict[str, Any]:
    def total(key: str) -> int:
        return sum(d.get(key, 0) for d in devices.values())

    return {
        "read_bytes": total("rbytes"),
        "write_bytes": total("wbytes"),
        "read_ios": total("rios"),
        "write_ios": total("wios"),
        "devices": devices,
    }


def hugetlb_stats(directory: str, v2: bool) -> dict[str, dict[str, int | None]] | None:
    try:
        names = os.listdir(directory)
    except OSError:
        return None
    sizes = sorted(
        {n.split(".")[1] for n in names if n.startswith("hugetlb.") and n.count(".") >= 2}
    )
    if not sizes:
        return None
    out: dict[str, dict[str, int | None]] = {}
    for size in sizes:
        if v2:
            events = fsio.parse_flat_keyed(
                fsio.read_optional(directory, f"hugetlb.{size}.events") or ""
            )
            out[size] = {
                "usage": fsio.read_int(directory, f"hugetlb.{size}.current"),
                "max_usage": None,
                "failcnt": events.get("max", 0),
            }
        else:
            out[size] = {
                "usage": fsio.read_int(directory, f"hugetlb.{size}.usage_in_bytes"),
                "max_usage": fsio.read_int(directory, f"hugetlb.{size}.max_usage_in_bytes"),
                "failcnt": fsio.read_int(directory, f"hugetlb.{size}.failcnt"),
            }
    return out


def collect_v2(directory: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sections = {
        "cpu": cpu_v2(directory),
        "memory": memory_v2(directory),
        "pids": pids_stats(directory),
        "io": io_v2(directory),
        "hugetlb": hugetlb_stats(directory, v2=True),
    }
    out.update({k: v for k, v in sections.items() if v is not None})
    pressure = psi(directory)
    if pressure:
        out["psi"] = pressure
    return out


# ---------------------------------------------------------------- cgroup v1


def cpu_v1(cpuacct: str | None, cpu: str | None) -> dict[str, int] | None:
    if cpuacct is None and cpu is None:
        return None
    out = {"usage_ns": 0, "user_ns": 0, "system_ns": 0}
    if cpuacct is not None:
        out["usage_ns"] = fsio.read_int(cpuacct, "cpuacct.usage") or 0
        user = fsio.read_int(cpuacct, "cpuacct.usage_user")
        system = fsio.read_int(cpuacct, "cpuacct.usage_sys")
        if user is None or system is None:
            # Older kernels only have tick counts.
            ticks = fsio.parse_flat_keyed(fsio.read_optional(cpuacct, "cpuacct.stat") or "")
            user = ticks.get("user", 0) * _NS_PER_TICK
            system = ticks.get("system", 0) * _NS_PER_TICK
        out["user_ns"], out["system_ns"] = user, system
    st = fsio.parse_flat_keyed(fsio.read_optional(cpu, "cpu.stat") or "") if cpu else {}
    out["nr_periods"] = st.get("nr_periods", 0)
    out["nr_throttled"] = st.get("nr_throttled", 0)
    out["throttled_ns"] = st.get("throttled_time", 0)
    return out


def memory_v1(directory: str) -> dict[str, Any] | None:
    usage = fsio.read_int(directory, "memory.usage_in_bytes")
    if usage is None:
        return None
    st = fsio.parse_flat_keyed(fsio.read_optional(directory, "memory.stat") or "")
    oom = fsio.parse_flat_keyed(fsio.read_optional(directory, "memory.oom_control") or "")
    # total_* include descendant cgroups, as the v2 files do.
    inactive = st.get("total_inactive_file", st.get("inactive_file", 0))
    memsw = fsio.read_int(directory, "memory.memsw.usage_in_bytes")
    memsw_limit = _v1_limit(fsio.read_int(directory, "memory.memsw.limit_in_bytes"))
    limit = _v1_limit(fsio.read_int(directory, "memory.limit_in_bytes"))
    swap_limit = None
    if memsw_limit is not None and limit is not None:
        swap_limit = max(memsw_limit - limit, 0)
    return {
        "usage": usage,
        "limit": limit,
        "max_usage": fsio.read_int(directory, "memory.max_usage_in_bytes"),
        "inactive_file": inactive,
        "working_set": working_set(usage, inactive),
        "rss": st.get("total_rss", st.get("rss", 0)),
        "cache": st.get("total_cache", st.get("cache", 0)),
        "pgfault": st.get("total_pgfault", st.get("pgfault", 0)),
        "pgmajfault": st.get("total_pgmajfault", st.get("pgmajfault", 0)),
        "swap_usage": max(memsw - usage, 0) if memsw is not None else None,
        "swap_limit": swap_limit,
        "failcnt": fsio.read_int(directory, "memory.failcnt") or 0,
        "oom": oom.get("under_oom", 0),
        "oom_kill": oom.get("oom_kill", 0),
        "stat": st,
    }


def io_v1(directory: str) -> dict[str, Any] | None:
    text = fsio.read_optional(directory, "blkio.throttle.io_service_bytes_recursive")
    if text is None:
        text = fsio.read_optional(directory, "blkio.throttle.io_service_bytes")
    if text is None:
        return None
    ops = fsio.read_optional(directory, "blkio.throttle.io_serviced_recursive") or ""
    devices: dict[str, dict[str, int]] = {}
    for content, suffix in ((text, "bytes"), (ops, "ios")):
        for line in content.splitlines():
            parts = line.split()
            if len(parts) != 3 or parts[1] not in ("Read", "Write"):
                continue
            key = ("r" if parts[1] == "Read" else "w") + suffix
            devices.setdefault(parts[0], {})[key] = int(parts[2])
    return _io_totals(devices)


def collect_v1(paths: dict[str, str], unified: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cpu = cpu_v1(paths.get("cpuacct"), paths.get("cpu"))
    sections: dict[str, Any] = {
        "cpu": cpu,
        "memory": memory_v1(paths["memory"]) if "memory" in paths else None,
        "pids": pids_stats(paths["pids"]) if "pids" in paths else None,
        "io": io_v1(paths["blkio"]) if "blkio" in paths else None,
    }
    if "hugetlb" in paths:
        sections["hugetlb"] = hugetlb_stats(paths["hugetlb"], v2=False)
    elif unified is not None:
        sections["hugetlb"] = hugetlb_stats(unified, v2=True)
    out.update({k: v for k, v in sections.items() if v is not None})
    # Hybrid hosts expose PSI only on the unified hierarchy.
    if unified is not None:
        pressure = psi(unified)
        if pressure:
            out["psi"] = pressure
    return out
