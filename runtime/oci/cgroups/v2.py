"""cgroup v2 (unified hierarchy) manager."""

from __future__ import annotations

import errno
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

# stats and v2_resources (re) load where used; SIGKILL without `signal` (enum).
_SIGKILL = 9


def _enable_controllers(directory: str) -> None:
    """Delegate every available controller to the children of `directory`.

    All at once first; if the kernel refuses (a controller busy or a threaded subtree),
    one by one, keeping what can be enabled.
    """
    available = (fsio.read_optional(directory, "cgroup.controllers") or "").split()
    if not available:
        return
    enabled = set((fsio.read_optional(directory, "cgroup.subtree_control") or "").split())
    missing = [c for c in available if c not in enabled]
    if not missing:
        return
    try:
        fsio.write(directory, "cgroup.subtree_control", " ".join("+" + c for c in missing))
        return
    except CgroupError:
        pass
    for ctrl in missing:
        try:
            fsio.write(directory, "cgroup.subtree_control", "+" + ctrl)
        except CgroupError as exc:
            log.debug("cgroup controller not delegated ctrl=%s dir=%s err=%s", ctrl, directory, exc)


def make_path(mount: str, target: str) -> None:
    """mkdir every level from the mount to `target`, delegating controllers on the way."""
    rel = os.path.relpath(target, mount)
    if rel.startswith(".."):
        raise CgroupError(f"create cgroup `{target}`: outside `{mount}`")
    current = mount
    parts = [] if rel == "." else rel.split(os.sep)
    for part in parts:
        _enable_controllers(current)
        current = os.path.join(current, part)
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            pass
        except OSError as exc:
            raise CgroupError(f"create cgroup `{current}`: {os.strerror(exc.errno or 0)}") from exc


class V2Manager(CgroupManager):
    version = 2

    def __init__(self, root: str, path: str, container_id: str) -> None:
        self.root = root
        self.path = path
        self.container_id = container_id
        self.rmdir: Callable[[str], None] = os.rmdir
        # Seam for unit tests: the real one loads a BPF program into the kernel.
        self.devices_apply: Callable[[str, list[dict[str, Any]]], None] | None = None

    def __repr__(self) -> str:
        return f"V2Manager(path={self.path!r})"

    def create(self) -> None:
        make_path(self.root, self.path)

    def apply(self, pid: int) -> None:
        if not os.path.isdir(self.path):
            self.create()
        fsio.write(self.path, "cgroup.procs", str(pid))

    def join_plan(self) -> tuple[str | None, list[str]]:
        return self.path, []

    def join_unified(self, pid: int) -> None:
        self.apply(pid)

    def set_resources(self, linux_resources: dict[str, Any]) -> None:
        from pycri.runtime.oci.cgroups import v2_resources

        v2_resources.apply(self.path, linux_resources, devices_hook=self._set_devices)

    def _set_devices(self, rules: list[dict[str, Any]]) -> None:
        if self.devices_apply is not None:
            self.devices_apply(self.path, rules)
            return
        from pycri.runtime.oci.cgroups import devices_bpf

        devices_bpf.apply(self.path, rules)

    # ------------------------------------------------------------ freezer

    def _frozen_flag(self) -> int | None:
        events = fsio.parse_flat_keyed(fsio.read_optional(self.path, "cgroup.events") or "")
        return events.get("frozen")

    def _set_frozen(self, want: int, timeout: float) -> None:
        if not fsio.exists(self.path, "cgroup.freeze"):
            raise UnsupportedError(f"freeze cgroup `{self.path}`: cgroup.freeze not available")
        fsio.write(self.path, "cgroup.freeze", str(want))
        if not wait_until(lambda: self._frozen_flag() == want, timeout):
            verb = "freeze" if want else "thaw"
            if want:
                # Leave the container running rather than half frozen.
                fsio.write(self.path, "cgroup.freeze", "0")
            raise CgroupError(f"{verb} cgroup `{self.path}`: timed out after {timeout}s")

    def freeze(self, timeout: float = 10.0) -> None:
        self._set_frozen(1, timeout)

    def thaw(self, timeout: float = 10.0) -> None:
        self._set_frozen(0, timeout)

    def is_frozen(self) -> bool:
        text = fsio.read_optional(self.path, "cgroup.freeze")
        return text is not None and text.strip() == "1"

    # ------------------------------------------------------------ processes

    def pids(self) -> list[int]:
        return fsio.all_pids(self.path)

    def kill_all(self, sig: int) -> None:
        if sig == _SIGKILL and fsio.exists(self.path, "cgroup.kill"):
            try:
                fsio.write(self.path, "cgroup.kill", "1")
                return
            except CgroupError as exc:
                if getattr(exc, "errno", None) != errno.ENOENT:
                    raise
                return
        # Freeze so nothing forks between listing and signalling.
        frozen = False
        if fsio.exists(self.path, "cgroup.freeze") and not self.is_frozen():
            try:
                self.freeze()
                frozen = True
            except CgroupError as exc:
                log.warning("kill_all without freezing dir=%s err=%s", self.path, exc)
        try:
            signal_pids(self.pids(), sig)
        finally:
            if frozen:
                self.thaw()

    def destroy(self) -> None:
        remove_tree(self.path, self.rmdir)

    # ------------------------------------------------------------ stats

    def stats(self) -> dict[str, Any]:
        from pycri.runtime.oci.cgroups import stats

        return stats.collect_v2(self.path)

    def oom_kill_count(self) -> int:
        events = fsio.parse_flat_keyed(fsio.read_optional(self.path, "memory.events") or "")
        return events.get("oom_kill", 0)

    def path_for(self, controller: str) -> str:
        return self.path

    def paths(self) -> dict[str, str]:
        return {"": self.path}

    def exists(self) -> bool:
        return os.path.isdir(self.path)
