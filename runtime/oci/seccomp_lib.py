"""libseccomp through ctypes: the handful of entry points the runtime needs."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

_LIB_NAMES = ("libseccomp.so.2", "libseccomp.so")

# scmp_compare
CMP = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

# scmp_filter_attr
ATTR_CTL_NNP = 3
ATTR_CTL_TSYNC = 4
ATTR_CTL_LOG = 6
ATTR_CTL_SSB = 7
ATTR_CTL_WAITKILL = 10

ACT_KILL_PROCESS = 0x80000000
ACT_KILL_THREAD = 0x00000000
ACT_TRAP = 0x00030000
ACT_LOG = 0x7FFC0000
ACT_ALLOW = 0x7FFF0000
NR_SCMP_ERROR = -1


def act_errno(err: int) -> int:
    return 0x00050000 | (err & 0xFFFF)


def act_trace(msg: int) -> int:
    return 0x7FF00000 | (msg & 0xFFFF)


class ArgCmp(ctypes.Structure):
    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


class _Version(ctypes.Structure):
    _fields_ = (("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint))


class LibseccompMissing(Exception):
    pass


class Libseccomp:
    """Typed handles on libseccomp.so.2; created once per process."""

    def __init__(self) -> None:
        lib = None
        errors = []
        for name in (*_LIB_NAMES, ctypes.util.find_library("seccomp")):
            if not name:
                continue
            try:
                lib = ctypes.CDLL(name, use_errno=True)
                break
            except OSError as exc:
                errors.append(str(exc))
        if lib is None:
            raise LibseccompMissing(
                "load libseccomp: libseccomp.so.2 not found (install libseccomp2)"
            )
        self.lib = lib
        lib.seccomp_init.argtypes = (ctypes.c_uint32,)
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_release.argtypes = (ctypes.c_void_p,)
        lib.seccomp_release.restype = None
        lib.seccomp_load.argtypes = (ctypes.c_void_p,)
        lib.seccomp_load.restype = ctypes.c_int
        lib.seccomp_attr_set.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32)
        lib.seccomp_attr_set.restype = ctypes.c_int
        lib.seccomp_arch_add.argtypes = (ctypes.c_void_p, ctypes.c_uint32)
        lib.seccomp_arch_add.restype = ctypes.c_int
        lib.seccomp_arch_resolve_name.argtypes = (ctypes.c_char_p,)
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
        lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
        lib.seccomp_rule_add_array.argtypes = (
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.POINTER(ArgCmp),
        )
        lib.seccomp_rule_add_array.restype = ctypes.c_int
        lib.seccomp_version.argtypes = ()
        lib.seccomp_version.restype = ctypes.POINTER(_Version)

    def version(self) -> tuple[int, int, int]:
        v = self.lib.seccomp_version().contents
        return (v.major, v.minor, v.micro)

    def resolve_syscall(self, name: str) -> int:
        return int(self.lib.seccomp_syscall_resolve_name(name.encode()))

    def resolve_arch(self, name: str) -> int:
        return int(self.lib.seccomp_arch_resolve_name(name.encode()))


_lock = threading.Lock()
_instance: Libseccomp | None = None


def get() -> Libseccomp:
    global _instance
    with _lock:
        if _instance is None:
            _instance = Libseccomp()
        return _instance
