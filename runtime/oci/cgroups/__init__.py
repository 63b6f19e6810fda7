"""cgroup managers for containers: v1 (incl. hybrid) and v2, cgroupfs driver.

mgr = manager_for(spec["linux"].get("cgroupsPath", ""), container_id)
mgr.create(); mgr.set_resources(spec["linux"].get("resources", {})); mgr.apply(pid)
"""

from __future__ import annotations

import os

from pycri.runtime.oci.cgroups.base import CgroupManager
from pycri.runtime.oci.cgroups.errors import CgroupError, UnsupportedError
from pycri.runtime.oci.cgroups.paths import (
    SELF_CGROUP,
    Layout,
    clean_inner,
    detect_layout,
    join_under,
    own_cgroups,
)
from pycri.runtime.oci.cgroups.v1 import SELF_KEYS, V1Manager, mounted_subsystems
from pycri.runtime.oci.cgroups.v2 import V2Manager

__all__ = [
    "CgroupError",
    "CgroupManager",
    "Layout",
    "UnsupportedError",
    "V1Manager",
    "V2Manager",
    "detect_layout",
    "manager_for",
]


def manager_for(
    cgroups_path: str,
    container_id: str,
    *,
    systemd: bool = False,
    root: str = "/sys/fs/cgroup",
    self_cgroup_file: str = SELF_CGROUP,
) -> CgroupManager:
    """Pick the manager for the layout under `root` and resolve the container's dirs.

    `self_cgroup_file` is where relative paths find the caller's own cgroups
    (tests point it at a seeded file).
    """
    if systemd:
        raise UnsupportedError("systemd cgroup driver not supported yet: use the cgroupfs driver")
    inner, absolute = clean_inner(cgroups_path, container_id)
    layout = detect_layout(root)
    own: dict[str, str] = {} if absolute else own_cgroups(self_cgroup_file)
    if layout is Layout.V2:
        parent = "" if absolute else own.get("", "/")
        return V2Manager(root, join_under(root, parent, inner), container_id)
    paths: dict[str, str] = {}
    for ctrl, mount in mounted_subsystems(root).items():
        parent = "" if absolute else own.get(SELF_KEYS.get(ctrl, ctrl), "/")
        paths[ctrl] = join_under(mount, parent, inner)
    unified = None
    if layout is Layout.HYBRID:
        mount = os.path.join(root, "unified")
        parent = "" if absolute else own.get("", "/")
        unified = (mount, join_under(mount, parent, inner))
    return V1Manager(root, paths, container_id, unified)
