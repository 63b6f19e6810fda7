"""Translate OCI `linux.resources` into cgroup v2 files."""

from __future__ import annotations

import os
import re

from pycri.runtime.oci.cgroups import fsio
from pycri.runtime.oci.cgroups.convert import (
    blkio_weight_to_io_weight,
    cpu_shares_to_weight,
    memory_swap_to_v2,
)
from pycri.runtime.oci.cgroups.errors import CgroupError, UnsupportedError
from pycri.runtime.oci.lazylog import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)

_PAGE_SIZE = re.compile(r"^[0-9]+[KMG]B$")


def _write(directory: str, name: str, value: str) -> None:
    if not fsio.exists(directory, name):
        ctrl = name.split(".", 1)[0]
        raise UnsupportedError(
            f"write `{name}`=`{value}` in `{directory}`: "
            f"the `{ctrl}` controller is not enabled for this cgroup"
        )
    fsio.write(directory, name, value)


def _limit(value: int) -> str:
    return "max" if value < 0 else str(value)


def set_memory(directory: str, mem: dict[str, Any]) -> None:
    limit = int(mem.get("limit") or 0)
    swap = int(mem.get("swap") or 0)
    swap_v2 = memory_swap_to_v2(swap, limit)
    # Swap first: lowering memory.max below usage can trigger reclaim into swap.
    if swap_v2 != 0:
        if fsio.exists(directory, "memory.swap.max"):
            fsio.write(directory, "memory.swap.max", _limit(swap_v2))
        elif swap_v2 != -1:
            raise UnsupportedError(
                f"set `memory.swap.max` in `{directory}`: swap accounting is not enabled"
            )
    if limit != 0:
        _write(directory, "memory.max", _limit(limit))
    reservation = int(mem.get("reservation") or 0)
    if reservation != 0:
        _write(directory, "memory.low", _limit(reservation))
    if mem.get("swappiness") is not None:
        log.debug("cgroup v2 has no memory.swappiness; ignored dir=%s", directory)
    if mem.get("disableOOMKiller"):
        log.debug("cgroup v2 cannot disable the OOM killer; ignored dir=%s", directory)
    if mem.get("kernel") or mem.get("kernelTCP"):
        log.debug("kernel memory limits are not supported on cgroup v2; ignored")
    if mem.get("checkBeforeUpdate") and limit > 0:
        current = fsio.read_int(directory, "memory.current")
        if current is not None and current > limit:
            raise CgroupError(
                f"set `memory.max`=`{limit}` in `{directory}`: below current usage {current}"
            )


def set_cpu(directory: str, cpu: dict[str, Any]) -> None:
    shares = int(cpu.get("shares") or 0)
    if shares:
        _write(directory, "cpu.weight", str(cpu_shares_to_weight(shares)))
    quota = int(cpu.get("quota") or 0)
    period = int(cpu.get("period") or 0)
    if quota != 0 or period != 0:
        value = str(quota) if quota > 0 else "max"
        if period:
            value += f" {period}"
        _write(directory, "cpu.max", value)
    if cpu.get("burst") is not None:
        _write(directory, "cpu.max.burst", str(int(cpu["burst"])))
    if cpu.get("idle") is not None:
        _write(directory, "cpu.idle", str(int(cpu["idle"])))
    if cpu.get("realtimeRuntime") or cpu.get("realtimePeriod"):
        raise UnsupportedError(
            "set `cpu.realtimeRuntime`/`cpu.realtimePeriod`: not supported with cgroup v2"
        )
    if cpu.get("cpus"):
        _write(directory, "cpuset.cpus", str(cpu["cpus"]))
    if cpu.get("mems"):
        _write(directory, "cpuset.mems", str(cpu["mems"]))


def set_pids(directory: str, pids: dict[str, Any]) -> None:
    if "limit" not in pids:
        return
    limit = int(pids["limit"])
    # 0 and negative both mean "no limit" in the OCI spec as runtimes read it.
    _write(directory, "pids.max", str(limit) if limit > 0 else "max")


def _dev(entry: dict[str, Any]) -> str:
    return f"{int(entry['major'])}:{int(entry['minor'])}"


