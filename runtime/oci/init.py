"""The container's init, in the child forked by `create`: set everything up, park on the
exec fifo, then exec the user process when `start` opens the fifo.

It talks to its parent over a SOCK_SEQPACKET pair, one message per step:
  parent → child  b"G" go (the child is in its cgroup) · b"A" ack of a request
  child → parent  b"U" write my id maps · b"H" run prestart/createRuntime hooks ·
                  b"R"+json warnings: parked next · b"E"+message: failed ·
                  b"P"+pid: the init is this grandchild (user + new pid namespace) ·
                  b"W"+message: a warning (after R only)
The socket closes (end-of-file to the parent) when the init parks: it execs the
parker (parker.py), or closes it before parking in Python.

With a new user namespace the new pid namespace must be created inside it (else the
container's root cannot mount its /proc), so the child unshares both and forks the
real init, which is then re-parented to the caller's subreaper instead of the caller.
"""

from __future__ import annotations

import os

from pycri.runtime.oci import namespaces, process
from pycri.runtime.sys import Syscalls
from pycri.runtime.sys import constants as c

TYPE_CHECKING = False
if TYPE_CHECKING:
    import _socket
    import socket
    from typing import Any, NoReturn


class InitContext:
    """Everything the init needs, prepared by the parent before fork (a plain class:
    importing `dataclasses` costs the CLI ~6 ms)."""

    def __init__(self, *, sc: Syscalls, container_id: str, spec: dict[str, Any],
                 bundle: str, sock: _socket.socket, fifo_fd: int, plan: namespaces.Plan,
                 stdio: tuple[int, int, int] | None = None,
                 console: socket.socket | None = None, preserve_fds: int = 0,
                 no_pivot: bool = False, no_new_keyring: bool = False, seccomp: Any = None,
                 caps: Any = None, parent_hooks: bool = False,
                 pid_in_child: bool = False, parker_fd: int | None = None) -> None:
        self.sc = sc
        self.container_id = container_id
        self.spec = spec
        self.bundle = bundle
        self.sock = sock
        self.fifo_fd = fifo_fd
        self.plan = plan
        self.stdio = stdio
        self.console = console
        self.preserve_fds = preserve_fds
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.seccomp = seccomp
        self.caps = caps
        self.parent_hooks = parent_hooks
        self.pid_in_child = pid_in_child
        # The parker's fd (see parker.py): the init parks in it instead of in Python.
        self.parker_fd = parker_fd
        # v1 cgroup dirs the child moves itself into (see CgroupManager.join_plan).
        self.cgroup_tasks: list[str] = []
        self.warnings: list[str] = []


def preload(spec: dict[str, Any]) -> None:
    """Import, in the parent, every module the child needs after pivot_root: from then
    on the host's files (and so Python's import path) are out of its reach."""
    import resource  # noqa: F401

    from pycri.runtime.oci import devices, errors, fastjson, rootfs  # noqa: F401

    if any(m.get("type") in ("cgroup", "cgroup2") for m in spec.get("mounts") or ()):
        from pycri.runtime.oci import cgroupfs_mount  # noqa: F401
    proc = spec.get("process") or {}
    if proc.get("terminal"):
        import fcntl  # noqa: F401

        from pycri.runtime.oci import console  # noqa: F401
    if (spec.get("hooks") or {}).get("startContainer") or (spec.get("hooks") or {}).get(
            "createContainer"):
        import subprocess  # noqa: F401

        from pycri.runtime.oci import hooks  # noqa: F401


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror if "`" in exc.strerror or ":" in exc.strerror else (
            f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror)
    return str(exc) or type(exc).__name__


def child_main(ctx: InitContext) -> NoReturn:
    """Never returns: execs the user process or exits 1 after reporting the error."""
    try:
        _run(ctx)
    except BaseException as exc:  # anything at all must reach the parent, not the caller
        msg = describe(exc).encode(errors="replace")[:60000]
        try:
            ctx.sock.send(b"E" + msg)
        except BaseException:
            # Past the ready message (start, exec): stderr is all that is left.
            try:  # noqa: SIM105 - no contextlib on pyrunc's create
                os.write(2, b"pyrunc init: " + msg + b"\n")
            except BaseException:
                pass
    os._exit(1)


def _expect(sock: _socket.socket, what: bytes) -> None:
    msg = sock.recv(16)
    if msg != what:
        raise RuntimeError(f"sync with parent: expected {what!r}, got {msg!r}")


