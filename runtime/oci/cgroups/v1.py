"""cgroup v1 manager (one directory per controller hierarchy; hybrid hosts add unified)."""

from __future__ import annotations

import os

from pycri.runtime.oci.cgroups import fsio
from pycri.runtime.oci.cgroups.base import (
    CgroupManager,
    remove_tree,
    signal_pids,
    wait_until,
)
from pycri.runtime.oci.cgroups.errors import CgroupError, UnsupportedError
from pycri.runtime.oci.lazylog import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

log = get_logger(__name__)

# Controllers a container joins, by the directory name under the cgroupfs root.
# `systemd` is the named `name=systemd` hierarchy: joined for bookkeeping, no knobs.
SUBSYSTEMS = (
    "cpuset",
    "cpu",
    "cpuacct",
    "memory",
    "pids",
    "blkio",
    "devices",
    "freezer",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
    "misc",
    "systemd",
)
# Where each hierarchy's entry in /proc/self/cgroup lives.
SELF_KEYS = {"systemd": "name=systemd"}

# A stuck FREEZING state is retried by thawing and freezing again this often (ticks).
REFREEZE_EVERY = 50
# stats, v1_resources and v2 (re, enum through signal) load where used: pyrunc's
# delete and kill import this module and pay per call for every import.
_SIGKILL = 9


def mounted_subsystems(root: str) -> dict[str, str]:
    """Map controller name → its hierarchy mount under `root` (combined mounts resolve)."""
    out: dict[str, str] = {}
    for name in SUBSYSTEMS:
        mount = os.path.join(root, name)
        if os.path.isdir(mount):
            out[name] = mount
    return out


