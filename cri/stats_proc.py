"""Threads, open file descriptors and sockets of the processes in a cgroup, for the metrics.

The process list comes from `cgroup.procs` of the cgroup and its descendants (a pod's cgroup
holds its containers' cgroups); each process costs two directory listings under /proc and
one readlink per descriptor to tell sockets apart. A process that exits meanwhile is skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pycri.cri.stats_cgroup import CgroupDirs, read_file

_SOCKET = "socket:"


@dataclass
class ProcessCounts:
    processes: int = 0
    threads: int = 0
    file_descriptors: int = 0
    sockets: int = 0


def procs_dir(dirs: CgroupDirs) -> str:
    """The hierarchy whose `cgroup.procs` lists the cgroup's processes."""
    if dirs.version == 2:
        return dirs.unified
    return dirs.pids or dirs.memory or dirs.cpu_ctl or dirs.cpu


def cgroup_pids(directory: str) -> list[int]:
    """Every process of the cgroup at `directory` and of the cgroups under it."""
    pids: list[int] = []
    if not directory:
        return pids
    for current, _subdirs, _files in os.walk(directory):
        data = read_file(f"{current}/cgroup.procs")
        pids.extend(int(p) for p in (data or b"").split() if p.isdigit())
    return pids


def count(pids: list[int], proc_root: str = "/proc") -> ProcessCounts:
    out = ProcessCounts()
    for pid in pids:
        base = f"{proc_root}/{pid}"
        try:
            threads = len(os.listdir(f"{base}/task"))
            fds = os.listdir(f"{base}/fd")
        except OSError:
            continue  # exited meanwhile
        out.processes += 1
        out.threads += threads
        out.file_descriptors += len(fds)
        for fd in fds:
            try:
                if os.readlink(f"{base}/fd/{fd}").startswith(_SOCKET):
                    out.sockets += 1
            except OSError:
                continue
    return out


def sample(dirs: CgroupDirs, proc_root: str = "/proc") -> ProcessCounts:
    return count(cgroup_pids(procs_dir(dirs)), proc_root)
