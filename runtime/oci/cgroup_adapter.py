"""The runtime's view of the cgroup manager (pycri.runtime.oci.cgroups).

`open_manager` returns the real manager, or `NoCgroups` when the cgroup package is not
importable, so the lifecycle keeps working (without limits, freezer or kill --all).
"""

from __future__ import annotations

import os

from pycri.runtime.oci.errors import Unsupported
from pycri.runtime.oci.lazylog import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)


CALLER_CGROUP = "caller.cgroup"


def default_path(cgroups_path: str | None, container_id: str) -> str:
    """runc's default for an empty cgroupsPath: the id, relative to the caller's cgroup."""
    return cgroups_path or container_id


def remember_caller(cdir: str) -> str:
    """Keep the creator's /proc/self/cgroup: a relative cgroupsPath hangs below it, and
    later calls (delete, pause) may come from a process in another cgroup."""
    path = os.path.join(cdir, CALLER_CGROUP)
    with open("/proc/self/cgroup", "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    return path


class NoCgroups:
    """Stands in when cgroup support is unavailable: no limits, nothing to clean up."""

    def __init__(self, container_id: str) -> None:
        self.container_id = container_id

    def create(self) -> None: ...
    def apply(self, pid: int) -> None: ...
    def set_resources(self, linux_resources: dict[str, Any]) -> None:
        if linux_resources:
            log.warning("cgroup support unavailable, resources ignored container_id=%s",
                        self.container_id)

    def freeze(self) -> None:
        raise Unsupported("pause: cgroup freezer support is not available")

    thaw = freeze

    def pids(self) -> list[int]:
        return []

    def destroy(self) -> None: ...
    def stats(self) -> dict[str, Any]:
        return {}

    def path_for(self, controller: str) -> str:
        return ""

    def kill_all(self, sig: int = 9) -> None: ...  # SIGKILL; no `signal` (enum) import

    def frozen(self) -> bool:
        return False


def open_manager(cgroups_path: str | None, container_id: str, *, systemd: bool = False,
                 caller_cgroup: str | None = None) -> Any:
    try:
        from pycri.runtime.oci.cgroups import manager_for
    except ImportError:
        return NoCgroups(container_id)
    path = default_path(cgroups_path, container_id)
    if caller_cgroup and os.path.exists(caller_cgroup):
        return manager_for(path, container_id, systemd=systemd, self_cgroup_file=caller_cgroup)
    return manager_for(path, container_id, systemd=systemd)


def is_frozen(mgr: Any) -> bool:
    """Paused? Read from the freezer (v1 freezer.state or v2 cgroup.freeze)."""
    if isinstance(mgr, NoCgroups):
        return False
    if hasattr(mgr, "is_frozen"):
        try:
            return bool(mgr.is_frozen())
        except OSError:
            return False
    try:
        path = mgr.path_for("freezer")
    except Exception:
        return False
    if not path:
        return False
    for name, frozen in (("freezer.state", "FROZEN"), ("cgroup.freeze", "1")):
        try:
            with open(os.path.join(path, name)) as f:
                return f.read().strip() == frozen
        except OSError:
            continue
    return False
