"""A server-side SPDY/3.1 session over an asyncio stream pair.

Streams are opened by the client (SYN_STREAM); the session answers each with SYN_REPLY at
once, as kubelet's server does, and hands it to `on_stream`. Sending ignores the peer's
flow-control windows like the Go spdystream library that kubelet and crictl use (it never
sends WINDOW_UPDATE, so honouring windows would stall after 64 KiB); TCP backpressure
(`drain`) bounds what we queue. Receiving grants window as the consumer reads, so a strict
client keeps going, and pauses reading the socket while a stream's buffer is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from pycri.cri.streaming import spdy
from pycri.cri.streaming.inbound import InboundBuffer

log = logging.getLogger(__name__)

# Larger writes are split so one busy stream cannot hold the connection for long.
MAX_FRAME_DATA = 32 * 1024


class Reader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class Writer(Protocol):
    """The part of asyncio.StreamWriter the session uses (a WebSocket tunnel fits too)."""

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...


class StreamReset(ConnectionError):
    """The stream was reset by the peer or the session ended."""


class SpdyStream:
    """One client-opened stream: `read` what the client sends, `write`/`close` our half."""

    def __init__(self, session: SpdySession, stream_id: int, headers: spdy.HeaderBlock) -> None:
        self.session = session
        self.stream_id = stream_id
        self.headers = headers
        self.inbound = InboundBuffer()
        self.local_closed = False
        self.reset_received = False
        self._unacked = 0

    def __repr__(self) -> str:
        return f"SpdyStream(id={self.stream_id}, type={self.header('streamtype')!r})"

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else ""

    # --- the client's half ---

    @property
    def remote_closed(self) -> bool:
        return self.inbound.closed

    async def read(self, n: int = 65536) -> bytes:
        chunk = await self.inbound.read(n)
        if chunk:
            self._grant(len(chunk))
        return chunk

    def _grant(self, consumed: int) -> None:
        self._unacked += consumed
        if self._unacked >= spdy.DEFAULT_WINDOW // 2 and not self.remote_closed:
            self.session.send_window_update(self.stream_id, self._unacked)
            self._unacked = 0

    def _feed(self, data: bytes) -> None:
        self.inbound.feed(data)

    def _remote_fin(self) -> None:
        self.inbound.close()

    def _on_reset(self) -> None:
        self.reset_received = True
        self.local_closed = True
        self._remote_fin()

    # --- our half ---

    async def write(self, data: bytes) -> None:
        if self.local_closed:
            raise StreamReset(f"write SPDY stream {self.stream_id}: stream closed")
        view = memoryview(data)
        for start in range(0, len(view), MAX_FRAME_DATA):
            if self.local_closed:
                raise StreamReset(f"write SPDY stream {self.stream_id}: stream closed")
            chunk = bytes(view[start : start + MAX_FRAME_DATA])
            self.session.send(spdy.build_data(self.stream_id, chunk))
            await self.session.drain()

    async def close(self) -> None:
        if self.local_closed:
            return
        self.local_closed = True
        if not self.session.closed:
            self.session.send(spdy.build_data(self.stream_id, fin=True))
            with contextlib.suppress(ConnectionError):
                await self.session.drain()
        self.session.forget_if_done(self)

    def reset(self, status: int = spdy.CANCEL) -> None:
        if not self.local_closed or not self.remote_closed:
            self.local_closed = True
            if not self.session.closed:
                self.session.send(spdy.build_rst_stream(self.stream_id, status))
        self._remote_fin()
        self.session.forget_if_done(self)


class SpdySession:
    """Owns the connection: the read loop, the shared header zlib streams, the streams."""

    def __init__(
        self,
        reader: Reader,
        writer: Writer,
        on_stream: Callable[[SpdyStream], None],
        *,
        idle_timeout: float,
        name: str = "",
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_stream = on_stream
        self._idle_timeout = idle_timeout
        self.name = name
        self._parser = spdy.FrameParser()
        self._compressor = spdy.HeaderCompressor()
        self.streams: dict[int, SpdyStream] = {}
        self._last_stream_id = 0
        self._last_activity = time.monotonic()
        self.closed = False
        self.going_away = False
        self.ended = asyncio.Event()

    # --- sending ---

    def send(self, frame: bytes) -> None:
        """Queue one whole frame; synchronous so frames never interleave and header
        blocks reach the wire in the order they were compressed."""
        if self.closed:
            raise StreamReset(f"send on SPDY session {self.name}: session closed")
        self._writer.write(frame)
        self._last_activity = time.monotonic()

    async def drain(self) -> None:
        try:
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            self._mark_closed()
            raise StreamReset(f"write SPDY session {self.name}: {exc}") from exc

    def send_window_update(self, stream_id: int, delta: int) -> None:
        if self.closed:
            return
        self.send(spdy.build_window_update(stream_id, delta))
        self.send(spdy.build_window_update(0, delta))

    def forget_if_done(self, stream: SpdyStream) -> None:
        if stream.local_closed and stream.remote_closed:
            self.streams.pop(stream.stream_id, None)

    # --- receiving ---

    async def run(self) -> None:
        """Read frames until the client leaves, breaks the protocol or idles out."""
        try:
            while not self.closed:
                timeout = self._last_activity + self._idle_timeout - time.monotonic()
                if timeout <= 0:
                    log.info("SPDY session idle, closing session=%s", self.name)
                    self.go_away()
                    break
                try:
                    data = await asyncio.wait_for(self._reader.read(65536), timeout)
                except TimeoutError:
                    continue
                if not data:
                    break
                self._last_activity = time.monotonic()
                for frame in self._parser.feed(data):
                    await self._dispatch(frame)
        except spdy.SpdyProtocolError as exc:
            log.warning("SPDY protocol error session=%s error=%s", self.name, exc)
            self.go_away(spdy.GOAWAY_PROTOCOL_ERROR)
        except (ConnectionError, OSError) as exc:
            log.debug("SPDY session read failed session=%s error=%s", self.name, exc)
        finally:
            self._mark_closed()

    async def _dispatch(self, frame: spdy.Frame) -> None:
        if isinstance(frame, spdy.Data):
            stream = self.streams.get(frame.stream_id)
            if stream is None:
                return  # late data for a stream we already finished
            if frame.data:
                stream._feed(frame.data)
            if frame.fin:
                stream._remote_fin()
                self.forget_if_done(stream)
            # Backpressure: stop reading the socket until the consumer catches up.
            while not stream.inbound.space.is_set() and not self.closed:
                await stream.inbound.space.wait()
        elif isinstance(frame, spdy.SynStream):
            self._open(frame)
        elif isinstance(frame, spdy.RstStream):
            stream = self.streams.pop(frame.stream_id, None)
            if stream is not None:
                stream._on_reset()
        elif isinstance(frame, spdy.Headers):
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                stream.headers.update(frame.headers)
                if frame.fin:
                    stream._remote_fin()
                    self.forget_if_done(stream)
        elif isinstance(frame, spdy.Ping):
            if frame.ping_id % 2 == 1:  # client-initiated: echo it back
                self.send(spdy.build_ping(frame.ping_id))
        elif isinstance(frame, spdy.GoAway):
            # The client will open nothing more; existing streams run to their end.
            self.going_away = True
        # SETTINGS, WINDOW_UPDATE, SYN_REPLY (we open no streams) and unknown frames are
        # ignored, as the spec allows and spdystream does.

    def _open(self, frame: spdy.SynStream) -> None:
        sid = frame.stream_id
        if sid % 2 == 0 or sid <= self._last_stream_id:
            self.send(spdy.build_rst_stream(sid, spdy.PROTOCOL_ERROR))
            return
        self._last_stream_id = sid
        if self.going_away:
            self.send(spdy.build_rst_stream(sid, spdy.REFUSED_STREAM))
            return
        stream = SpdyStream(self, sid, frame.headers)
        if frame.unidirectional:
            stream.local_closed = True
        self.streams[sid] = stream
        # Reply before anything else: spdystream drops DATA on unanswered streams.
        self.send(spdy.build_syn_reply(self._compressor, sid, fin=frame.unidirectional))
        if frame.fin:
            stream._remote_fin()
        log.debug("SPDY stream opened session=%s stream=%s headers=%s",
                  self.name, sid, frame.headers)
        self._on_stream(stream)

    # --- ending ---

    def go_away(self, status: int = spdy.GOAWAY_OK) -> None:
        """Tell the client no further streams are accepted (idempotent)."""
        if self.closed or (self.going_away and status == spdy.GOAWAY_OK):
            self.going_away = True
            return
        self.going_away = True
        with contextlib.suppress(ConnectionError, RuntimeError):
            self.send(spdy.build_goaway(self._last_stream_id, status))

    def _mark_closed(self) -> None:
        if self.closed:
            return
        self.closed = True
        for stream in list(self.streams.values()):
            stream._on_reset()
        self.streams.clear()
        self.ended.set()
