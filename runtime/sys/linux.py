"""Real syscalls through ctypes (libc loaded on first use to keep imports cheap)."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_libc: Any = None
_pylibc: Any = None

# Syscalls glibc has no wrapper for, by machine.
_NR: dict[str, dict[str, int]] = {
    "x86_64": {"pivot_root": 155, "keyctl": 250, "ioprio_set": 251, "sched_setattr": 314,
               "clone3": 435},
    "aarch64": {"pivot_root": 41, "keyctl": 219, "ioprio_set": 30, "sched_setattr": 274,
                "clone3": 435},
}


def _lib() -> Any:
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _err(verb: str, path: str | None = None) -> OSError:
    import ctypes

    errno = ctypes.get_errno()
    what = f"{verb} `{path}`" if path is not None else verb
    return OSError(errno, f"{what}: {os.strerror(errno)}", path)


def _b(s: str | bytes | None) -> bytes | None:
    if s is None or isinstance(s, bytes):
        return s
    return os.fsencode(s)


def _nr(name: str) -> int:
    try:
        return _NR[os.uname().machine][name]
    except KeyError:
        raise OSError(38, f"{name}: not supported on {os.uname().machine}") from None


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    if _lib().mount(_b(source), _b(target), _b(fstype), flags, _b(data)) != 0:
        raise _err(f"mount {fstype or source or ''}".rstrip() + " on", target)


def umount2(target: str, flags: int = 0) -> None:
    if _lib().umount2(_b(target), flags) != 0:
        raise _err("umount", target)


def unshare(flags: int) -> None:
    if _lib().unshare(flags) != 0:
        raise _err(f"unshare {flags:#x}")


def setns(fd: int, nstype: int = 0, path: str | None = None) -> None:
    if _lib().setns(fd, nstype) != 0:
        raise _err("setns", path or f"fd {fd}")


def pivot_root(new_root: str, put_old: str) -> None:
    if _lib().syscall(_nr("pivot_root"), _b(new_root), _b(put_old)) != 0:
        raise _err("pivot_root", new_root)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    import ctypes

    ret: int = _lib().prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                            ctypes.c_ulong(arg4), ctypes.c_ulong(arg5))
    if ret < 0:
        raise _err(f"prctl {option}")
    return ret


def sethostname(name: str) -> None:
    raw = name.encode()
    if _lib().sethostname(raw, len(raw)) != 0:
        raise _err("sethostname", name)


def setdomainname(name: str) -> None:
    raw = name.encode()
    if _lib().setdomainname(raw, len(raw)) != 0:
        raise _err("setdomainname", name)


def personality(persona: int) -> int:
    ret: int = _lib().personality(persona)
    if ret == -1:
        raise _err(f"personality {persona:#x}")
    return ret


def keyctl_join_session_keyring(name: str | None) -> int:
    from pycri.runtime.sys.constants import KEYCTL_JOIN_SESSION_KEYRING

    ret: int = _lib().syscall(_nr("keyctl"), KEYCTL_JOIN_SESSION_KEYRING, _b(name))
    if ret < 0:
        raise _err("join session keyring", name)
    return ret


def ioprio_set(ioclass: int, priority: int, pid: int = 0) -> None:
    from pycri.runtime.sys.constants import IOPRIO_CLASS_SHIFT, IOPRIO_WHO_PROCESS

    value = (ioclass << IOPRIO_CLASS_SHIFT) | priority
    if _lib().syscall(_nr("ioprio_set"), IOPRIO_WHO_PROCESS, pid, value) != 0:
        raise _err("ioprio_set", str(value))


def sched_setattr(policy: int, *, nice: int = 0, priority: int = 0, flags: int = 0,
                  runtime: int = 0, deadline: int = 0, period: int = 0, pid: int = 0) -> None:
    import ctypes

    class _Attr(ctypes.Structure):
        _fields_ = [
            ("size", ctypes.c_uint32), ("policy", ctypes.c_uint32), ("flags", ctypes.c_uint64),
            ("nice", ctypes.c_int32), ("priority", ctypes.c_uint32),
            ("runtime", ctypes.c_uint64), ("deadline", ctypes.c_uint64),
            ("period", ctypes.c_uint64),
        ]

    attr = _Attr(ctypes.sizeof(_Attr), policy, flags, nice, priority, runtime, deadline, period)
    if _lib().syscall(_nr("sched_setattr"), pid, ctypes.byref(attr), 0) != 0:
        raise _err("sched_setattr", str(policy))


def fork_into_cgroup(cgroup_fd: int) -> int:
    """fork(), the child born inside the cgroup2 directory open at `cgroup_fd` (clone3
    with CLONE_INTO_CGROUP); returns 0 in the child, its pid in the parent.

    Moving a process with cgroup.procs takes the kernel's global threadgroup lock for
    writing, which first waits out an RCU grace period (~7-15 ms on a quiet host);
    a child born in its cgroup never moves. The call goes through a `PyDLL` (the GIL
    stays held across the clone, as os.fork holds it) between CPython's own before/after
    fork hooks, so the child's interpreter is in the state os.fork would leave it in.
    """
    import ctypes

    from pycri.runtime.sys.constants import CLONE_INTO_CGROUP, SIGCHLD

    global _pylibc
    if _pylibc is None:
        _pylibc = ctypes.PyDLL(None, use_errno=True)
        _pylibc.syscall.restype = ctypes.c_long
    args = (ctypes.c_uint64 * 11)()  # struct clone_args, CLONE_ARGS_SIZE_VER2
    args[0] = CLONE_INTO_CGROUP
    args[4] = SIGCHLD  # exit_signal: the parent waits for it like any forked child
    args[10] = cgroup_fd
    api = ctypes.pythonapi
    api.PyOS_BeforeFork()
    pid: int = _pylibc.syscall(_nr("clone3"), ctypes.byref(args), ctypes.sizeof(args))
    if pid == 0:
        # glibc's cached tid in the child's thread block is the parent's (only its own
        # fork() updates it); glibc >= 2.34 asks the kernel for the tid where it matters
        # (raise/abort), and the init never starts a thread before it execs.
        api.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    api.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone3 into cgroup fd {cgroup_fd}: {os.strerror(err)}")
    return pid


class Syscalls:
    """The kernel as the runtime sees it; `FakeSyscalls` records instead."""

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        mount(source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int = 0) -> None:
        umount2(target, flags)

    def unshare(self, flags: int) -> None:
        unshare(flags)

    def setns(self, fd: int, nstype: int = 0, path: str | None = None) -> None:
        setns(fd, nstype, path)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        pivot_root(new_root, put_old)

    def mknod(self, path: str, mode: int, device: int) -> None:
        os.mknod(path, mode, device)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0,
              arg5: int = 0) -> int:
        return prctl(option, arg2, arg3, arg4, arg5)

    def sethostname(self, name: str) -> None:
        sethostname(name)

    def setdomainname(self, name: str) -> None:
        setdomainname(name)


LINUX = Syscalls()
