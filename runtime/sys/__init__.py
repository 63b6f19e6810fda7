"""The thin syscall layer: every kernel call the runtime makes that Python lacks.

Callers take a `Syscalls` object (the real `LINUX` or the recording `FakeSyscalls` from
`pycri.runtime.sys.fake`) so namespace and mount logic is testable without root. The
module-level functions are the real implementations, for code that needs no fake.
Errors are `OSError(errno, "<verb> `<path>`: <strerror>", path)`.
"""

from __future__ import annotations

from pycri.runtime.sys.linux import (
    LINUX,
    Syscalls,
    fork_into_cgroup,
    ioprio_set,
    keyctl_join_session_keyring,
    mount,
    personality,
    pivot_root,
    prctl,
    sched_setattr,
    setdomainname,
    sethostname,
    setns,
    umount2,
    unshare,
)

__all__ = [
    "LINUX",
    "Syscalls",
    "fork_into_cgroup",
    "ioprio_set",
    "keyctl_join_session_keyring",
    "mount",
    "personality",
    "pivot_root",
    "prctl",
    "sched_setattr",
    "setdomainname",
    "sethostname",
    "setns",
    "umount2",
    "unshare",
]
