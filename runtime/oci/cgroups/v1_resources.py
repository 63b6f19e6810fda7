"""Translate OCI `linux.resources` into cgroup v1 files, controller by controller."""

from __future__ import annotations

import errno

from pycri.runtime.oci.cgroups import fsio
from pycri.runtime.oci.cgroups.errors import CgroupError, UnsupportedError
from pycri.runtime.oci.lazylog import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)

_PAGE_SIZE = r"[0-9]+[KMG]B"  # matched in set_hugetlb: `re` (and enum) load only there
_CPU_KEYS = ("shares", "quota", "period", "realtimePeriod", "realtimeRuntime", "burst")


def _need(paths: dict[str, str], ctrl: str, what: str) -> str:
    if ctrl not in paths:
        raise UnsupportedError(f"set `{what}`: the `{ctrl}` cgroup controller is not mounted")
    return paths[ctrl]


def set_memory(directory: str, mem: dict[str, Any]) -> None:
    limit = int(mem.get("limit") or 0)
    swap = int(mem.get("swap") or 0)
    if swap and not fsio.exists(directory, "memory.memsw.limit_in_bytes"):
        if swap != -1:
            raise UnsupportedError(
                f"set `memory.memsw.limit_in_bytes` in `{directory}`: "
                "swap accounting is not enabled"
            )
        swap = 0
    if limit == -1 and swap == 0 and fsio.exists(directory, "memory.memsw.limit_in_bytes"):
        # "Unlimited memory" with swap unset means unlimited swap too.
        swap = -1
    steps: list[tuple[str, int]] = []
    if limit:
        steps.append(("memory.limit_in_bytes", limit))
    if swap:
        steps.append(("memory.memsw.limit_in_bytes", swap))
    if limit and swap:
        # memsw must stay >= limit at every moment: grow memsw first, shrink it last.
        current = fsio.read_int(directory, "memory.limit_in_bytes")
        if swap == -1 or current is None or current < swap:
            steps.reverse()
    for name, value in steps:
        fsio.write(directory, name, str(value))
    reservation = int(mem.get("reservation") or 0)
    if reservation:
        fsio.write(directory, "memory.soft_limit_in_bytes", str(reservation))
    if mem.get("kernel") or mem.get("kernelTCP"):
        log.debug("kernel memory limits are deprecated and ignored dir=%s", directory)
    if mem.get("swappiness") is not None:
        value = int(mem["swappiness"])
        # -1 is how some callers say "leave it"; the kernel rejects it.
        if value >= 0:
            if value > 100:
                raise CgroupError(f"set `memory.swappiness`=`{value}`: valid range is 0-100")
            fsio.write(directory, "memory.swappiness", str(value))
    if mem.get("disableOOMKiller"):
        fsio.write(directory, "memory.oom_control", "1")


def set_cpu(directory: str, cpu: dict[str, Any]) -> None:
    shares = int(cpu.get("shares") or 0)
    if shares:
        fsio.write(directory, "cpu.shares", str(shares))
        # The kernel clamps silently; report instead of running with another value.
        got = fsio.read_int(directory, "cpu.shares")
        if got is not None and got != shares:
            raise CgroupError(
                f"write `cpu.shares`=`{shares}` in `{directory}`: the kernel clamped it to {got}"
            )
    period = int(cpu.get("period") or 0)
    quota = int(cpu.get("quota") or 0)
    pending_period = False
    if period:
        try:
            fsio.write(directory, "cpu.cfs_period_us", str(period))
        except CgroupError as exc:
            # A smaller period can exceed the parent's quota until the quota follows.
            if getattr(exc, "errno", None) != errno.EINVAL or not quota:
                raise
            pending_period = True
    if quota:
        fsio.write(directory, "cpu.cfs_quota_us", str(quota))
        if pending_period:
            fsio.write(directory, "cpu.cfs_period_us", str(period))
    if cpu.get("burst") is not None:
        fsio.write(directory, "cpu.cfs_burst_us", str(int(cpu["burst"])))
    # The realtime period must be in place before the runtime that it bounds.
    if cpu.get("realtimePeriod"):
        fsio.write(directory, "cpu.rt_period_us", str(int(cpu["realtimePeriod"])))
    if cpu.get("realtimeRuntime"):
        fsio.write(directory, "cpu.rt_runtime_us", str(int(cpu["realtimeRuntime"])))
    if cpu.get("idle") is not None:
        fsio.write(directory, "cpu.idle", str(int(cpu["idle"])))


def set_cpuset(directory: str, cpu: dict[str, Any]) -> None:
    if cpu.get("cpus"):
        fsio.write(directory, "cpuset.cpus", str(cpu["cpus"]))
    if cpu.get("mems"):
        fsio.write(directory, "cpuset.mems", str(cpu["mems"]))


def set_pids(directory: str, pids: dict[str, Any]) -> None:
    if "limit" not in pids:
        return
    limit = int(pids["limit"])
    fsio.write(directory, "pids.max", str(limit) if limit > 0 else "max")


def _dev(entry: dict[str, Any]) -> str:
    return f"{int(entry['major'])}:{int(entry['minor'])}"


