"""Memory/CPU numbers and OOM-kill counters read from a process' cgroups.

Paths come from /proc/<pid>/cgroup; works on cgroup v1 (and hybrid) and pure v2.
`cgroup_root` is a parameter so tests can point it at a seeded temp dir.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_paths(pid: int, proc: str = "/proc") -> dict[str, str]:
    """Controller → path inside its hierarchy ('' key = the v2 unified hierarchy)."""
    out: dict[str, str] = {}
    try:
        with open(f"{proc}/{pid}/cgroup") as f:
            for line in f:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) != 3:
                    continue
                for ctrl in parts[1].split(",") if parts[1] else [""]:
                    out[ctrl.removeprefix("name=")] = parts[2]
    except OSError:
        pass
    return out


def _v2_root(cgroup_root: str) -> str:
    if os.path.exists(os.path.join(cgroup_root, "cgroup.controllers")):
        return cgroup_root
    return os.path.join(cgroup_root, "unified")


def memory_dir(paths: dict[str, str], cgroup_root: str = CGROUP_ROOT) -> tuple[str, int] | None:
    """(directory, cgroup version) of the memory controller, or None."""
    if "memory" in paths:
        return os.path.join(cgroup_root, "memory", paths["memory"].lstrip("/")), 1
    if "" in paths:
        d = os.path.join(_v2_root(cgroup_root), paths[""].lstrip("/"))
        if os.path.exists(os.path.join(d, "memory.events")):
            return d, 2
    return None


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(" ")
                if v.strip().isdigit():
                    out[k] = int(v)
    except OSError:
        pass
    return out


def _int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def oom_kills(mem: tuple[str, int] | None) -> int:
    if mem is None:
        return 0
    d, ver = mem
    name = "memory.oom_control" if ver == 1 else "memory.events"
    return _kv(os.path.join(d, name)).get("oom_kill", 0)


def stats(paths: dict[str, str], cgroup_root: str = CGROUP_ROOT) -> dict[str, Any]:
    out: dict[str, Any] = {"timestamp": time.time_ns()}
    mem = memory_dir(paths, cgroup_root)
    if mem is not None:
        d, ver = mem
        st = _kv(os.path.join(d, "memory.stat"))
        if ver == 1:
            usage = _int(os.path.join(d, "memory.usage_in_bytes")) or 0
            inactive = st.get("total_inactive_file", 0)
            rss = st.get("total_rss", 0)
        else:
            usage = _int(os.path.join(d, "memory.current")) or 0
            inactive = st.get("inactive_file", 0)
            rss = st.get("anon", 0)
        out["memory"] = {"usage_bytes": usage, "working_set_bytes": max(0, usage - inactive),
                         "rss_bytes": rss, "oom_kills": oom_kills(mem)}
    cpu_ns: int | None = None
    for ctrl in ("cpuacct", "cpu"):
        if ctrl in paths:
            d = os.path.join(cgroup_root, "cpu,cpuacct" if os.path.exists(
                os.path.join(cgroup_root, "cpu,cpuacct")) else ctrl, paths[ctrl].lstrip("/"))
            cpu_ns = _int(os.path.join(d, "cpuacct.usage"))
            if cpu_ns is not None:
                break
    if cpu_ns is None and "" in paths:
        d = os.path.join(_v2_root(cgroup_root), paths[""].lstrip("/"))
        usec = _kv(os.path.join(d, "cpu.stat")).get("usage_usec")
        cpu_ns = usec * 1000 if usec is not None else None
    if cpu_ns is not None:
        out["cpu"] = {"usage_core_nanoseconds": cpu_ns}
    return out


def oom_eventfd(mem: tuple[str, int] | None) -> int:
    """cgroup v1: an eventfd that becomes readable on every OOM of the cgroup; -1 when
    unavailable (v2 has no such notifier without inotify: OOM shows at exit there)."""
    if mem is None or mem[1] != 1:
        return -1
    d = mem[0]
    try:
        efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    except (AttributeError, OSError):
        return -1
    try:
        ofd = os.open(os.path.join(d, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
        try:
            with open(os.path.join(d, "cgroup.event_control"), "w") as f:
                f.write(f"{efd} {ofd}")
        finally:
            os.close(ofd)
    except OSError:
        os.close(efd)
        return -1
    return efd
