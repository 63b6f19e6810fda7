"""The shim's server: listens on `<run root>/shims/<sandbox-id>.sock` and dispatches."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import socket
from typing import TYPE_CHECKING

from pycri.runtime.shim import cgstats, namespaces, protocol
from pycri.runtime.shim.conn import Conn
from pycri.runtime.shim.execs import ExecSession
from pycri.runtime.shim.loop import Loop
from pycri.runtime.shim.protocol import ShimOpError
from pycri.runtime.shim.tasks import STOPPED, Task

if TYPE_CHECKING:
    from typing import Any

log = logging.getLogger(__name__)

RUNTIMES = {"oci": "pycri.runtime.oci.container", "fake": "pycri.runtime.shim.fake_runtime"}
_DEFER = object()  # a handler that answers later (wait, exec sync) returns this
_UNIX_PATH_MAX = 107


class ShimOptions:
    def __init__(self, sandbox_id: str, run_root: str = "/run/pycri", runtime_root: str = "",
                 runtime: str = "oci", namespaces: list[str] | None = None,
                 hostname: str = "", pid_ns: bool = False) -> None:
        self.sandbox_id = sandbox_id
        self.run_root = run_root
        self.runtime_root = runtime_root or os.path.join(run_root, "runtime")
        self.runtime = runtime
        self.namespaces = list(namespaces or [])
        self.hostname = hostname
        self.pid_ns = pid_ns


def socket_path(run_root: str, sandbox_id: str) -> str:
    return os.path.join(run_root, "shims", f"{sandbox_id}.sock")


def _code_for(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, FileNotFoundError | KeyError) or "NotFound" in name:
        return protocol.NOT_FOUND
    if isinstance(exc, FileExistsError) or "Exists" in name:
        return protocol.ALREADY_EXISTS
    if isinstance(exc, ValueError | TypeError) or "Invalid" in name:
        return protocol.INVALID
    if "State" in name or "Precondition" in name:
        return protocol.FAILED_PRECONDITION
    return protocol.INTERNAL


class Shim:
    def __init__(self, opts: ShimOptions) -> None:
        self.opts = opts
        self.sandbox_id = opts.sandbox_id
        self.run_root = opts.run_root
        self.runtime_root = opts.runtime_root
        self.console_dir = os.path.join(opts.run_root, "shims")
        self.runtime: Any = importlib.import_module(RUNTIMES[opts.runtime])
        self.loop = Loop()
        self.tasks: dict[str, Task] = {}
        self.pids: dict[int, Task | ExecSession] = {}
        self.execs: dict[tuple[str, str], ExecSession] = {}
        self.subscribers: list[Conn] = []
        self.ns_paths: dict[str, str] = {}
        self.pid_init = 0
        self.listener: socket.socket | None = None
        self.path = socket_path(opts.run_root, opts.sandbox_id)

    # -- startup / shutdown ------------------------------------------------------
    def setup(self) -> None:
        if len(os.fsencode(self.path)) > _UNIX_PATH_MAX:
            raise ValueError(f"listen on `{self.path}`: path longer than {_UNIX_PATH_MAX}")
        os.makedirs(self.console_dir, mode=0o711, exist_ok=True)
        os.makedirs(self.runtime_root, mode=0o711, exist_ok=True)
        # Before anything is pinned: a refused second shim must not touch the pod.
        self._refuse_if_served()
        self.loop.on_sigchld(self.reap)
        self.ns_paths = namespaces.pin(self.run_root, self.sandbox_id, self.opts.namespaces,
                                       self.opts.hostname)
        try:
            if self.opts.pid_ns:
                self.pid_init = namespaces.start_pid_init()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            sock.bind(self.path)
            os.chmod(self.path, 0o600)
            sock.listen(64)
            sock.setblocking(False)
        except BaseException:
            self._release_pod()
            raise
        self.listener = sock
        self.loop.add_reader(sock.fileno(), self._accept)

    def _refuse_if_served(self) -> None:
        """A second shim for a live pod must not steal the first one's socket."""
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(self.path)
        except OSError:
            return  # absent or stale: ours to take
        finally:
            probe.close()
        raise FileExistsError(f"listen on `{self.path}`: a shim already serves this pod")

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sandbox_id": self.sandbox_id, "pid": os.getpid(),
                               "version": protocol.VERSION, "socket": self.path,
                               "namespaces": dict(self.ns_paths)}
        if self.pid_init:
            out["pid_init"] = self.pid_init
            out["namespaces"]["pid"] = f"/proc/{self.pid_init}/ns/pid"
        return out

    def serve(self) -> None:
        self.loop.run()
        if self.listener is not None:
            self.listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def _release_pod(self) -> None:
        if self.pid_init:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid_init, signal.SIGKILL)
        namespaces.unpin(self.run_root, self.sandbox_id)

    # -- connections ---------------------------------------------------------------
    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            Conn(self.loop, sock, self._on_frame)

    def _on_frame(self, conn: Conn, channel: int, payload: bytes) -> None:
        if conn.role == "exec":
            conn.session.on_frame(channel, payload)
            return
        if conn.role == "attach":
            self._attach_frame(conn, channel, payload)
            return
        if channel != protocol.CH_CONTROL:
            return
        try:
            msg = protocol.decode_msg(payload)
        except protocol.ProtocolError as exc:
            conn.send_msg(protocol.error(None, protocol.INVALID, str(exc)))
            return
        self._dispatch(conn, msg)

    def _dispatch(self, conn: Conn, msg: dict[str, Any]) -> None:
        req_id = msg.get("id")
        if msg.get("v") != protocol.VERSION:
            conn.send_msg(protocol.error(req_id, protocol.UNSUPPORTED_VERSION,
                                         f"shim speaks version {protocol.VERSION}"))
            return
        op = str(msg.get("op", ""))
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            conn.send_msg(protocol.error(req_id, protocol.INVALID, f"unknown op `{op}`"))
            return
        try:
            result = handler(conn, req_id, msg)
        except ShimOpError as exc:
            conn.send_msg(protocol.error(req_id, exc.code, exc.message))
            return
        except Exception as exc:
            log.warning("op failed op=%s error=%s", op, exc, exc_info=True)
            conn.send_msg(protocol.error(req_id, _code_for(exc), f"{op}: {exc}"))
            return
        if result is not _DEFER:
            conn.send_msg(protocol.ok(req_id, result))

    def _attach_frame(self, conn: Conn, channel: int, payload: bytes) -> None:
        task, stdin = conn.session
        if channel == protocol.CH_STDIN and stdin:
            if payload:
                task.stdio.write_stdin(payload)
            elif task.stdin_once:
                task.stdio.close_stdin()
        elif channel == protocol.CH_CONTROL:
            msg = protocol.decode_msg(payload)
            if msg.get("op") == "resize_pty":
                task.stdio.resize(int(msg["width"]), int(msg["height"]))

    def publish(self, event: dict[str, Any]) -> None:
        event.setdefault("sandbox_id", self.sandbox_id)
        for c in list(self.subscribers):
            c.send_msg(event)

    # -- children ---------------------------------------------------------------------
    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            owner = self.pids.pop(pid, None)
            if owner is not None:
                owner.reaped(status)
            elif pid == self.pid_init:
                log.error("pid namespace init exited sandbox_id=%s status=%d",
                          self.sandbox_id, status)
                self.pid_init = 0

    def forget_pid(self, pid: int) -> None:
        self.pids.pop(pid, None)

    def _task(self, msg: dict[str, Any]) -> Task:
        cid = str(msg.get("container_id", ""))
        task = self.tasks.get(cid)
        if task is None:
            raise ShimOpError(protocol.NOT_FOUND, f"container `{cid}` not found in this shim")
        return task

    # -- operations ---------------------------------------------------------------------
    def op_sandbox_info(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        return self.info()

    def op_list(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        return {"containers": [t.state() for t in self.tasks.values()]}

    def op_subscribe(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        conn.role = "events"
        self.subscribers.append(conn)
        conn.on_close.append(lambda c: self.subscribers.remove(c))
        return {}

    def op_create(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        cid = str(msg.get("container_id", ""))
        if not cid or "/" in cid or cid.startswith("."):
            raise ShimOpError(protocol.INVALID, f"create container: bad id `{cid}`")
        if cid in self.tasks:
            raise ShimOpError(protocol.ALREADY_EXISTS, f"create container `{cid}`: exists")
        task = Task(self, cid, str(msg["bundle"]), msg)
        task.create()
        self.tasks[cid] = task
        self.pids[task.pid] = task
        log.info("container created container_id=%s pid=%d", cid, task.pid)
        return {"pid": task.pid}

    def op_start(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        task = self._task(msg)
        task.start()
        return {"pid": task.pid}

    def op_kill(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        self._task(msg).kill(int(msg.get("signal", signal.SIGTERM)), bool(msg.get("all")))
        return {}

    def op_delete(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        task = self._task(msg)
        rec = task.delete(bool(msg.get("force")))
        self.pids.pop(task.pid, None)
        del self.tasks[task.id]
        return {"exit": rec.to_dict() if rec else None}

    def op_wait(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        result = self._task(msg).wait(conn, req_id)
        return _DEFER if result is None else result

    def op_state(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        return self._task(msg).state()

    def op_pids(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        task = self._task(msg)
        return {"pids": [] if task.status == STOPPED else list(task.lib.pids())}

    def op_pause(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        task = self._task(msg)
        task.lib.pause()
        task.status = "paused"
        return {}

    def op_resume(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        task = self._task(msg)
        task.lib.resume()
        if task.status == "paused":
            task.status = "running"
        return {}

    def op_update(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        self._task(msg).lib.update(dict(msg.get("resources") or {}))
        return {}

    def op_stats(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        task = self._task(msg)
        out = {"container_id": task.id, **cgstats.stats(task.cgroups)}
        lib_stats = getattr(task.lib, "stats", None)
        if lib_stats is not None and task.status != STOPPED:
            # The runtime's cgroup manager knows more (io, pids, hugetlb, psi).
            try:
                out["cgroup"] = lib_stats()
            except Exception as exc:
                log.debug("runtime stats container_id=%s error=%s", task.id, exc)
        return out

    def op_reopen_log(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        self._task(msg).reopen_log()
        return {}

    def _session(self, msg: dict[str, Any]) -> ExecSession | None:
        eid = msg.get("exec_id")
        if not eid:
            return None
        sess = self.execs.get((str(msg.get("container_id")), str(eid)))
        if sess is None:
            raise ShimOpError(protocol.NOT_FOUND, f"exec `{eid}` not found")
        return sess

    def op_resize_pty(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        sess = self._session(msg)
        stdio = sess.stdio if sess is not None else self._task(msg).stdio
        stdio.resize(int(msg["width"]), int(msg["height"]))
        return {}

    def op_close_stdin(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        sess = self._session(msg)
        (sess.stdio if sess is not None else self._task(msg).stdio).close_stdin()
        return {}

    def op_attach(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        task = self._task(msg)
        conn.send_msg(protocol.ok(req_id, {"tty": task.tty}))
        task.attach(conn, bool(msg.get("stdin")))
        return _DEFER

    def op_exec(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        task = self._task(msg)
        if task.status not in ("running",):
            raise ShimOpError(protocol.FAILED_PRECONDITION,
                              f"exec in container `{task.id}`: it is {task.status}")
        eid = str(msg.get("exec_id", ""))
        if not eid or eid in task.exec_ids:
            raise ShimOpError(protocol.ALREADY_EXISTS, f"exec `{eid}`: missing or in use")
        sess = ExecSession(self, task, msg, conn, req_id)
        sess.run()
        task.exec_ids.add(eid)
        key = (task.id, eid)
        self.execs[key] = sess
        self.pids[sess.pid] = sess

        def done() -> None:
            self.execs.pop(key, None)

        sess.on_done = done
        return _DEFER

    def op_shutdown(self, conn: Conn, req_id: Any, msg: dict[str, Any]) -> Any:
        live = [t.id for t in self.tasks.values() if t.status != STOPPED]
        if live and not msg.get("force"):
            raise ShimOpError(protocol.FAILED_PRECONDITION,
                              f"shutdown shim: containers still running: {live}")
        for task in list(self.tasks.values()):
            try:
                task.delete(force=True)
            except Exception as exc:
                log.warning("delete at shutdown container_id=%s error=%s", task.id, exc)
                task.release()
        self.tasks.clear()
        self._release_pod()
        conn.send_msg(protocol.ok(req_id, {}))
        # Deliver the answer before going away; nothing else will run after this.
        if conn.out and not conn.closed:
            conn.sock.setblocking(True)
            with contextlib.suppress(OSError):
                conn.sock.sendall(conn.out)
        log.info("shim shutting down sandbox_id=%s", self.sandbox_id)
        self.loop.stop()
        return _DEFER