def _run(ctx: InitContext) -> None:
    sc, spec, plan = ctx.sc, ctx.spec, ctx.plan
    linux = spec.get("linux") or {}
    proc = spec["process"]
    # Not dumpable until exec: no process of the container can open our /proc entries
    # (exe, fds, memory), which lead to the host's interpreter and files.
    sc.prctl(c.PR_SET_DUMPABLE, 0)
    os.setsid()
    if ctx.stdio is not None:
        for target, fd in enumerate(ctx.stdio):
            if fd != target:
                os.dup2(fd, target)
    keep = {ctx.sock.fileno(), ctx.fifo_fd}
    if ctx.console is not None:
        keep.add(ctx.console.fileno())
    if ctx.parker_fd is not None:
        keep.add(ctx.parker_fd)
    process.close_fds(keep, 3 + ctx.preserve_fds)
    for fd in range(3, 3 + ctx.preserve_fds):
        os.set_inheritable(fd, True)
    join_cgroups(ctx.cgroup_tasks)
    _expect(ctx.sock, b"G")
    if any(m.get("type") in ("cgroup", "cgroup2") for m in spec.get("mounts") or ()):
        from pycri.runtime.oci import cgroupfs_mount

        cgroupfs_mount.remember_own()
    join_fds = namespaces.open_joins(plan.join)
    in_userns = plan.has("user")
    namespaces.join(sc, [j for j in join_fds if j[0] == "user"])
    if "user" in plan.new:
        sc.unshare(c.CLONE_NEWUSER)
        ctx.sock.send(b"U")
        _expect(ctx.sock, b"A")
    if in_userns:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    namespaces.join(sc, [j for j in join_fds if j[0] != "user"], skip=namespaces.FOR_CHILDREN)
    if ctx.pid_in_child:
        sc.unshare(plan.unshare_flags(skip=("user",)))
        _fork_init(ctx)
    else:
        sc.unshare(plan.unshare_flags(skip=("user", *namespaces.FOR_CHILDREN)))
    if spec.get("hostname"):
        sc.sethostname(spec["hostname"])
    if spec.get("domainname"):
        sc.setdomainname(spec["domainname"])
    write_sysctls(linux.get("sysctl") or {})
    if not ctx.no_new_keyring:
        _join_keyring(ctx.container_id)
    from pycri.runtime.oci import rootfs

    rootfs.prepare(sc, spec, ctx.bundle, in_userns=in_userns, no_pivot=ctx.no_pivot,
                   before_pivot=lambda: _before_pivot(ctx))
    if proc.get("terminal"):
        if ctx.console is None:
            raise RuntimeError("process.terminal is set but no console socket was given")
        from pycri.runtime.oci import console

        console.setup_terminal(ctx.console)
    rootfs.finalize(sc, spec)
    process.setup_before_user(proc, ctx.warnings)
    # Without no_new_privs the kernel only takes a filter from a process that still
    # holds CAP_SYS_ADMIN: load it before the capability sets are dropped.
    early_seccomp = ctx.seccomp is not None and not proc.get("noNewPrivileges")
    if early_seccomp:
        ctx.seccomp.load()
    process.setup_user_and_privs(sc, proc, ctx.caps, in_userns=in_userns)
    env = process.build_env(proc)
    exe = process.find_executable(proc["args"][0], env)
    from pycri.runtime.oci import fastjson

    ctx.sock.send(b"R" + fastjson.dumps(ctx.warnings).encode())
    if ctx.parker_fd is not None:
        # Everything left is the parker's (no startContainer hooks here): it cannot load
        # a filter, so load it now; the parent checked the filter lets the parker run.
        if ctx.seccomp is not None and not early_seccomp:
            ctx.seccomp.load()
            early_seccomp = True
        from pycri.runtime.oci import parker

        # The parker closes the socket once it is non-dumpable: then `create` returns.
        err = parker.exec_parker(ctx.parker_fd, ctx.fifo_fd, ctx.sock.fileno(), exe,
                                 proc["args"], env)
        ctx.sock.send(b"W" + f"parker exec failed, parking in Python: {err}".encode())
    ctx.sock.close()
    fifo = os.open(f"/proc/self/fd/{ctx.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    os.write(fifo, b"0")
    # `fifo` stays open (close-on-exec): `start` sees end-of-file once we have exec'd,
    # so poststart hooks run after the user process, as the spec wants.
    os.close(ctx.fifo_fd)
    if spec.get("hooks", {}).get("startContainer"):
        _run_container_hooks(ctx, "startContainer")
    if ctx.seccomp is not None and not early_seccomp:
        ctx.seccomp.load()
    os.execve(exe, proc["args"], env)


def join_cgroups(dirs: list[str]) -> None:
    """Move this (single-threaded) process into v1 cgroups: "0" written to `tasks` moves
    only the writer, which the kernel does without its global threadgroup lock."""
    for d in dirs:
        try:
            fd = os.open(os.path.join(d, "tasks"), os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        except OSError as exc:
            raise OSError(exc.errno, f"join cgroup `{d}`: {os.strerror(exc.errno or 0)}",
                          d) from exc


def _fork_init(ctx: InitContext) -> None:
    """Become the parent of the real init (pid 1 of the new pid namespace), report its
    host pid, and leave."""
    pid = os.fork()
    if pid == 0:
        return
    ctx.sock.send(b"P" + str(pid).encode())
    os._exit(0)


def _before_pivot(ctx: InitContext) -> None:
    if ctx.parent_hooks:
        ctx.sock.send(b"H")
        _expect(ctx.sock, b"A")
    if (ctx.spec.get("hooks") or {}).get("createContainer"):
        _run_container_hooks(ctx, "createContainer")


def _run_container_hooks(ctx: InitContext, kind: str) -> None:
    from pycri.runtime.oci import hooks

    hooks.run(ctx.spec, kind, {
        "ociVersion": ctx.spec.get("ociVersion", ""), "id": ctx.container_id,
        "status": "created" if kind == "startContainer" else "creating",
        "pid": os.getpid(), "bundle": ctx.bundle,
        "annotations": ctx.spec.get("annotations") or {},
    })


def write_sysctls(sysctl: dict[str, str]) -> None:
    for key, value in sysctl.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as exc:
            raise OSError(exc.errno, f"write sysctl `{key}`: {os.strerror(exc.errno or 0)}",
                          key) from exc


def _join_keyring(container_id: str) -> None:
    from pycri.runtime.sys import keyctl_join_session_keyring

    try:
        keyctl_join_session_keyring(f"_ses.{container_id}")
    except OSError as exc:
        # Kernels without keyrings (or where it is disabled) run fine without one.
        if exc.errno not in (38, 1, 13):
            raise
