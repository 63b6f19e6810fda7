"""Port forwarding: one pod connection per (data, error) stream pair.

The pump is shared by SPDY (streams paired by `requestid`) and WebSocket (channels paired
by position); both hand it a ByteSource/ByteSink for the client side of the data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from pycri.cri.streaming import spdy
from pycri.cri.streaming.backend import ByteSink, ByteSource, StreamingBackend
from pycri.cri.streaming.requests import PortForwardRequest
from pycri.cri.streaming.spdy_session import SpdyStream

log = logging.getLogger(__name__)

PORTFORWARD_PROTOCOL = "portforward.k8s.io"


async def forward(
    backend: StreamingBackend,
    request: PortForwardRequest,
    port: int,
    client_in: ByteSource,
    client_out: ByteSink,
    error: ByteSink,
) -> None:
    """Dial the port in the pod and copy both ways until the pod side closes; a dial
    failure goes to the client as text on the error stream."""
    sandbox = request.pod_sandbox_id
    try:
        if not request.allows(port):
            raise OSError(f"port {port} is not part of the port-forward request")
        reader, writer = await backend.port_forward(sandbox, port)
    except OSError as exc:
        msg = f"error forwarding port {port} to pod {sandbox}: {exc}"
        log.info("port-forward dial failed pod_id=%s port=%s error=%s", sandbox, port, exc)
        with contextlib.suppress(ConnectionError):
            await error.write(msg.encode())
        return

    async def upstream() -> None:
        while data := await client_in.read():
            writer.write(data)
            await writer.drain()
        # The client finished sending: pass the half-close on so the server answers.
        if writer.can_write_eof():
            writer.write_eof()

    up = asyncio.create_task(upstream())
    try:
        while data := await reader.read(65536):
            await client_out.write(data)
    except (ConnectionError, OSError) as exc:
        log.debug("port-forward copy ended pod_id=%s port=%s error=%s", sandbox, port, exc)
    finally:
        up.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
            await up
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


@dataclass
class _Pair:
    data: SpdyStream | None = None
    error: SpdyStream | None = None
    timer: asyncio.TimerHandle | None = None


class SpdyPortForward:
    """Pairs the streams of each forwarded connection and runs `forward` for it."""

    def __init__(
        self, backend: StreamingBackend, request: PortForwardRequest, stream_timeout: float
    ) -> None:
        self._backend = backend
        self._request = request
        self._timeout = stream_timeout
        self._pairs: dict[str, _Pair] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, stream: SpdyStream) -> None:
        kind = stream.header("streamtype")
        if kind not in ("data", "error"):
            stream.reset(spdy.PROTOCOL_ERROR)
            return
        rid = stream.header("requestid")
        if not rid:
            # Old clients send no request id; their streams come as consecutive
            # (error, data) pairs, so the error stream's id names the pair.
            rid = str(stream.stream_id if kind == "error" else stream.stream_id - 2)
        pair = self._pairs.setdefault(rid, _Pair())
        if getattr(pair, kind) is not None:
            stream.reset(spdy.PROTOCOL_ERROR)
            return
        setattr(pair, kind, stream)
        if pair.data is not None and pair.error is not None:
            del self._pairs[rid]
            if pair.timer:
                pair.timer.cancel()
            task = asyncio.create_task(self._run(pair.data, pair.error))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif pair.timer is None:
            pair.timer = asyncio.get_running_loop().call_later(self._timeout, self._expire, rid)

    def _expire(self, rid: str) -> None:
        pair = self._pairs.pop(rid, None)
        if pair is None:
            return
        log.warning("port-forward stream pair incomplete pod_id=%s request_id=%s",
                    self._request.pod_sandbox_id, rid)
        for stream in (pair.data, pair.error):
            if stream is not None:
                stream.reset(spdy.CANCEL)

    async def _run(self, data: SpdyStream, error: SpdyStream) -> None:
        try:
            port = int(data.header("port"))
        except ValueError:
            port = 0
        try:
            await forward(self._backend, self._request, port, data, data, error)
        finally:
            for stream in (data, error):
                with contextlib.suppress(ConnectionError):
                    await stream.close()

    async def run(self, ended: asyncio.Event) -> None:
        """Serve until the session ends; then stop every forward."""
        try:
            await ended.wait()
        finally:
            for pair in self._pairs.values():
                if pair.timer:
                    pair.timer.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
