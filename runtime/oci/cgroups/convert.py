"""Value conversions between the OCI (cgroup v1 shaped) resources and cgroup v2 files."""

from __future__ import annotations

import math

from pycri.runtime.oci.cgroups.errors import CgroupError

SHARES_MIN = 2
SHARES_MAX = 262144
WEIGHT_MAX = 10000


def cpu_shares_to_weight(shares: int) -> int:
    """Map cpu.shares [2..262144] onto cpu.weight [1..10000].

    The curve goes through the points that matter (2→1, 1024→100, 262144→10000) so
    the default share maps to the default weight, which a straight line does not.
    """
    if shares == 0:
        return 0
    if shares <= SHARES_MIN:
        return 1
    if shares >= SHARES_MAX:
        return WEIGHT_MAX
    lg = math.log2(shares)
    exponent = (lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0
    return math.ceil(10**exponent)


def blkio_weight_to_io_weight(weight: int) -> int:
    """Map blkio.weight [10..1000] linearly onto io.weight [1..10000]."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def memory_swap_to_v2(swap: int, memory: int) -> int:
    """OCI swap is memory+swap (v1 memsw); memory.swap.max is swap alone.

    Returns -1 for "max" and 0 for "leave unset".
    """
    # Unlimited memory with swap unset means both unlimited, as on v1.
    if memory == -1 and swap == 0:
        return -1
    if swap in (-1, 0):
        return swap
    if memory in (0, -1):
        raise CgroupError(
            f"set `memory.swap.max` from swap={swap}: a swap limit needs a memory limit"
        )
    if memory < 0:
        raise CgroupError(f"set `memory.max`: invalid memory limit {memory}")
    if swap < memory:
        raise CgroupError(
            f"set `memory.swap.max`: memory+swap limit {swap} is below the memory limit {memory}"
        )
    return swap - memory
