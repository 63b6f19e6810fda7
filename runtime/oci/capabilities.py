"""Linux capabilities for the container process (OCI `process.capabilities`).

The init applies them in this order, around the switch to the container user:

    plan = prepare(spec["process"].get("capabilities", {}))   # before fork: pure
    plan.drop_bounding()            # 1. needs CAP_SETPCAP, so before capset drops it
    keep_caps_for_user_switch()     # 2. PR_SET_KEEPCAPS=1: setuid keeps `permitted`
    setgroups(); setgid(); setuid() # 3. (the init's code)
    clear_keep_caps()               #    PR_SET_KEEPCAPS=0 again for the user process
    plan.apply()                    # 4. capset(effective, permitted, inheritable)
                                    # 5. then raise the ambient set (inside apply())

`apply_capabilities(caps)` runs 1, 4 and 5 for callers that do not switch user.
"""

from __future__ import annotations

import ctypes
import os

from pycri.runtime.oci.lazylog import get_logger

log = get_logger(__name__)

# typing costs the CLI ~3 ms to import: annotations only (they are strings here).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, Protocol
else:
    Protocol = object

ALL_CAPABILITIES: list[str] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]
CAP_NUMBERS: dict[str, int] = {name: i for i, name in enumerate(ALL_CAPABILITIES)}

# What container runtimes give a container that asks for nothing special.
DEFAULT_CAPABILITIES: list[str] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]

SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")

PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_VERSION_3 = 0x20080522
_CAP_LAST_CAP = "/proc/sys/kernel/cap_last_cap"


class CapabilityError(Exception):
    """Bad capability names in the spec, or the kernel refused a change."""


class CapSyscalls(Protocol):
    """The three kernel calls capabilities need; the fake in tests records them."""

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> int: ...

    def capset(self, effective: int, permitted: int, inheritable: int) -> None: ...


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


