"""Containers owned by the shim: lifecycle, stdio → CRI log and attachers, exits."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING

from pycri.runtime.shim import cgstats, exits, protocol
from pycri.runtime.shim.conn import Conn
from pycri.runtime.shim.logwriter import LogFile, StreamLogger
from pycri.runtime.shim.loop import Timer
from pycri.runtime.shim.protocol import ShimOpError
from pycri.runtime.shim.stdio import Stdio

if TYPE_CHECKING:
    from typing import Any

    from pycri.runtime.shim.server import Shim

log = logging.getLogger(__name__)

# After the init exits, how long output may keep arriving (a background child can hold
# the pipe open) before the exit is recorded anyway.
DRAIN_GRACE = 2.0

CREATED, RUNNING, PAUSED, STOPPED = "created", "running", "paused", "stopped"


def exit_code_of(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


class Task:
    def __init__(self, shim: Shim, container_id: str, bundle: str, req: dict[str, Any]) -> None:
        self.shim = shim
        self.id = container_id
        self.bundle = bundle
        self.lib: Any = None
        self.pid = 0
        self.status = CREATED
        self.created_at = time.time_ns()
        self.started_at = 0
        self.stdin_once = bool(req.get("stdin_once"))
        self.tty = bool(req.get("tty"))
        log_path = str(req.get("log_path") or "")
        self.logfile = LogFile(log_path) if log_path else None
        self.loggers = {s: StreamLogger(self.logfile, s) for s in ("stdout", "stderr")}
        self.attachers: list[Conn] = []
        self.waiters: list[tuple[Conn, Any]] = []
        self.exit: exits.ExitRecord | None = None
        self.wait_status: int | None = None
        self.cgroups: dict[str, str] = {}
        self.oom_base = 0
        self.exec_ids: set[str] = set()
        self._grace: Timer | None = None
        self._oom_fd = -1
        self.stdio = Stdio(shim.loop, stdin=bool(req.get("stdin")), tty=self.tty,
                           sink=self._output, on_eof=self._output_done,
                           console_dir=shim.console_dir)

    # -- lifecycle ---------------------------------------------------------
    def create(self) -> None:
        Container = self.shim.runtime.Container
        try:
            self.lib = Container.create(
                self.shim.runtime_root, self.id, self.bundle,
                stdio=self.stdio.child_fds(),
                console_socket=self.stdio.console_path or None,
            )
            if self.tty:
                self.stdio.attach_console()
        except BaseException:
            self.stdio.close()
            if self.lib is not None:
                self._force_delete()
            raise
        self.stdio.close_child_ends()
        self.pid = self.lib.pid
        self.cgroups = cgstats.cgroup_paths(self.pid)
        mem = cgstats.memory_dir(self.cgroups)
        self.oom_base = cgstats.oom_kills(mem)
        self._oom_fd = cgstats.oom_eventfd(mem)
        if self._oom_fd >= 0:
            self.shim.loop.add_reader(self._oom_fd, self._on_oom)
        self.stdio.start()

    def _on_oom(self) -> None:
        try:
            os.eventfd_read(self._oom_fd)
        except BlockingIOError:
            return
        except OSError:
            self._close_oom()
            return
        log.info("container out of memory container_id=%s", self.id)
        self.shim.publish({"event": "oom", "container_id": self.id})

    def _oom_reported(self) -> bool:
        """True when the notifier already told subscribers (nothing left unread)."""
        if self._oom_fd < 0:
            return False
        try:
            os.eventfd_read(self._oom_fd)
        except OSError:
            return True
        return False

    def _close_oom(self) -> None:
        if self._oom_fd >= 0:
            self.shim.loop.remove_reader(self._oom_fd)
            os.close(self._oom_fd)
            self._oom_fd = -1

    def _force_delete(self) -> None:
        try:
            self.lib.delete(force=True)
        except Exception as exc:  # the original error matters more
            log.warning("delete container after failed create container_id=%s error=%s",
                        self.id, exc)

    def start(self) -> None:
        if self.status != CREATED:
            raise ShimOpError(protocol.FAILED_PRECONDITION,
                              f"start container `{self.id}`: it is {self.status}")
        self.lib.start()
        self.started_at = time.time_ns()
        if self.status == CREATED:  # it may already have been reaped
            self.status = RUNNING

    def kill(self, sig: int, all_: bool) -> None:
        if self.status == STOPPED and not all_:
            return
        with contextlib.suppress(ProcessLookupError):
            self.lib.kill(sig, all_)

    def delete(self, force: bool) -> exits.ExitRecord | None:
        if self.status != STOPPED and not force:
            raise ShimOpError(protocol.FAILED_PRECONDITION,
                              f"delete container `{self.id}`: it is {self.status}")
        self.lib.delete(force=force)
        self.release()
        exits.remove(self.shim.run_root, self.id)
        return self.exit

    def release(self) -> None:
        """Drop the shim's resources for this container (it is gone)."""
        if self._grace is not None:
            self._grace.cancel()
        self._close_oom()
        self.stdio.close()
        if self.logfile is not None:
            self.logfile.close()
        for c in self.attachers:
            c.finish()
        self.attachers.clear()

    # -- output --------------------------------------------------------------
    def _output(self, stream: str, data: bytes) -> None:
        if not data:
            self.loggers[stream].flush()
            return
        self.loggers[stream].feed(data)
        channel = protocol.CH_STDOUT if stream == "stdout" else protocol.CH_STDERR
        for c in self.attachers:
            c.send_data(channel, data)

    def _output_done(self) -> None:
        if self.wait_status is not None:
            self._finish()

    def reopen_log(self) -> None:
        if self.logfile is not None:
            self.logfile.reopen()

    # -- attach ----------------------------------------------------------------
    def attach(self, conn: Conn, stdin: bool) -> None:
        if self.status == STOPPED:
            conn.send_msg({"event": "exit", **self._exit_dict()})
            conn.finish()
            return
        conn.role = "attach"
        conn.session = (self, stdin)
        self.attachers.append(conn)
        conn.on_close.append(self._detach)

    def _detach(self, conn: Conn) -> None:
        if conn in self.attachers:
            self.attachers.remove(conn)
        _, stdin = conn.session
        if stdin and self.stdin_once:
            self.stdio.close_stdin()

    # -- exit --------------------------------------------------------------------
    def reaped(self, status: int) -> None:
        self.wait_status = status
        if not self.stdio.open:
            self._finish()
        else:
            self._grace = self.shim.loop.call_later(DRAIN_GRACE, self._finish)

    def _finish(self) -> None:
        if self.exit is not None or self.wait_status is None:
            return
        if self._grace is not None:
            self._grace.cancel()
        for lg in self.loggers.values():
            lg.flush()
        code = exit_code_of(self.wait_status)
        oom = cgstats.oom_kills(cgstats.memory_dir(self.cgroups)) > self.oom_base
        rec = exits.ExitRecord(self.id, self.pid, code, time.time_ns(),
                               exits.reason_for(code, oom))
        # Durable first: a daemon that learns of the exit must be able to find it again.
        exits.write(self.shim.run_root, rec)
        self.exit = rec
        self.status = STOPPED
        log.info("container exited container_id=%s pid=%d exit_code=%d reason=%s",
                 self.id, self.pid, code, rec.reason)
        if oom and not self._oom_reported():
            self.shim.publish({"event": "oom", "container_id": self.id})
        self._close_oom()
        self.shim.publish({"event": "exit", **self._exit_dict()})
        for conn, req_id in self.waiters:
            conn.send_msg(protocol.ok(req_id, self._exit_dict()))
        self.waiters.clear()
        for c in self.attachers:
            c.send_msg({"event": "exit", **self._exit_dict()})
            c.finish()
        self.attachers.clear()
        self.stdio.close()

    def _exit_dict(self) -> dict[str, Any]:
        assert self.exit is not None
        return self.exit.to_dict()

    def wait(self, conn: Conn, req_id: Any) -> dict[str, Any] | None:
        if self.exit is not None:
            return self._exit_dict()
        self.waiters.append((conn, req_id))
        return None

    def state(self) -> dict[str, Any]:
        status = self.status
        if status in (RUNNING, PAUSED) and self.lib is not None:
            # pause/resume may have come from elsewhere (pyrunc); trust the runtime.
            try:
                st = self.lib.state().get("status")
                if st == "paused":
                    status = PAUSED
            except Exception:
                pass
        out: dict[str, Any] = {"container_id": self.id, "pid": self.pid, "status": status,
                               "bundle": self.bundle, "created_at": self.created_at,
                               "started_at": self.started_at, "tty": self.tty}
        if self.exit is not None:
            out.update(exit_code=self.exit.exit_code, exited_at=self.exit.exited_at,
                       reason=self.exit.reason)
        return out