def set_io(directory: str, blkio: dict[str, Any]) -> None:
    bfq = fsio.exists(directory, "io.bfq.weight")
    weight = int(blkio.get("weight") or 0)
    if weight:
        if bfq:
            # BFQ takes the v1 range [1..1000] as is.
            fsio.write(directory, "io.bfq.weight", str(weight))
        else:
            _write(directory, "io.weight", f"default {blkio_weight_to_io_weight(weight)}")
    if blkio.get("leafWeight"):
        log.debug("blkio leafWeight has no cgroup v2 equivalent; ignored")
    for dev in blkio.get("weightDevice") or []:
        if dev.get("weight") is None:
            continue
        w = int(dev["weight"])
        if bfq:
            fsio.write(directory, "io.bfq.weight", f"{_dev(dev)} {w}")
        else:
            _write(directory, "io.weight", f"{_dev(dev)} {blkio_weight_to_io_weight(w)}")
    throttles = (
        ("throttleReadBpsDevice", "rbps"),
        ("throttleWriteBpsDevice", "wbps"),
        ("throttleReadIOPSDevice", "riops"),
        ("throttleWriteIOPSDevice", "wiops"),
    )
    for field, key in throttles:
        for dev in blkio.get(field) or []:
            rate = int(dev.get("rate") or 0)
            _write(directory, "io.max", f"{_dev(dev)} {key}={rate if rate > 0 else 'max'}")


def set_hugetlb(directory: str, limits: list[dict[str, Any]], suffix: str = "max") -> None:
    for entry in limits:
        size = str(entry.get("pageSize", ""))
        if not _PAGE_SIZE.match(size):
            raise CgroupError(f"set hugepageLimits: invalid pageSize `{size}`")
        value = str(int(entry.get("limit", 0)))
        _write(directory, f"hugetlb.{size}.{suffix}", value)
        # Reservations are charged separately; keep them under the same limit.
        rsvd = f"hugetlb.{size}.rsvd.{suffix}"
        if fsio.exists(directory, rsvd):
            fsio.write(directory, rsvd, value)


def set_rdma(directory: str, rdma: dict[str, Any]) -> None:
    for device, lim in rdma.items():
        parts = []
        if lim.get("hcaHandles") is not None:
            parts.append(f"hca_handle={int(lim['hcaHandles'])}")
        if lim.get("hcaObjects") is not None:
            parts.append(f"hca_object={int(lim['hcaObjects'])}")
        if parts:
            _write(directory, "rdma.max", f"{device} {' '.join(parts)}")


def set_unified(directory: str, unified: dict[str, str]) -> None:
    for key, value in unified.items():
        if "/" in key or key.startswith(".") or not key:
            raise CgroupError(f"set unified key `{key}`: not a cgroup file name")
        if not os.path.exists(os.path.join(directory, key)):
            ctrl = key.split(".", 1)[0]
            raise UnsupportedError(
                f"set unified key `{key}` in `{directory}`: no such file "
                f"(is the `{ctrl}` controller enabled?)"
            )
        fsio.write(directory, key, str(value))


def apply(directory: str, resources: dict[str, Any], *, devices_hook: Any = None) -> None:
    """Write every section present in `resources`; absent sections are left alone."""
    if resources.get("memory"):
        set_memory(directory, resources["memory"])
    if resources.get("cpu"):
        set_cpu(directory, resources["cpu"])
    if resources.get("pids"):
        set_pids(directory, resources["pids"])
    if resources.get("blockIO"):
        set_io(directory, resources["blockIO"])
    if resources.get("hugepageLimits"):
        set_hugetlb(directory, resources["hugepageLimits"])
    if resources.get("rdma"):
        set_rdma(directory, resources["rdma"])
    if resources.get("network"):
        log.debug("network classID/priorities have no cgroup v2 files; ignored")
    if resources.get("devices") is not None and devices_hook is not None:
        devices_hook(resources["devices"])
    # Unified keys last so they can override what the translation above wrote.
    if resources.get("unified"):
        set_unified(directory, resources["unified"])
