"""Stdio of a container or exec process: pipes or a pty, pumped by the shim's loop."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
import struct
import termios
from collections.abc import Callable

from pycri.runtime.shim.loop import Loop, fd_close

log = logging.getLogger(__name__)

Sink = Callable[[str, bytes], None]

_CONSOLE_TIMEOUT = 10.0


class Stdio:
    """Owns the shim's ends of a process' stdio.

    `child_fds()`/`console_path` are what the runtime library gets; after it returns,
    `attach_console()` (tty) or `close_child_ends()` (pipes) and then `start()`.
    """

    def __init__(self, loop: Loop, *, stdin: bool, tty: bool, sink: Sink,
                 on_eof: Callable[[], None], console_dir: str = "") -> None:
        self.loop = loop
        self.tty = tty
        self.sink = sink
        self.on_eof = on_eof
        self.stdin_w = -1
        self.master = -1
        self._child: list[int] = []
        self._readers: dict[int, str] = {}
        self._pending_in = bytearray()
        self._close_in_after_flush = False
        self.console_path = ""
        self._console: socket.socket | None = None
        if tty:
            self._open_console(console_dir)
        else:
            self._open_pipes(stdin)

    def _open_pipes(self, stdin: bool) -> None:
        if stdin:
            r, w = os.pipe()
            self.stdin_w = w
            os.set_blocking(w, False)
        else:
            r = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self._child = [r, out_w, err_w]
        self._readers = {out_r: "stdout", err_r: "stderr"}

    def _open_console(self, console_dir: str) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = os.path.join(console_dir, f"console-{os.getpid()}-{id(self):x}.sock")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock.bind(path)
        sock.listen(1)
        self._console = sock
        self.console_path = path

    def child_fds(self) -> tuple[int, int, int] | None:
        if self.tty:
            return None
        return (self._child[0], self._child[1], self._child[2])

    def attach_console(self) -> None:
        """Receive the pty master the runtime sent over the console socket."""
        assert self._console is not None
        sock = self._console
        try:
            sock.settimeout(_CONSOLE_TIMEOUT)
            conn, _ = sock.accept()
            with conn:
                conn.settimeout(_CONSOLE_TIMEOUT)
                _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        finally:
            self._drop_console_socket()
        if not fds:
            raise OSError(errno.EPROTO, "receive console: no file descriptor was sent")
        self.master = fds[0]
        os.set_inheritable(self.master, False)
        os.set_blocking(self.master, False)
        self._readers = {self.master: "stdout"}

    def _drop_console_socket(self) -> None:
        if self._console is not None:
            self._console.close()
            self._console = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.console_path)

    def close_child_ends(self) -> None:
        for fd in self._child:
            fd_close(fd)
        self._child = []

    def start(self) -> None:
        for fd in list(self._readers):
            os.set_blocking(fd, False)
            self.loop.add_reader(fd, lambda fd=fd: self._readable(fd))  # type: ignore[misc]
        if not self._readers:
            self.on_eof()

    @property
    def open(self) -> bool:
        return bool(self._readers)

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            # EIO on a pty master means every slave end is closed: that is EOF.
            if exc.errno != errno.EIO:
                log.warning("read stdio error=%s", exc)
            data = b""
        if data:
            self.sink(self._readers[fd], data)
            return
        self.loop.remove_reader(fd)
        stream = self._readers.pop(fd)
        if fd != self.master:
            fd_close(fd)
        self.sink(stream, b"")
        if not self._readers:
            self.on_eof()

    # -- stdin -------------------------------------------------------------
    @property
    def _in_fd(self) -> int:
        return self.master if self.tty else self.stdin_w

    @property
    def has_stdin(self) -> bool:
        return self._in_fd >= 0 and not self._close_in_after_flush

    def write_stdin(self, data: bytes) -> None:
        if not self.has_stdin:
            return
        self._pending_in += data
        self._flush_in()

    def _flush_in(self) -> None:
        fd = self._in_fd
        if fd < 0:
            return
        try:
            while self._pending_in:
                n = os.write(fd, self._pending_in)
                del self._pending_in[:n]
        except BlockingIOError:
            self.loop.add_writer(fd, self._flush_in)
            return
        except OSError:
            self._pending_in.clear()  # the reader is gone: nothing more to deliver
        self.loop.remove_writer(fd)
        if self._close_in_after_flush:
            self._do_close_stdin()

    def close_stdin(self) -> None:
        if self._in_fd < 0:
            return
        self._close_in_after_flush = True
        if not self._pending_in:
            self._do_close_stdin()

    def _do_close_stdin(self) -> None:
        if self.tty:
            if self.master >= 0:
                with contextlib.suppress(OSError):
                    os.write(self.master, b"\x04")  # EOF for the line discipline
            return
        if self.stdin_w >= 0:
            self.loop.remove_writer(self.stdin_w)
            fd_close(self.stdin_w)
            self.stdin_w = -1

    def resize(self, width: int, height: int) -> None:
        if self.master < 0:
            return
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def close(self) -> None:
        """Drop everything (container deleted or exec finished)."""
        for fd in list(self._readers):
            self.loop.remove_reader(fd)
            if fd != self.master:
                fd_close(fd)
        self._readers.clear()
        self.close_child_ends()
        self._drop_console_socket()
        if self.stdin_w >= 0:
            self.loop.remove_writer(self.stdin_w)
            fd_close(self.stdin_w)
            self.stdin_w = -1
        if self.master >= 0:
            self.loop.remove_writer(self.master)
            fd_close(self.master)
            self.master = -1
