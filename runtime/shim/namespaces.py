"""The pod's namespaces, created and pinned by the shim (no pause process).

A forked child unshares the requested namespaces and bind-mounts its
/proc/self/ns/<kind> onto files under `<run root>/ns/<sandbox-id>/`; the mounts keep
the namespaces alive after it exits. For a pod that shares one PID namespace, a
minimal init (pid 1 of the new namespace) stays around and reaps.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal

log = logging.getLogger(__name__)

KINDS = ("net", "ipc", "uts")


def _flags() -> dict[str, int]:
    from pycri.runtime.sys import constants as c

    return {"net": c.CLONE_NEWNET, "ipc": c.CLONE_NEWIPC, "uts": c.CLONE_NEWUTS}


def ns_dir(run_root: str, sandbox_id: str) -> str:
    return os.path.join(run_root, "ns", sandbox_id)


def pin(run_root: str, sandbox_id: str, kinds: list[str], hostname: str = "") -> dict[str, str]:
    """Create and pin `kinds`; returns kind → pinned path. Undoes itself on failure."""
    from pycri.runtime import sys as ksys
    from pycri.runtime.sys import constants as c

    if not kinds:
        return {}
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"pin namespaces: unknown kinds {sorted(unknown)}")
    d = ns_dir(run_root, sandbox_id)
    os.makedirs(d, mode=0o711, exist_ok=True)
    paths = {k: os.path.join(d, k) for k in kinds}
    for p in paths.values():
        os.close(os.open(p, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444))
    flags = 0
    for k in kinds:
        flags |= _flags()[k]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(r)
        try:
            ksys.unshare(flags)
            if hostname and "uts" in kinds:
                ksys.sethostname(hostname)
            for k, p in paths.items():
                ksys.mount(f"/proc/self/ns/{k}", p, None, c.MS_BIND)
            os._exit(0)
        except BaseException as exc:
            try:
                os.write(w, str(exc).encode()[:4000])
            finally:
                os._exit(1)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        err = f.read()
    _, status = os.waitpid(pid, 0)
    if status != 0:
        unpin(run_root, sandbox_id)
        raise OSError(f"pin namespaces {','.join(kinds)}: {err.decode(errors='replace')}")
    return paths


def unpin(run_root: str, sandbox_id: str) -> None:
    """Unmount and remove every pin of the sandbox; safe to call more than once."""
    from pycri.runtime import sys as ksys
    from pycri.runtime.sys import constants as c

    d = ns_dir(run_root, sandbox_id)
    for k in KINDS:
        p = os.path.join(d, k)
        if not os.path.exists(p):
            continue
        try:
            ksys.umount2(p, c.MNT_DETACH)
        except OSError as exc:
            if exc.errno not in (22,):  # EINVAL: not mounted
                log.warning("unpin namespace sandbox_id=%s kind=%s error=%s", sandbox_id, k, exc)
        try:
            os.unlink(p)
        except OSError as exc:
            log.warning("remove pin sandbox_id=%s path=%s error=%s", sandbox_id, p, exc)
    with contextlib.suppress(OSError):
        os.rmdir(d)


def start_pid_init() -> int:
    """Start a reaping pid 1 in a new PID namespace; returns its host pid."""
    from pycri.runtime import sys as ksys
    from pycri.runtime.sys import constants as c

    r, w = os.pipe()
    # The shim holds the write end for its whole life: the init sees EOF when the shim is
    # gone (killed, crashed) and then ends the pod's PID namespace instead of lingering.
    lifeline_r, lifeline_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(r)
            os.close(lifeline_w)
            ksys.unshare(c.CLONE_NEWPID)
            init = os.fork()
            if init == 0:
                os.close(w)
                _pid_init_loop(lifeline_r)
            os.write(w, str(init).encode())
            os._exit(0)
        except BaseException:
            os._exit(1)
    os.close(w)
    os.close(lifeline_r)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    if not data:
        os.close(lifeline_w)
        raise OSError("start pid namespace init: failed")
    return int(data)


def _pid_init_loop(lifeline: int) -> None:  # pragma: no cover - runs as pid 1 of the pod
    os.setsid()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    # Blocked + sigwaitinfo: no window where a child's exit goes unnoticed.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    fd = os.open(os.devnull, os.O_RDWR)
    for t in range(3):
        os.dup2(fd, t)
    if lifeline != 3:
        os.dup2(lifeline, 3)
    os.closerange(4, 65536)
    os.chdir("/")
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
        comm.write("pycri-pod-init")
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        if signal.sigtimedwait({signal.SIGCHLD}, 1.0) is None and _shim_gone(3):
            os._exit(0)  # as pid 1, taking every process of the pod's namespace with it


def _shim_gone(lifeline: int) -> bool:
    import select

    readable, _, _ = select.select([lifeline], [], [], 0)
    return bool(readable) and os.read(lifeline, 1) == b""
