"""The runtime library: the container lifecycle as the shim and the pyrunc CLI drive it."""

from __future__ import annotations

import os

from pycri.runtime.oci import namespaces, state
from pycri.runtime.oci.errors import (
    ContainerExists,
    ContainerNotRunning,
    InitFailed,
    InvalidSpec,
    InvalidState,
)
from pycri.runtime.oci.lazylog import get_logger
from pycri.runtime.oci.state import Status
from pycri.runtime.sys import LINUX, Syscalls

TYPE_CHECKING = False
if TYPE_CHECKING:
    import _socket
    from collections.abc import Callable
    from typing import Any

# SIGKILL without the `signal` module (it imports enum: ~3 ms per CLI call).
_SIGKILL = 9

log = get_logger(__name__)


class Container:
    def __init__(self, root: str, record: dict[str, Any], sc: Syscalls = LINUX) -> None:
        self.root = root
        self.record = record
        self.sc = sc
        self.id: str = record["id"]
        self.pid: int = record["pid"]
        self.bundle: str = record["bundle"]
        self.dir = os.path.join(root, self.id)

    # ---- create -------------------------------------------------------------------------

    @classmethod
    def create(cls, root: str, container_id: str, bundle: str, *,
               stdio: tuple[int, int, int] | None = None, console_socket: str | None = None,
               pid_file: str | None = None, no_pivot: bool = False, preserve_fds: int = 0,
               no_new_keyring: bool = False, sc: Syscalls = LINUX,
               spec: dict[str, Any] | None = None) -> Container:
        """Fork the init as a direct child of the caller; return once it is parked."""
        from pycri.runtime.oci import spec as speclib

        cdir = state.container_dir(root, container_id)
        bundle = os.path.abspath(bundle)
        if os.path.exists(cdir):
            raise ContainerExists(container_id)
        if spec is None:
            spec = speclib.load(bundle)
        else:
            speclib.validate(spec)
        if not spec.get("process"):
            raise InvalidSpec("process", "is required to create a container")
        plan = namespaces.plan(spec)
        if not plan.has("mount"):
            raise InvalidSpec("linux.namespaces", "a mount namespace is required")
        os.makedirs(root, 0o711, exist_ok=True)
        try:
            os.mkdir(cdir, 0o711)
        except FileExistsError:
            raise ContainerExists(container_id) from None
        with _Undo() as undo:
            undo.callback(_remove_dir, cdir)
            container = cls._create_in(cdir, root, container_id, bundle, spec, plan, undo,
                                       stdio=stdio, console_socket=console_socket,
                                       pid_file=pid_file, no_pivot=no_pivot,
                                       preserve_fds=preserve_fds,
                                       no_new_keyring=no_new_keyring, sc=sc)
            undo.pop_all()
        return container

    @classmethod
    def _create_in(cls, cdir: str, root: str, container_id: str, bundle: str,
                   spec: dict[str, Any], plan: namespaces.Plan, undo: _Undo,
                   *, stdio: tuple[int, int, int] | None, console_socket: str | None,
                   pid_file: str | None, no_pivot: bool, preserve_fds: int,
                   no_new_keyring: bool, sc: Syscalls) -> Container:
        from pycri.runtime.oci import cgroup_adapter, hooks, init, process

        linux = spec.get("linux") or {}
        fifo = os.path.join(cdir, state.EXEC_FIFO)
        os.mkfifo(fifo, 0o622)
        os.chmod(fifo, 0o622)  # not the umask's: a non-root container user opens it
        seccomp = process.compile_seccomp(linux)
        init.preload(spec)
        from pycri.runtime.oci import parker

        parker_fd = parker.fd_for(spec, seccomp)
        caps = process.prepare_caps(spec["process"])
        caller = cgroup_adapter.remember_caller(cdir)
        mgr = cgroup_adapter.open_manager(linux.get("cgroupsPath"), container_id,
                                          caller_cgroup=caller)
        mgr.create()
        undo.callback(_quiet, mgr.destroy, "destroy cgroup")
        mgr.set_resources(linux.get("resources") or {})
        console = None
        if (spec.get("process") or {}).get("terminal"):
            if not console_socket:
                raise InvalidSpec("process.terminal", "a console socket is required")
            from pycri.runtime.oci import console as consolelib

            console = consolelib.connect(console_socket)
            undo.callback(console.close)
        fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        undo.callback(os.close, fifo_fd)
        # _socket, not socket: the wrapper module imports enum and selectors (~2 ms).
        import _socket

        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        undo.callback(ours.close)
        ctx = init.InitContext(
            sc=sc, container_id=container_id, spec=spec, bundle=bundle, sock=theirs,
            fifo_fd=fifo_fd, plan=plan, stdio=stdio, console=console,
            preserve_fds=preserve_fds, no_pivot=no_pivot, no_new_keyring=no_new_keyring,
            seccomp=seccomp, caps=caps, parent_hooks=hooks.has(spec, "prestart", "createRuntime"),
            parker_fd=parker_fd)
        ctx.pid_in_child = "user" in plan.new and "pid" in plan.new
        for_children: list[tuple[str, str | None]] = [
            (k, None) for k in plan.new if k in namespaces.FOR_CHILDREN and not ctx.pid_in_child]
        for_children += [(k, p) for k, p in plan.join if k in namespaces.FOR_CHILDREN]
        born_in, ctx.cgroup_tasks = mgr.join_plan()
        with namespaces.ForChildren(sc, for_children):
            pid, born = _fork(born_in)
            if pid == 0:
                init.child_main(ctx)
        theirs.close()
        record = {
            "ociVersion": spec.get("ociVersion", ""), "id": container_id, "pid": pid,
            "pid_start": None, "bundle": bundle, "rootfs": spec["root"]["path"],
            "created": state.rfc3339_now(), "owner": "",
            "annotations": spec.get("annotations") or {},
            "cgroups_path": linux.get("cgroupsPath") or "",
            "config": spec,
        }
        undo.callback(lambda: _kill_and_reap(record["pid"]))
        if born_in is None and not ctx.cgroup_tasks:
            mgr.apply(pid)
        elif born_in is not None and not born:
            mgr.join_unified(pid)
        ours.send(b"G")
        pid = _parent_sync(ours, pid, spec, record)
        record["pid"] = pid
        record["pid_start"] = state.proc_start_time(pid)
        state.save(cdir, record)
        if pid_file:
            write_pid_file(pid_file, pid)
        if console is not None:
            console.close()
        ours.close()
        os.close(fifo_fd)
        log.debug("created container_id=%s pid=%d", container_id, pid)
        return cls(root, record, sc)

    # ---- lookup and status --------------------------------------------------------------

    @classmethod
    def load(cls, root: str, container_id: str, sc: Syscalls = LINUX) -> Container:
        return cls(root, state.read(root, container_id), sc)

    def _manager(self) -> Any:
        from pycri.runtime.oci import cgroup_adapter

        return cgroup_adapter.open_manager(
            self.record.get("cgroups_path"), self.id,
            caller_cgroup=os.path.join(self.dir, cgroup_adapter.CALLER_CGROUP))

    def status(self) -> Status:
        if not state.process_alive(self.record):
            return Status.STOPPED
        if os.path.exists(os.path.join(self.dir, state.EXEC_FIFO)):
            return Status.CREATED
        from pycri.runtime.oci import cgroup_adapter

        if cgroup_adapter.is_frozen(self._manager()):
            return Status.PAUSED
        return Status.RUNNING

    def state(self) -> dict[str, Any]:
        st = self.status()
        r = self.record
        return {
            "ociVersion": r.get("ociVersion", ""), "id": self.id,
            "pid": 0 if st is Status.STOPPED else self.pid, "status": st.value,
            "bundle": self.bundle, "rootfs": r.get("rootfs", ""), "created": r["created"],
            "owner": r.get("owner", ""), "annotations": r.get("annotations") or {},
        }

    # ---- start / signals ----------------------------------------------------------------

    def start(self) -> None:
        st = self.status()
        if st is Status.STOPPED:
            raise ContainerNotRunning(self.id)
        if not st.can_start():
            raise InvalidState(f"cannot start a container in the {st.value} state")
        fifo = os.path.join(self.dir, state.EXEC_FIFO)
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not _await_fifo(fd, self.record):
                raise ContainerNotRunning(self.id)
        finally:
            os.close(fd)
        try:  # noqa: SIM105 - no contextlib on the CLI's hot path
            os.unlink(fifo)
        except FileNotFoundError:
            pass
        from pycri.runtime.oci import hooks

        if hooks.has(self.record["config"], "poststart"):
            hooks.run(self.record["config"], "poststart", self.state(), strict=False)

    def kill(self, sig: int, all: bool = False) -> None:
        st = self.status()
        if not st.can_kill():
            raise ContainerNotRunning(self.id, st.value)
        if all:
            mgr = self._manager()
            mgr.kill_all(sig)
            if mgr.pids():
                return
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            raise ContainerNotRunning(self.id) from None

    def delete(self, force: bool = False) -> None:
        st = self.status()
        if st in (Status.RUNNING, Status.PAUSED):
            if not force:
                raise InvalidState(
                    f"cannot delete container {self.id} that is not stopped: {st.value}")
            self._kill_everything(paused=st is Status.PAUSED)
        elif st is Status.CREATED:
            self._kill_everything(paused=False)
        from pycri.runtime.oci import hooks

        if hooks.has(self.record["config"], "poststop"):
            s = self.state()
            s["status"] = "stopped"
            hooks.run(self.record["config"], "poststop", s, strict=False)
        _quiet(self._manager().destroy, "destroy cgroup")
        _remove_dir(self.dir)

    def _kill_everything(self, *, paused: bool) -> None:
        mgr = self._manager()
        try:  # noqa: SIM105 - no contextlib on the CLI's hot path
            os.kill(self.pid, _SIGKILL)
        except ProcessLookupError:
            pass
        _quiet(lambda: mgr.kill_all(_SIGKILL), "kill cgroup")
        if paused:
            _quiet(mgr.thaw, "thaw cgroup")
        _wait_gone(self.record)

    # ---- exec, cgroup operations --------------------------------------------------------

    def exec(self, process: dict[str, Any], *, stdio: tuple[int, int, int] | None = None,
             console_socket: str | None = None, pid_file: str | None = None,
             preserve_fds: int = 0) -> int:
        st = self.status()
        if not st.can_exec():
            raise ContainerNotRunning(self.id, st.value)
        from pycri.runtime.oci import execproc

        pid = execproc.spawn(self, process, stdio=stdio, console_socket=console_socket,
                             preserve_fds=preserve_fds)
        if pid_file:
            write_pid_file(pid_file, pid)
        return pid

    def pause(self) -> None:
        st = self.status()
        if st is not Status.RUNNING:
            raise ContainerNotRunning(self.id, st.value)
        self._manager().freeze()

    def resume(self) -> None:
        st = self.status()
        if st is not Status.PAUSED:
            raise InvalidState(f"container {self.id} is not paused")
        self._manager().thaw()

    def update(self, resources: dict[str, Any]) -> None:
        st = self.status()
        if st is Status.STOPPED:
            raise ContainerNotRunning(self.id)
        self._manager().set_resources(resources)
        cfg = self.record["config"].setdefault("linux", {})
        cfg.setdefault("resources", {}).update(resources)
        state.save(self.dir, self.record)

    def pids(self) -> list[int]:
        pids = self._manager().pids()
        if not pids and state.process_alive(self.record):
            pids = [self.pid]
        return sorted(pids)

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._manager().stats()
        return result


