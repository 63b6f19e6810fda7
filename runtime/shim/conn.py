"""One client connection of the shim: framed reads, buffered non-blocking writes."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

from pycri.runtime.shim import protocol
from pycri.runtime.shim.loop import Loop

log = logging.getLogger(__name__)

# A stream client (attach) that falls this far behind loses data rather than
# stalling the container's output or the shim.
STREAM_BACKLOG = 4 << 20

FrameHandler = Callable[["Conn", int, bytes], None]


class Conn:
    def __init__(self, loop: Loop, sock: socket.socket, on_frame: FrameHandler) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        sock.setblocking(False)
        self.reader = protocol.FrameReader()
        self.on_frame = on_frame
        self.out = bytearray()
        self.closed = False
        self.close_when_flushed = False
        self.on_close: list[Callable[[Conn], None]] = []
        self.role = "control"
        self.session: Any = None
        loop.add_reader(self.fd, self._readable)

    def _readable(self) -> None:
        try:
            data = self.sock.recv(256 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        try:
            frames = self.reader.feed(data)
        except protocol.ProtocolError as exc:
            log.warning("drop connection reason=%s", exc)
            self.close()
            return
        for channel, payload in frames:
            if self.closed:
                return
            self.on_frame(self, channel, payload)

    def send_msg(self, msg: dict[str, Any]) -> None:
        self.send_raw(protocol.encode_msg(msg))

    def send_data(self, channel: int, data: bytes) -> None:
        if len(self.out) > STREAM_BACKLOG:
            return
        self.send_raw(protocol.encode(channel, data))

    def send_raw(self, frame: bytes) -> None:
        if self.closed:
            return
        if not self.out:
            try:
                n = self.sock.send(frame)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self.close()
                return
            if n == len(frame):
                return
            frame = frame[n:]
            self.loop.add_writer(self.fd, self._writable)
        self.out += frame

    def _writable(self) -> None:
        try:
            n = self.sock.send(self.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        del self.out[:n]
        if not self.out:
            self.loop.remove_writer(self.fd)
            if self.close_when_flushed:
                self.close()

    def finish(self) -> None:
        """Close once everything queued has been sent."""
        if not self.out:
            self.close()
        else:
            self.close_when_flushed = True

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self.fd)
        self.loop.remove_writer(self.fd)
        self.sock.close()
        for cb in self.on_close:
            try:
                cb(self)
            except Exception:
                log.exception("connection close callback failed")
