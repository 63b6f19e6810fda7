"""`exec`: a child of the caller that enters a running container and execs a process.

The child joins every namespace of the container's init by /proc/<pid>/ns (the pid and
time namespaces through the parent, around the fork), is put in the container's cgroup by
the parent, applies the process spec and execs. Same sync messages as the init.
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import TYPE_CHECKING, Any, NoReturn

from pycri.runtime.oci import namespaces, process
from pycri.runtime.oci.errors import InitFailed, InvalidSpec
from pycri.runtime.sys import Syscalls
from pycri.runtime.sys import constants as c

if TYPE_CHECKING:
    from pycri.runtime.oci.container import Container


def spawn(container: Container, proc: dict[str, Any], *,
          stdio: tuple[int, int, int] | None = None, console_socket: str | None = None,
          preserve_fds: int = 0) -> int:
    from pycri.runtime.oci import spec as speclib

    speclib._validate_process(proc, "process")
    spec = container.record["config"]
    linux = spec.get("linux") or {}
    init_pid = container.pid
    kinds = [ns["type"] for ns in linux.get("namespaces") or ()]
    joins = sorted(((k, f"/proc/{init_pid}/ns/{namespaces.PROC_NAMES[k]}") for k in kinds),
                   key=lambda kp: namespaces.JOIN_ORDER.index(kp[0]))
    seccomp = process.compile_seccomp(linux)
    from pycri.runtime.oci.init import preload

    preload({"process": proc})
    caps = process.prepare_caps(proc)
    mgr = container._manager()
    with contextlib.ExitStack() as undo:
        console = None
        if proc.get("terminal"):
            if not console_socket:
                raise InvalidSpec("process.terminal", "a console socket is required")
            from pycri.runtime.oci import console as consolelib

            console = consolelib.connect(console_socket)
            undo.callback(console.close)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        undo.callback(ours.close)
        for_children = [(k, p) for k, p in joins if k in namespaces.FOR_CHILDREN]
        with namespaces.ForChildren(container.sc, for_children):
            pid = os.fork()
            if pid == 0:
                _child(container.sc, proc, joins, theirs, console, stdio, preserve_fds,
                       seccomp, caps, "user" in kinds)
        theirs.close()
        try:
            mgr.apply(pid)
            ours.send(b"G")
            # The socket is close-on-exec: end of file means the exec happened.
            msg = ours.recv(65536)
            if msg[:1] == b"E":
                raise InitFailed(msg[1:].decode(errors="replace"))
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            raise
    return pid


def _child(sc: Syscalls, proc: dict[str, Any], joins: list[tuple[str, str]],
           sock: socket.socket, console: socket.socket | None,
           stdio: tuple[int, int, int] | None, preserve_fds: int, seccomp: Any, caps: Any,
           in_userns: bool) -> NoReturn:
    from pycri.runtime.oci.init import describe

    try:
        sc.prctl(c.PR_SET_DUMPABLE, 0)
        os.setsid()
        if stdio is not None:
            for target, fd in enumerate(stdio):
                if fd != target:
                    os.dup2(fd, target)
        keep = {sock.fileno()} | ({console.fileno()} if console is not None else set())
        process.close_fds(keep, 3 + preserve_fds)
        for fd in range(3, 3 + preserve_fds):
            os.set_inheritable(fd, True)
        if sock.recv(16) != b"G":
            os._exit(1)
        fds = namespaces.open_joins(joins)
        namespaces.join(sc, fds, skip=namespaces.FOR_CHILDREN)
        os.chdir("/")
        if console is not None and proc.get("terminal"):
            from pycri.runtime.oci import console as consolelib

            consolelib.setup_terminal(console)
        warnings: list[str] = []
        process.setup_before_user(proc, warnings)
        # Without no_new_privs the kernel only takes a filter from a process that still
        # holds CAP_SYS_ADMIN: load it before the capability sets are dropped.
        early_seccomp = seccomp is not None and not proc.get("noNewPrivileges")
        if early_seccomp:
            seccomp.load()
        process.setup_user_and_privs(sc, proc, caps, in_userns=in_userns)
        env = process.build_env(proc)
        exe = process.find_executable(proc["args"][0], env)
        if seccomp is not None and not early_seccomp:
            seccomp.load()
        os.execve(exe, proc["args"], env)
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            sock.send(b"E" + describe(exc).encode(errors="replace")[:60000])
    os._exit(1)