class V1Manager(CgroupManager):
    version = 1

    def __init__(
        self,
        root: str,
        paths: dict[str, str],
        container_id: str,
        unified: tuple[str, str] | None = None,
    ) -> None:
        """`paths`: controller → cgroup dir; `unified`: (mount, dir) on hybrid hosts."""
        self.root = root
        self._paths = paths
        self.container_id = container_id
        self._unified = unified
        self.rmdir: Callable[[str], None] = os.rmdir

    def __repr__(self) -> str:
        return f"V1Manager(paths={self._paths!r}, unified={self._unified!r})"

    @property
    def unified_path(self) -> str | None:
        return self._unified[1] if self._unified else None

    # ------------------------------------------------------------ lifecycle

    def create(self) -> None:
        for ctrl, path in self._paths.items():
            try:
                os.makedirs(path, 0o755, exist_ok=True)
            except OSError as exc:
                raise CgroupError(f"create cgroup `{path}`: {os.strerror(exc.errno or 0)}") from exc
            if ctrl == "cpuset":
                self._fill_cpuset(path)
        if self._unified is not None:
            try:
                from pycri.runtime.oci.cgroups import v2

                v2.make_path(*self._unified)
            except CgroupError as exc:
                # The v1 hierarchies carry the limits; the unified one is a bonus.
                log.warning("hybrid unified cgroup not created err=%s", exc)
                self._unified = None

    def _fill_cpuset(self, path: str) -> None:
        """A new v1 cpuset is empty and refuses tasks until cpus/mems are copied down."""
        mount = os.path.join(self.root, "cpuset")
        rel = os.path.relpath(path, mount)
        parent = mount
        for part in [] if rel == "." else rel.split(os.sep):
            child = os.path.join(parent, part)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not fsio.exists(child, name):
                    continue
                if (fsio.read(child, name)).strip():
                    continue
                value = (fsio.read_optional(parent, name) or "").strip()
                if value:
                    fsio.write(child, name, value)
            parent = child

    def apply(self, pid: int) -> None:
        if not self.exists():
            self.create()
        for ctrl, path in self._paths.items():
            if not os.path.isdir(path):
                self.create()
            try:
                fsio.write(path, "cgroup.procs", str(pid))
            except CgroupError as exc:
                raise CgroupError(f"join {ctrl} cgroup: {exc}") from exc
        self.join_unified(pid)

    def join_plan(self) -> tuple[str | None, list[str]]:
        v1 = list(dict.fromkeys(self._paths.values()))
        return (self._unified[1] if self._unified is not None else None), v1

    def join_unified(self, pid: int) -> None:
        """The cgroup.procs half of `apply` for hybrid hosts (the v1 half done by the
        process itself); a failure is logged, as in `apply`."""
        if self._unified is not None:
            try:
                fsio.write(self._unified[1], "cgroup.procs", str(pid))
            except CgroupError as exc:
                log.warning("hybrid unified cgroup not joined pid=%d err=%s", pid, exc)

    def set_resources(self, linux_resources: dict[str, Any]) -> None:
        from pycri.runtime.oci.cgroups import v1_resources

        v1_resources.apply(self._paths, self.unified_path, linux_resources)

    def destroy(self) -> None:
        errors: list[CgroupError] = []
        dirs = list(dict.fromkeys(self._paths.values()))
        if self._unified is not None:
            dirs.append(self._unified[1])
        for path in dirs:
            try:
                remove_tree(path, self.rmdir)
            except CgroupError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def exists(self) -> bool:
        return any(os.path.isdir(p) for p in self._paths.values())

    # ------------------------------------------------------------ freezer

    def _freezer(self) -> str:
        if "freezer" not in self._paths:
            raise UnsupportedError("freeze: the `freezer` cgroup controller is not mounted")
        return self._paths["freezer"]

    def _state(self) -> str:
        return (fsio.read_optional(self._freezer(), "freezer.state") or "").strip()

    def freeze(self, timeout: float = 10.0) -> None:
        path = self._freezer()
        fsio.write(path, "freezer.state", "FROZEN")

        def refreeze(tick: int) -> None:
            # A task in vfork or an uninterruptible sleep can pin FREEZING forever;
            # thawing and freezing again lets it move on.
            if tick % REFREEZE_EVERY == 0:
                fsio.write(path, "freezer.state", "THAWED")
                fsio.write(path, "freezer.state", "FROZEN")

        if not wait_until(lambda: self._state() == "FROZEN", timeout, refreeze):
            fsio.write(path, "freezer.state", "THAWED")
            raise CgroupError(f"freeze cgroup `{path}`: timed out after {timeout}s")

    def thaw(self, timeout: float = 10.0) -> None:
        path = self._freezer()
        fsio.write(path, "freezer.state", "THAWED")
        if not wait_until(lambda: self._state() == "THAWED", timeout):
            raise CgroupError(f"thaw cgroup `{path}`: timed out after {timeout}s")

    def is_frozen(self) -> bool:
        if "freezer" not in self._paths:
            return False
        return self._state() in ("FROZEN", "FREEZING")

    # ------------------------------------------------------------ processes

    def _procs_dir(self) -> str:
        for ctrl in ("pids", "freezer", "memory", "devices", "cpu"):
            if ctrl in self._paths:
                return self._paths[ctrl]
        if self._paths:
            return next(iter(self._paths.values()))
        raise UnsupportedError("list pids: no cgroup controller is mounted")

    def pids(self) -> list[int]:
        return fsio.all_pids(self._procs_dir())

    def kill_all(self, sig: int) -> None:
        can_freeze = "freezer" in self._paths and not self.is_frozen()
        frozen = False
        if can_freeze:
            try:
                self.freeze()
                frozen = True
            except CgroupError as exc:
                log.warning("kill_all without freezing err=%s", exc)
        try:
            signal_pids(self.pids(), sig)
        finally:
            if frozen:
                # SIGKILL is delivered to frozen tasks only once they thaw.
                self.thaw()
        if sig == _SIGKILL:
            log.debug("kill_all sent SIGKILL container_id=%s", self.container_id)

    # ------------------------------------------------------------ stats

    def stats(self) -> dict[str, Any]:
        from pycri.runtime.oci.cgroups import stats

        return stats.collect_v1(self._paths, self.unified_path)

    def oom_kill_count(self) -> int:
        if "memory" not in self._paths:
            return 0
        text = fsio.read_optional(self._paths["memory"], "memory.oom_control") or ""
        return fsio.parse_flat_keyed(text).get("oom_kill", 0)

    def path_for(self, controller: str) -> str:
        if controller in ("", "unified") and self._unified is not None:
            return self._unified[1]
        if controller not in self._paths:
            raise UnsupportedError(f"path of `{controller}` cgroup: controller not mounted")
        return self._paths[controller]

    def paths(self) -> dict[str, str]:
        out = dict(self._paths)
        if self._unified is not None:
            out[""] = self._unified[1]
        return out