class _Undo:
    """The rollback journal of `create`: steps undone last-first if it fails (an
    ExitStack without contextlib's imports, ~2 ms of pyrunc's create). A failing
    undo is logged and never replaces the original error."""

    def __init__(self) -> None:
        self._steps: list[tuple[Callable[..., object], tuple[object, ...]]] = []

    def callback(self, fn: Callable[..., object], *args: object) -> None:
        self._steps.append((fn, args))

    def pop_all(self) -> None:
        self._steps = []

    def __enter__(self) -> _Undo:
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._steps:
            fn, args = self._steps.pop()
            _quiet(lambda: fn(*args), getattr(fn, "__name__", repr(fn)))  # noqa: B023


def write_pid_file(path: str, pid: int) -> None:
    """Decimal pid, no newline, written atomically (readers poll for it)."""
    d = os.path.dirname(os.path.abspath(path))
    state.write_atomic(os.path.join(d, os.path.basename(path)), str(pid).encode(), 0o644)


def _fork(cgroup2_dir: str | None) -> tuple[int, bool]:
    """fork(); the child born in `cgroup2_dir` where the kernel allows it. Returns the
    pid (0 in the child) and whether the child was born there."""
    if cgroup2_dir is None:
        return os.fork(), False
    try:
        fd = os.open(cgroup2_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        log.debug("cgroup dir not opened, plain fork dir=%s err=%s", cgroup2_dir, exc)
        return os.fork(), False
    try:
        from pycri.runtime.sys import fork_into_cgroup

        return fork_into_cgroup(fd), True
    except OSError as exc:
        # No clone3 (kernel < 5.7) or the dir refuses a birth (threaded, controllers on):
        # the parent moves the child afterwards, as before.
        log.debug("clone3 into cgroup refused, plain fork dir=%s err=%s", cgroup2_dir, exc)
        return os.fork(), False
    finally:
        os.close(fd)  # in the parent and the child alike


def _parent_sync(sock: _socket.socket, pid: int, spec: dict[str, Any],
                 record: dict[str, Any]) -> int:
    """Serve the init's requests until it reports it is parked (or failed); returns the
    init's pid (a grandchild's when the child forked it, see init.py)."""
    from pycri.runtime.oci import fastjson

    while True:
        msg = sock.recv(65536)
        if not msg:
            raise InitFailed("container init exited before it was ready")
        kind, body = msg[:1], msg[1:]
        if kind == b"R":
            for w in fastjson.loads(body or b"[]"):
                log.warning("%s container_id=%s", w, record["id"])
            _await_parked(sock, record)
            return pid
        if kind == b"E":
            raise InitFailed(body.decode(errors="replace"))
        if kind == b"P":
            try:  # noqa: SIM105 - no contextlib on the CLI's hot path
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            pid = record["pid"] = int(body)
            continue
        if kind == b"U":
            namespaces.write_id_maps(pid, spec.get("linux") or {})
        elif kind == b"H":
            from pycri.runtime.oci import hooks

            hook_state = {k: record[k] for k in ("ociVersion", "id", "pid", "bundle",
                                                  "annotations")}
            hook_state["status"] = "creating"
            hooks.run(spec, "prestart", hook_state)
            hooks.run(spec, "createRuntime", hook_state)
        sock.send(b"A")


def _await_parked(sock: _socket.socket, record: dict[str, Any]) -> None:
    """After "ready": wait for the init's end of the socket to close (it has exec'd the
    parker, or parks in Python), so `create` returns with the init in its final form."""
    while True:
        msg = sock.recv(65536)
        if not msg:
            return
        if msg[:1] == b"E":
            raise InitFailed(msg[1:].decode(errors="replace"))
        if msg[:1] == b"W":
            log.warning("%s container_id=%s", msg[1:].decode(errors="replace"), record["id"])


def _await_fifo(fd: int, record: dict[str, Any]) -> bool:
    """Wait for the init's byte on the exec fifo, then for its exec (the writer's fd is
    close-on-exec), noticing if it dies meanwhile."""
    import select

    poller = select.poll()
    poller.register(fd, select.POLLIN)
    got = False
    while True:
        if poller.poll(100):
            try:
                data = os.read(fd, 1)
            except BlockingIOError:
                continue
            if not data:
                return got  # writer closed: exec'd after its byte, or died before it
            got = True
        elif not state.process_alive(record):
            return got


def _wait_gone(record: dict[str, Any]) -> None:
    import time

    delay = 0.0005
    while state.process_alive(record):
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _kill_and_reap(pid: int) -> None:
    try:  # noqa: SIM105 - no contextlib on the CLI's hot path
        os.kill(pid, _SIGKILL)
    except ProcessLookupError:
        pass
    try:  # noqa: SIM105 - no contextlib on the CLI's hot path
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _remove_dir(path: str) -> None:
    """Rename to a hidden name first so listings never see a half-deleted container."""
    hidden = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".deleting")
    try:
        os.rename(path, hidden)
    except FileNotFoundError:
        return
    # A container dir holds only files: no `shutil` (~2 ms to import) unless it has more.
    try:
        for name in os.listdir(hidden):
            os.unlink(os.path.join(hidden, name))
        os.rmdir(hidden)
    except OSError:
        import shutil

        shutil.rmtree(hidden, ignore_errors=True)


def _quiet(fn: Any, what: str) -> None:
    """Cleanup steps log their failure and never replace the original error."""
    try:
        fn()
    except Exception as exc:
        log.warning("cleanup failed step=%r error=%s", what, exc)
