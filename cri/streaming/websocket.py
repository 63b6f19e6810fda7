"""WebSocket transport: the Kubernetes channel protocols over RFC 6455 (frames by wsproto).

Each message carries one channel's bytes, prefixed by the channel number: a raw byte in
the binary protocols, an ASCII digit followed by base64 in the base64 ones. Exec/attach use
channels 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5 adds message [255, c] meaning
"channel c is closed" (how a client ends stdin). Port-forward uses two channels per
requested port (data 2i, error 2i+1), each starting with the port as 2 little-endian bytes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wsproto.connection import Connection, ConnectionType
from wsproto.events import (
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from pycri.cri.streaming import http
from pycri.cri.streaming.inbound import InboundBuffer
from pycri.cri.streaming.remotecommand import CommandStreams, run_command
from pycri.cri.streaming.requests import PortForwardRequest, StreamRequest

if TYPE_CHECKING:
    from pycri.cri.streaming.server import StreamingServer

log = logging.getLogger(__name__)

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLOSE_CHANNEL = 255
MAX_MESSAGE_DATA = 32 * 1024
STDIN, STDOUT, STDERR, ERROR, RESIZE = range(5)


@dataclass(frozen=True)
class ChannelProtocol:
    binary: bool
    status_json: bool = False  # v4+: Status JSON on the error channel
    close_signal: bool = False  # v5: [255, channel] closes a channel
    tunnel: bool = False  # no channels: the messages are one byte stream


COMMAND_PROTOCOLS: dict[str, ChannelProtocol] = {
    "v5.channel.k8s.io": ChannelProtocol(True, True, True),
    "v4.channel.k8s.io": ChannelProtocol(True, True),
    "v4.base64.channel.k8s.io": ChannelProtocol(False, True),
    "base64.channel.k8s.io": ChannelProtocol(False),
    "channel.k8s.io": ChannelProtocol(True),
    "": ChannelProtocol(True),
}

# client-go's port-forward over WebSocket: raw SPDY bytes inside binary messages.
SPDY_TUNNEL_PROTOCOL = "SPDY/3.1+portforward.k8s.io"

PORTFORWARD_PROTOCOLS: dict[str, ChannelProtocol] = {
    SPDY_TUNNEL_PROTOCOL: ChannelProtocol(True, tunnel=True),
    "v4.channel.k8s.io": ChannelProtocol(True),
    "v4.base64.channel.k8s.io": ChannelProtocol(False),
    "portforward.k8s.io": ChannelProtocol(True),
    "": ChannelProtocol(True),
}


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def negotiate(offered: list[str], supported: dict[str, ChannelProtocol]) -> str | None:
    """The first protocol the client offers that we support (wsstream's rule)."""
    if not offered:
        return "" if "" in supported else None
    return next((p for p in offered if p and p in supported), None)


class OutChannel:
    """The server-to-client side of one channel, a ByteSink."""

    def __init__(self, conn: WsChannels, channel: int) -> None:
        self._conn = conn
        self.channel = channel
        self.closed = False

    async def write(self, data: bytes) -> None:
        if self.closed or self._conn.closed:
            raise ConnectionResetError(f"write websocket channel {self.channel}: closed")
        for start in range(0, max(len(data), 1), MAX_MESSAGE_DATA):
            self._conn.send_channel(self.channel, data[start : start + MAX_MESSAGE_DATA])
            await self._conn.drain()

    async def close(self) -> None:
        # No close signal goes out even in v5: client-go rejects channel 255 from the
        # server. The client learns the end of output from the connection closing.
        self.closed = True


class WsChannels:
    """One upgraded connection: demultiplexes messages into channels."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        protocol: ChannelProtocol,
        idle_timeout: float,
        name: str,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.protocol = protocol
        self._idle = idle_timeout
        self.name = name
        self._ws = Connection(ConnectionType.SERVER)
        self.inputs: dict[int, InboundBuffer] = {}
        self._partial: list[bytes | str] = []
        self._last_activity = time.monotonic()
        self.closed = False

    def input(self, channel: int) -> InboundBuffer:
        return self.inputs.setdefault(channel, InboundBuffer())

    def output(self, channel: int) -> OutChannel:
        return OutChannel(self, channel)

    # --- sending ---

    def send_channel(self, channel: int, data: bytes) -> None:
        if self.protocol.binary:
            self.send_raw(bytes([channel]) + data)
        else:
            self._send(TextMessage(data=str(channel) + base64.b64encode(data).decode()))

    def send_raw(self, message: bytes) -> None:
        self._send(BytesMessage(data=message))

    def _send(self, event: BytesMessage | TextMessage | CloseConnection) -> None:
        if self.closed:
            raise ConnectionResetError(f"send on websocket {self.name}: closed")
        try:
            self._writer.write(self._ws.send(event))
        except LocalProtocolError as exc:
            raise ConnectionResetError(f"send on websocket {self.name}: {exc}") from exc
        self._last_activity = time.monotonic()

    async def drain(self) -> None:
        try:
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            self._mark_closed()
            raise ConnectionResetError(f"write websocket {self.name}: {exc}") from exc

    def finish(self) -> None:
        """Start the closing handshake (normal closure)."""
        with contextlib.suppress(ConnectionError):
            self._send(CloseConnection(code=1000))

    # --- receiving ---

    async def run(self) -> None:
        try:
            while not self.closed:
                timeout = self._last_activity + self._idle - time.monotonic()
                if timeout <= 0:
                    log.info("websocket idle, closing peer=%s", self.name)
                    break
                try:
                    data = await asyncio.wait_for(self._reader.read(65536), timeout)
                except TimeoutError:
                    continue
                if not data:
                    break
                self._last_activity = time.monotonic()
                self._ws.receive_data(data)
                if not await self._handle_events():
                    break
        except RemoteProtocolError as exc:
            log.warning("websocket protocol error peer=%s error=%s", self.name, exc)
        except (ConnectionError, OSError) as exc:
            log.debug("websocket read failed peer=%s error=%s", self.name, exc)
        finally:
            self._mark_closed()

    async def _handle_events(self) -> bool:
        for event in self._ws.events():
            if isinstance(event, Message):
                self._partial.append(event.data)
                if event.message_finished:
                    parts, self._partial = self._partial, []
                    await self._dispatch(parts)
            elif isinstance(event, Ping):
                self._writer.write(self._ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                with contextlib.suppress(LocalProtocolError):
                    self._writer.write(self._ws.send(event.response()))
                return False
        return True

    async def _dispatch(self, parts: list[bytes | str]) -> None:
        if isinstance(parts[0], str):
            text = "".join(p for p in parts if isinstance(p, str))
            if not text or not text[0].isdigit():
                return
            channel = int(text[0])
            try:
                payload = base64.b64decode(text[1:])
            except ValueError:
                log.debug("websocket: bad base64 message peer=%s", self.name)
                return
        else:
            raw = b"".join(p for p in parts if isinstance(p, bytes))
            if not raw:
                return
            if self.protocol.tunnel:
                channel, payload = 0, raw
            else:
                channel, payload = raw[0], raw[1:]
        if channel == CLOSE_CHANNEL and self.protocol.close_signal:
            if payload and payload[0] in self.inputs:
                self.inputs[payload[0]].close()
            return
        target = self.inputs.get(channel)
        if target is None or not payload:
            return
        target.feed(payload)
        while not target.space.is_set() and not self.closed:
            await target.space.wait()

    def _mark_closed(self) -> None:
        if self.closed:
            return
        self.closed = True
        for channel in self.inputs.values():
            channel.close()


async def serve_websocket(
    server: StreamingServer,
    req: http.Request,
    request: StreamRequest,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    peer: str,
) -> None:
    from pycri.cri.streaming.server import _reply, run_session
    from pycri.cri.streaming.websocket_portforward import port_forward, query_ports, spdy_tunnel

    key = req.header("sec-websocket-key")
    if not key or req.header("sec-websocket-version") != "13":
        await _reply(writer, 400, "websocket: missing or unsupported Sec-WebSocket-Key/Version")
        return
    is_pf = isinstance(request, PortForwardRequest)
    supported = PORTFORWARD_PROTOCOLS if is_pf else COMMAND_PROTOCOLS
    offered = req.tokens("sec-websocket-protocol")
    chosen = negotiate(offered, supported)
    if chosen is None:
        await _reply(writer, 403, f"websocket: requested protocol(s) {offered} are not supported")
        return
    ports: list[int] = []
    tunnel = supported[chosen].tunnel
    if isinstance(request, PortForwardRequest) and not tunnel:
        try:
            ports = query_ports(req) or list(request.ports)
        except ValueError as exc:
            await _reply(writer, 400, f"port-forward: {exc}")
            return
        if not ports:
            await _reply(writer, 400, "port-forward: query parameter 'port' is required")
            return
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Accept", accept_key(key))]
    if chosen:
        headers.append(("Sec-WebSocket-Protocol", chosen))
    writer.write(http.response(101, headers))
    await writer.drain()
    log.info("streaming session started kind=%s protocol=%s transport=websocket peer=%s",
             request.kind, chosen or "-", peer)
    cfg = server.config
    conn = WsChannels(reader, writer, supported[chosen], cfg.idle_timeout, peer)
    if isinstance(request, PortForwardRequest) and tunnel:
        await spdy_tunnel(server, conn, request)
        log.info("streaming session ended kind=portforward transport=websocket-spdy peer=%s",
                 peer)
        return
    if isinstance(request, PortForwardRequest):
        job = port_forward(server, conn, request, ports)
    else:
        tty = request.tty
        streams = CommandStreams(
            error=conn.output(ERROR),
            stdin=conn.input(STDIN) if request.stdin else None,
            stdout=conn.output(STDOUT) if request.stdout else None,
            stderr=conn.output(STDERR) if request.stderr and not tty else None,
            resize=conn.input(RESIZE) if tty else None,
            status_as_json=conn.protocol.status_json,
        )
        # An empty message on the lowest writable channel tells the client we are ready.
        first = streams.stdout or streams.stderr or streams.error
        await first.write(b"")
        job = run_command(server.backend, request, streams)
    await run_session(conn.run(), job, conn.finish, cfg.close_grace)
    log.info("streaming session ended kind=%s transport=websocket peer=%s", request.kind, peer)
