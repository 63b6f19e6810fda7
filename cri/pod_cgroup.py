"""The pod's cgroup: the parent kubelet names, or one pycri makes under /pycri."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

OWN_ROOT = "/pycri"


def pod_cgroup(cgroup_parent: str, sandbox_id: str) -> str:
    return cgroup_parent.rstrip("/") if cgroup_parent else f"{OWN_ROOT}/{sandbox_id}"


def container_cgroup(cgroup_parent: str, sandbox_id: str, container_id: str) -> str:
    return f"{pod_cgroup(cgroup_parent, sandbox_id)}/{container_id}"


def remove_own_pod_cgroup(cgroup_parent: str, sandbox_id: str, cgroup_root: str) -> None:
    """Only the cgroups pycri made itself; kubelet owns the parents it names."""
    if cgroup_parent:
        return
    from pycri.runtime.oci.cgroups import manager_for

    try:
        manager_for(pod_cgroup("", sandbox_id), sandbox_id, root=cgroup_root).destroy()
    except Exception as exc:
        log.warning("remove pod cgroup pod_id=%s: %s", sandbox_id, exc)