def set_blkio(directory: str, blkio: dict[str, Any]) -> None:
    weight_file = "blkio.weight"
    if not fsio.exists(directory, weight_file) and fsio.exists(directory, "blkio.bfq.weight"):
        weight_file = "blkio.bfq.weight"
    if blkio.get("weight"):
        fsio.write(directory, weight_file, str(int(blkio["weight"])))
    if blkio.get("leafWeight"):
        fsio.write(directory, "blkio.leaf_weight", str(int(blkio["leafWeight"])))
    for dev in blkio.get("weightDevice") or []:
        if dev.get("weight") is not None:
            name = weight_file + ("_device" if weight_file == "blkio.weight" else "")
            fsio.write(directory, name, f"{_dev(dev)} {int(dev['weight'])}")
        if dev.get("leafWeight") is not None:
            fsio.write(
                directory, "blkio.leaf_weight_device", f"{_dev(dev)} {int(dev['leafWeight'])}"
            )
    throttles = (
        ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
        ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
        ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
        ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
    )
    for field, name in throttles:
        for dev in blkio.get(field) or []:
            fsio.write(directory, name, f"{_dev(dev)} {int(dev.get('rate') or 0)}")


def set_hugetlb(directory: str, limits: list[dict[str, Any]]) -> None:
    import re

    for entry in limits:
        size = str(entry.get("pageSize", ""))
        if not re.fullmatch(_PAGE_SIZE, size):
            raise CgroupError(f"set hugepageLimits: invalid pageSize `{size}`")
        value = str(int(entry.get("limit", 0)))
        fsio.write(directory, f"hugetlb.{size}.limit_in_bytes", value)
        rsvd = f"hugetlb.{size}.rsvd.limit_in_bytes"
        if fsio.exists(directory, rsvd):
            fsio.write(directory, rsvd, value)


def device_rule(rule: dict[str, Any]) -> str:
    """Render one OCI device cgroup rule as devices.allow/deny wants it: `c 1:3 rwm`."""
    kind = rule.get("type") or "a"
    if kind not in ("a", "b", "c"):
        raise CgroupError(f"set devices: invalid type `{kind}` (want a, b or c)")
    access = rule.get("access") or "rwm"
    if not access or set(access) - set("rwm"):
        raise CgroupError(f"set devices: invalid access `{access}` (want a subset of rwm)")
    if kind == "a":
        return "a"
    major = rule.get("major")
    minor = rule.get("minor")
    mj = "*" if major is None or int(major) < 0 else str(int(major))
    mn = "*" if minor is None or int(minor) < 0 else str(int(minor))
    return f"{kind} {mj}:{mn} {access}"


def set_devices(directory: str, rules: list[dict[str, Any]]) -> None:
    for rule in rules:
        line = device_rule(rule)
        fsio.write(directory, "devices.allow" if rule.get("allow") else "devices.deny", line)


def set_network(paths: dict[str, str], net: dict[str, Any]) -> None:
    if net.get("classID") is not None and "net_cls" in paths:
        fsio.write(paths["net_cls"], "net_cls.classid", str(int(net["classID"])))
    for prio in net.get("priorities") or []:
        if "net_prio" in paths:
            fsio.write(
                paths["net_prio"], "net_prio.ifpriomap", f"{prio['name']} {int(prio['priority'])}"
            )


def apply(paths: dict[str, str], unified: str | None, resources: dict[str, Any]) -> None:
    if resources.get("unified"):
        key = next(iter(resources["unified"]))
        raise UnsupportedError(
            f"set unified key `{key}`: cgroup v2 keys need a cgroup v2 host (this one is v1)"
        )
    if resources.get("devices") is not None:
        set_devices(_need(paths, "devices", "devices"), resources["devices"])
    if resources.get("memory"):
        set_memory(_need(paths, "memory", "memory"), resources["memory"])
    cpu = resources.get("cpu")
    if cpu:
        if (
            any(
                cpu.get(k)
                for k in ("shares", "quota", "period", "realtimePeriod", "realtimeRuntime", "burst")
            )
            or cpu.get("idle") is not None
        ):
            set_cpu(_need(paths, "cpu", "cpu"), cpu)
        if cpu.get("cpus") or cpu.get("mems"):
            set_cpuset(_need(paths, "cpuset", "cpu.cpus"), cpu)
    if resources.get("pids"):
        set_pids(_need(paths, "pids", "pids.limit"), resources["pids"])
    if resources.get("blockIO"):
        set_blkio(_need(paths, "blkio", "blockIO"), resources["blockIO"])
    if resources.get("hugepageLimits"):
        if "hugetlb" in paths:
            set_hugetlb(paths["hugetlb"], resources["hugepageLimits"])
        elif unified is not None:
            # Hybrid hosts can carry hugetlb on the unified hierarchy instead.
            from pycri.runtime.oci.cgroups import v2_resources

            v2_resources.set_hugetlb(unified, resources["hugepageLimits"])
        else:
            raise UnsupportedError("set `hugepageLimits`: the `hugetlb` controller is not mounted")
    if resources.get("network"):
        set_network(paths, resources["network"])
    if resources.get("rdma"):
        rdma_dir = _need(paths, "rdma", "rdma")
        from pycri.runtime.oci.cgroups import v2_resources

        v2_resources.set_rdma(rdma_dir, resources["rdma"])
