"""CRI LinuxContainerResources → OCI linux.resources (and back, for ContainerStatus)."""

from __future__ import annotations

from typing import Any

from pycri.cri.errors import InvalidArgument


def oci_resources(res: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cpu: dict[str, Any] = {}
    if res.cpu_shares:
        cpu["shares"] = res.cpu_shares
    if res.cpu_quota:
        cpu["quota"] = res.cpu_quota
    if res.cpu_period:
        cpu["period"] = res.cpu_period
    if res.cpuset_cpus:
        cpu["cpus"] = res.cpuset_cpus
    if res.cpuset_mems:
        cpu["mems"] = res.cpuset_mems
    if cpu:
        out["cpu"] = cpu
    memory: dict[str, Any] = {}
    if res.memory_limit_in_bytes:
        if res.memory_limit_in_bytes < 0:
            raise InvalidArgument("resources: memory_limit_in_bytes must not be negative")
        memory["limit"] = res.memory_limit_in_bytes
    if res.memory_swap_limit_in_bytes:
        memory["swap"] = res.memory_swap_limit_in_bytes
    if memory:
        out["memory"] = memory
    pages = [{"pageSize": h.page_size, "limit": h.limit} for h in res.hugepage_limits]
    if pages:
        out["hugepageLimits"] = pages
    if res.unified:
        out["unified"] = dict(res.unified)
    return out


def cri_resources_dict(oci: dict[str, Any], oom_score_adj: int) -> dict[str, Any]:
    """The stored shape of resources, reported back in ContainerStatus."""
    cpu = oci.get("cpu", {})
    memory = oci.get("memory", {})
    return {
        "cpu_shares": cpu.get("shares", 0), "cpu_quota": cpu.get("quota", 0),
        "cpu_period": cpu.get("period", 0), "cpuset_cpus": cpu.get("cpus", ""),
        "cpuset_mems": cpu.get("mems", ""), "memory_limit_in_bytes": memory.get("limit", 0),
        "memory_swap_limit_in_bytes": memory.get("swap", 0), "oom_score_adj": oom_score_adj,
        "unified": oci.get("unified", {}),
    }
