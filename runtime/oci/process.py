"""Applying an OCI `process` to the calling process, inside the container, before exec.

Shared by the container's init and by `exec`. Everything here runs after fork in a
single-threaded child; failures raise and the caller reports them to its parent.
"""

from __future__ import annotations

import os

from pycri.runtime.sys import Syscalls
from pycri.runtime.sys import constants as c

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_IOPRIO = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
_SCHED = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
          "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
_SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x1, "SCHED_FLAG_RECLAIM": 0x2,
                "SCHED_FLAG_DL_OVERRUN": 0x4, "SCHED_FLAG_KEEP_POLICY": 0x8,
                "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
                "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}


def set_rlimits(proc: dict[str, Any]) -> None:
    import resource

    from pycri.runtime.oci.spec import RLIMITS

    def lim(v: int) -> int:
        return resource.RLIM_INFINITY if v >= 2**63 - 1 else v

    for rl in proc.get("rlimits") or ():
        try:
            resource.setrlimit(RLIMITS[rl["type"]], (lim(rl["soft"]), lim(rl["hard"])))
        except (OSError, ValueError) as exc:
            raise OSError(getattr(exc, "errno", 22) or 22,
                          f"set rlimit {rl['type']}: {exc}") from exc


def set_oom_score_adj(value: int | None, warnings: list[str], pid: str = "self") -> None:
    """Set it; when the kernel refuses to lower it (no CAP_SYS_RESOURCE), keep the current
    value and warn once instead of failing the container."""
    if value is None:
        return
    path = f"/proc/{pid}/oom_score_adj"
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except PermissionError:
        with open(path) as f:
            current = int(f.read())
        if value < current:
            warnings.append(f"oomScoreAdj {value} clamped to {current}: lowering it needs "
                            "CAP_SYS_RESOURCE")
            return
        raise


def set_io_priority(proc: dict[str, Any]) -> None:
    io = proc.get("ioPriority")
    if io:
        from pycri.runtime.sys import ioprio_set

        ioprio_set(_IOPRIO[io["class"]], io.get("priority", 0))


def set_scheduler(proc: dict[str, Any]) -> None:
    sched = proc.get("scheduler")
    if not sched:
        return
    from pycri.runtime.oci.errors import InvalidSpec
    from pycri.runtime.sys import sched_setattr

    if sched["policy"] not in _SCHED:
        raise InvalidSpec("process.scheduler.policy", f"unknown policy `{sched['policy']}`")
    flags = 0
    for name in sched.get("flags") or ():
        flags |= _SCHED_FLAGS.get(name, 0)
    sched_setattr(_SCHED[sched["policy"]], nice=sched.get("nice", 0),
                  priority=sched.get("priority", 0), flags=flags,
                  runtime=sched.get("runtime", 0), deadline=sched.get("deadline", 0),
                  period=sched.get("period", 0))


def prepare_caps(proc: dict[str, Any]) -> Any:
    """In the parent: validate the capability sets into a plan the child applies."""
    caps = proc.get("capabilities")
    if caps is None:
        return None
    from pycri.runtime.oci.capabilities import CapabilityError, prepare
    from pycri.runtime.oci.errors import InvalidSpec

    try:
        return prepare(caps)
    except CapabilityError as exc:
        raise InvalidSpec("process.capabilities", str(exc)) from exc


def switch_user(sc: Syscalls, proc: dict[str, Any], caps: Any, *,
                in_userns: bool = False) -> None:
    """Bounding set, then groups/gid/uid keeping the permitted set across the uid change,
    then the final capability sets (runc's order)."""
    user = proc.get("user") or {}
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    groups = user.get("additionalGids") or []
    if caps is not None:
        caps.drop_bounding()
    if not in_userns or _setgroups_allowed():
        os.setgroups(groups)
    sc.prctl(c.PR_SET_KEEPCAPS, 1)
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    sc.prctl(c.PR_SET_KEEPCAPS, 0)
    if uid != 0:
        # A uid change made us non-dumpable, which hides /proc/self/fd from ourselves
        # (the exec fifo is reopened through it). A non-root user cannot write the
        # host's root-owned interpreter anyway; root keeps the protection until exec.
        sc.prctl(c.PR_SET_DUMPABLE, 1)
    if caps is not None:
        caps.apply()


def _setgroups_allowed() -> bool:
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() == "allow"
    except OSError:
        return True


def build_env(proc: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in proc.get("env") or ():
        k, sep, v = item.partition("=")
        if sep:
            env[k] = v
    if "HOME" not in env:
        env["HOME"] = _home_of((proc.get("user") or {}).get("uid", 0))
    return env


def _home_of(uid: int) -> str:
    try:
        with open("/etc/passwd") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5] or "/"
    except OSError:
        pass
    return "/"


def find_executable(name: str, env: dict[str, str]) -> str:
    if "/" in name:
        # Checked now, at create time, so a typo fails `create` rather than the start.
        if not os.access(name, os.X_OK):
            raise FileNotFoundError(2, f"exec `{name}`: no such file or not executable", name)
        return name
    for d in env.get("PATH", DEFAULT_PATH).split(":"):
        cand = os.path.join(d or ".", name)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise FileNotFoundError(2, f"exec `{name}`: executable file not found in $PATH", name)


def setup_before_user(proc: dict[str, Any], warnings: list[str]) -> None:
    set_rlimits(proc)
    set_oom_score_adj(proc.get("oomScoreAdj"), warnings)
    set_io_priority(proc)
    set_scheduler(proc)


def setup_user_and_privs(sc: Syscalls, proc: dict[str, Any], caps: Any, *,
                         in_userns: bool) -> None:
    cwd = proc.get("cwd") or "/"
    # Retried as the user below: the cwd may be reachable by them only (root-squashed NFS).
    try:  # noqa: SIM105 - no contextlib (collections, functools) on pyrunc's create
        os.chdir(cwd)
    except OSError:
        pass
    switch_user(sc, proc, caps, in_userns=in_userns)
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise OSError(exc.errno, f"chdir to cwd (`{cwd}`) set in config.json: "
                      f"{os.strerror(exc.errno or 0)}", cwd) from exc
    if proc.get("noNewPrivileges"):
        sc.prctl(c.PR_SET_NO_NEW_PRIVS, 1)
    umask = (proc.get("user") or {}).get("umask")
    os.umask(0o022 if umask is None else umask)


def compile_seccomp(linux: dict[str, Any]) -> Any:
    """In the parent, before fork: the filter is pure data to the init."""
    profile = linux.get("seccomp")
    if not profile:
        return None
    from pycri.runtime.oci.errors import Unsupported

    try:
        from pycri.runtime.oci.seccomp import compile_filter
    except ImportError as exc:
        raise Unsupported("linux.seccomp: seccomp support is not available") from exc
    return compile_filter(profile)


def close_fds(keep: set[int], first: int = 3) -> None:
    """Close every fd >= first not in keep, so nothing of the host leaks in."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= first and fd not in keep:
            # The listing's own directory fd is already closed by now.
            try:  # noqa: SIM105 - no contextlib on pyrunc's create
                os.close(fd)
            except OSError:
                pass