class LinuxCapSyscalls:
    """prctl(2) and capset(2) through libc (kept here, small, until runtime.sys has capset)."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> int:
        ret = int(
            self._libc.prctl(
                ctypes.c_int(option),
                ctypes.c_ulong(arg2),
                ctypes.c_ulong(arg3),
                ctypes.c_ulong(0),
                ctypes.c_ulong(0),
            )
        )
        if ret < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"prctl {option} {arg2}: {os.strerror(err)}")
        return ret

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        header = _CapHeader(_CAP_VERSION_3, 0)
        # Version 3 takes the 64-bit sets as two 32-bit words, low word first.
        data = (_CapData * 2)(
            _CapData(effective & 0xFFFFFFFF, permitted & 0xFFFFFFFF, inheritable & 0xFFFFFFFF),
            _CapData(effective >> 32, permitted >> 32, inheritable >> 32),
        )
        if self._libc.capset(ctypes.byref(header), data) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"capset: {os.strerror(err)}")


_LINUX: CapSyscalls | None = None


def _linux() -> CapSyscalls:
    global _LINUX
    if _LINUX is None:
        _LINUX = LinuxCapSyscalls()
    return _LINUX


def last_cap(path: str = _CAP_LAST_CAP) -> int:
    """The highest capability number the running kernel knows."""
    try:
        with open(path, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return len(ALL_CAPABILITIES) - 1


def _mask(caps: Iterable[int]) -> int:
    out = 0
    for cap in caps:
        out |= 1 << cap
    return out


class CapPlan:
    """The five sets as capability numbers, validated and trimmed to the kernel.

    A plain class (importing `dataclasses` costs the CLI ~6 ms); compared by value
    without `syscalls`, like the frozen dataclass it replaces.
    """

    __slots__ = (
        "ambient",
        "bounding",
        "effective",
        "inheritable",
        "last_cap",
        "permitted",
        "syscalls",
    )

    def __init__(self, *, bounding: frozenset[int], effective: frozenset[int],
                 inheritable: frozenset[int], permitted: frozenset[int],
                 ambient: frozenset[int], last_cap: int,
                 syscalls: CapSyscalls | None = None) -> None:
        self.bounding = bounding
        self.effective = effective
        self.inheritable = inheritable
        self.permitted = permitted
        self.ambient = ambient
        self.last_cap = last_cap
        self.syscalls = syscalls

    def _key(self) -> tuple[object, ...]:
        return (self.bounding, self.effective, self.inheritable, self.permitted,
                self.ambient, self.last_cap)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CapPlan) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"CapPlan(bounding={set(self.bounding)}, effective={set(self.effective)}, "
                f"inheritable={set(self.inheritable)}, permitted={set(self.permitted)}, "
                f"ambient={set(self.ambient)}, last_cap={self.last_cap})")

    def _sys(self) -> CapSyscalls:
        return self.syscalls if self.syscalls is not None else _linux()

    def drop_bounding(self) -> None:
        sys = self._sys()
        for cap in range(self.last_cap + 1):
            if cap in self.bounding:
                continue
            try:
                sys.prctl(PR_CAPBSET_DROP, cap)
            except OSError as exc:
                raise CapabilityError(
                    f"drop `{ALL_CAPABILITIES[cap]}` from the bounding set: "
                    f"{os.strerror(exc.errno or 0).lower()}"
                ) from exc

    def apply(self) -> None:
        """capset(2) then the ambient set (ambient needs the cap permitted+inheritable)."""
        sys = self._sys()
        try:
            sys.capset(_mask(self.effective), _mask(self.permitted), _mask(self.inheritable))
        except OSError as exc:
            raise CapabilityError(
                f"set capabilities: {os.strerror(exc.errno or 0).lower()}"
            ) from exc
        for cap in sorted(self.ambient):
            try:
                sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)
            except OSError as exc:
                raise CapabilityError(
                    f"raise ambient `{ALL_CAPABILITIES[cap]}`: "
                    f"{os.strerror(exc.errno or 0).lower()} "
                    "(ambient caps must be permitted and inheritable)"
                ) from exc


def prepare(
    process_caps: dict[str, Any] | None,
    *,
    kernel_last_cap: int | None = None,
    syscalls: CapSyscalls | None = None,
) -> CapPlan:
    """Validate names and build the plan. Unknown names fail; caps the running kernel
    does not know (newer than cap_last_cap) are skipped with one debug line."""
    caps = process_caps or {}
    top = last_cap() if kernel_last_cap is None else kernel_last_cap
    unknown: list[str] = []
    sets: dict[str, frozenset[int]] = {}
    skipped: set[str] = set()
    for name in SETS:
        values = caps.get(name) or []
        if not isinstance(values, list):
            raise CapabilityError(f"process.capabilities.{name}: want a list of names")
        nums: set[int] = set()
        for cap in values:
            key = str(cap).upper()
            if not key.startswith("CAP_"):
                key = "CAP_" + key
            if key not in CAP_NUMBERS:
                unknown.append(f"{name}:{cap}")
                continue
            if CAP_NUMBERS[key] > top:
                skipped.add(key)
                continue
            nums.add(CAP_NUMBERS[key])
        sets[name] = frozenset(nums)
    if unknown:
        raise CapabilityError(f"process.capabilities: unknown capabilities {', '.join(unknown)}")
    if skipped:
        log.debug("capabilities unknown to this kernel skipped caps=%s", ",".join(sorted(skipped)))
    return CapPlan(last_cap=top, syscalls=syscalls, **sets)


def keep_caps_for_user_switch(syscalls: CapSyscalls | None = None) -> None:
    """PR_SET_KEEPCAPS=1 so setuid away from root keeps the permitted set."""
    (syscalls or _linux()).prctl(PR_SET_KEEPCAPS, 1)


def clear_keep_caps(syscalls: CapSyscalls | None = None) -> None:
    (syscalls or _linux()).prctl(PR_SET_KEEPCAPS, 0)


def apply_capabilities(
    process_caps: dict[str, Any] | None, *, syscalls: CapSyscalls | None = None
) -> None:
    """All steps for a process that keeps its uid: bounding, capset, ambient."""
    plan = prepare(process_caps, syscalls=syscalls)
    plan.drop_bounding()
    plan.apply()


def bounding_set(syscalls: CapSyscalls | None = None) -> set[int]:
    """The calling thread's bounding set, read cap by cap."""
    sys = syscalls or _linux()
    return {cap for cap in range(last_cap() + 1) if sys.prctl(PR_CAPBSET_READ, cap) == 1}
