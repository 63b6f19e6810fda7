"""Exec sessions: processes run inside a running container.

Two modes: `sync` captures stdout/stderr (capped) and answers once the process exits
or its timeout passes (ExecSync); `stream` turns the request's connection into a
stream of stdio frames ending with an exit message (Exec).
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING

from pycri.runtime.shim import protocol
from pycri.runtime.shim.conn import Conn
from pycri.runtime.shim.loop import Timer
from pycri.runtime.shim.stdio import Stdio
from pycri.runtime.shim.tasks import DRAIN_GRACE, exit_code_of

if TYPE_CHECKING:
    from typing import Any

    from pycri.runtime.shim.server import Shim
    from pycri.runtime.shim.tasks import Task

log = logging.getLogger(__name__)

OUTPUT_CAP = 16 << 20


class ExecSession:
    def __init__(self, shim: Shim, task: Task, req: dict[str, Any], conn: Conn,
                 req_id: Any) -> None:
        self.shim = shim
        self.task = task
        self.exec_id = str(req["exec_id"])
        self.sync = not req.get("stream")
        self.conn = conn
        self.req_id = req_id
        self.pid = 0
        self.out = {"stdout": bytearray(), "stderr": bytearray()}
        self.wait_status: int | None = None
        self.done = False
        self.timed_out = False
        self._timers: list[Timer] = []
        self.on_done: Callable[[], None] = lambda: None
        tty = bool(req.get("tty"))
        self.stdio = Stdio(shim.loop, stdin=bool(req.get("stdin")), tty=tty,
                           sink=self._output, on_eof=self._output_done,
                           console_dir=shim.console_dir)
        self.process: dict[str, Any] = dict(req["process"])
        self.process["terminal"] = tty
        self.timeout = float(req.get("timeout") or 0)

    def run(self) -> None:
        try:
            self.pid = self.task.lib.exec(
                self.process, stdio=self.stdio.child_fds(),
                console_socket=self.stdio.console_path or None,
            )
            if self.stdio.tty:
                self.stdio.attach_console()
        except BaseException:
            self.stdio.close()
            raise
        self.stdio.close_child_ends()
        self.stdio.start()
        if self.timeout > 0:
            self._timers.append(self.shim.loop.call_later(self.timeout, self._expire))
        if not self.sync:
            self.conn.role = "exec"
            self.conn.session = self
            self.conn.on_close.append(self._conn_closed)
            self.conn.send_msg(protocol.ok(self.req_id, {"pid": self.pid}))

    # -- stream input from the client ------------------------------------------
    def on_frame(self, channel: int, payload: bytes) -> None:
        if channel == protocol.CH_STDIN:
            if payload:
                self.stdio.write_stdin(payload)
            else:
                self.stdio.close_stdin()
            return
        if channel == protocol.CH_CONTROL:
            msg = protocol.decode_msg(payload)
            if msg.get("op") == "resize_pty":
                self.stdio.resize(int(msg["width"]), int(msg["height"]))
            elif msg.get("op") == "close_stdin":
                self.stdio.close_stdin()
            elif msg.get("op") == "kill":
                self.kill(int(msg.get("signal", signal.SIGKILL)))

    def _conn_closed(self, conn: Conn) -> None:
        if not self.done:
            # The client went away (stream cut): the session has no one to talk to.
            self.kill(signal.SIGKILL)

    def kill(self, sig: int) -> None:
        if self.pid and self.wait_status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    # -- output / exit ------------------------------------------------------------
    def _output(self, stream: str, data: bytes) -> None:
        if not data:
            return
        if self.sync:
            buf = self.out[stream]
            room = OUTPUT_CAP - len(buf)
            if room > 0:
                buf += data[:room]
        else:
            ch = protocol.CH_STDOUT if stream == "stdout" else protocol.CH_STDERR
            self.conn.send_data(ch, data)

    def _output_done(self) -> None:
        if self.wait_status is not None:
            self._finish()

    def reaped(self, status: int) -> None:
        self.wait_status = status
        if not self.stdio.open:
            self._finish()
        else:
            self._timers.append(self.shim.loop.call_later(DRAIN_GRACE, self._finish))

    def _expire(self) -> None:
        if self.done:
            return
        self.timed_out = True
        self.kill(signal.SIGKILL)
        # Answer now: a background child may hold the pipes open for much longer.
        self._finish(force=True)

    def _finish(self, force: bool = False) -> None:
        if self.done or (self.wait_status is None and not force):
            return
        self.done = True
        for t in self._timers:
            t.cancel()
        self.stdio.close()
        self.task.exec_ids.discard(self.exec_id)
        self.on_done()
        if self.wait_status is None:
            # Still to be reaped: the reaper discards pids it does not know.
            self.shim.forget_pid(self.pid)
        code = exit_code_of(self.wait_status) if self.wait_status is not None else -1
        log.debug("exec finished container_id=%s exec_id=%s pid=%d exit_code=%d",
                  self.task.id, self.exec_id, self.pid, code)
        if self.sync:
            if self.timed_out:
                self.conn.send_msg(protocol.error(
                    self.req_id, protocol.DEADLINE_EXCEEDED,
                    f"exec in container `{self.task.id}`: timed out after {self.timeout}s"))
                return
            self.conn.send_msg(protocol.ok(self.req_id, {
                "exit_code": code, "pid": self.pid,
                "stdout": base64.b64encode(self.out["stdout"]).decode(),
                "stderr": base64.b64encode(self.out["stderr"]).decode(),
            }))
        else:
            self.conn.send_msg({"event": "exit", "exec_id": self.exec_id, "exit_code": code,
                                "timed_out": self.timed_out})
            self.conn.finish()
