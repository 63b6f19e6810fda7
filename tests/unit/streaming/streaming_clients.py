"""Test clients for the streaming server, written apart from the server's code paths:
SPDY frames are packed by hand here (struct + zlib), WebSocket uses wsproto's client side."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl as ssl_module
import struct
import zlib
from collections import defaultdict
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    RejectConnection,
    Request,
    TextMessage,
)

from pycri.cri.streaming.spdy_dictionary import SPDY3_DICTIONARY


async def http_request(url: str, headers: dict[str, str] | list[tuple[str, str]] | None = None,
                       method: str = "POST", ssl: ssl_module.SSLContext | None = None,
                       ) -> tuple[int, dict[str, list[str]], bytes,
                                  asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port, ssl=ssl)
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    head = f"{method} {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in items) + "\r\n"
    writer.write(head.encode())
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    resp: dict[str, list[str]] = defaultdict(list)
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            resp[k.strip().lower()].append(v.strip())
    body = b""
    if status != 101:
        body = await reader.read()
        writer.close()
    return status, resp, body, reader, writer


class SpdyClient:
    """A minimal SPDY/3 client: opens streams like client-go's remotecommand does."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self._comp = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                      zdict=SPDY3_DICTIONARY)
        self._decomp = zlib.decompressobj(zdict=SPDY3_DICTIONARY)
        self._next_id = 1
        self.data: dict[int, bytearray] = defaultdict(bytearray)
        self.fin: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.replied: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.reset: dict[int, int] = {}
        self.goaway = asyncio.Event()
        self.pings: list[int] = []
        self.window_updates = 0
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(cls, url: str, protocols: list[str] | None = None,
                      ssl: ssl_module.SSLContext | None = None) -> SpdyClient:
        protos = ["v4.channel.k8s.io"] if protocols is None else protocols
        headers = [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1")]
        headers += [("X-Stream-Protocol-Version", p) for p in protos]
        status, resp, body, reader, writer = await http_request(url, headers, ssl=ssl)
        if status != 101:
            raise ConnectionError(f"upgrade failed: {status} {body!r}")
        client = cls(reader, writer)
        client.protocol = resp.get("x-stream-protocol-version", [""])[0]
        return client

    # --- frames, packed by hand ---

    def _header_block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers))
        for k, v in headers.items():
            raw += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
        return self._comp.compress(raw) + self._comp.flush(zlib.Z_SYNC_FLUSH)

    def _control(self, ftype: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8003, ftype, flags << 24 | len(payload)) + payload

    async def open_stream(self, headers: dict[str, str], wait: bool = True) -> int:
        sid = self._next_id
        self._next_id += 2
        payload = struct.pack(">IIBB", sid, 0, 0, 0) + self._header_block(headers)
        self.writer.write(self._control(1, 0, payload))
        await self.writer.drain()
        if wait:
            await asyncio.wait_for(self.replied[sid].wait(), 10)
        return sid

    async def send(self, sid: int, data: bytes, fin: bool = False) -> None:
        self.writer.write(struct.pack(">II", sid, (1 if fin else 0) << 24 | len(data)) + data)
        await self.writer.drain()

    async def send_rst(self, sid: int, status: int = 5) -> None:
        self.writer.write(self._control(3, 0, struct.pack(">II", sid, status)))
        await self.writer.drain()

    async def send_ping(self, ping_id: int) -> None:
        self.writer.write(self._control(6, 0, struct.pack(">I", ping_id)))
        await self.writer.drain()

    async def _read_loop(self) -> None:
        buf = b""
        try:
            while chunk := await self.reader.read(65536):
                buf += chunk
                while len(buf) >= 8:
                    first, flen = struct.unpack(">II", buf[:8])
                    length = flen & 0xFFFFFF
                    if len(buf) < 8 + length:
                        break
                    payload, buf = buf[8 : 8 + length], buf[8 + length :]
                    self._frame(first, flen >> 24, payload)
                    self._changed.set()
        finally:
            self.closed.set()
            for ev in self.fin.values():
                ev.set()
            self._changed.set()

    def _frame(self, first: int, flags: int, payload: bytes) -> None:
        if not first & 0x80000000:
            sid = first & 0x7FFFFFFF
            self.data[sid] += payload
            if flags & 1:
                self.fin[sid].set()
            return
        assert (first >> 16) & 0x7FFF == 3
        ftype = first & 0xFFFF
        if ftype == 2:  # SYN_REPLY
            sid = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
            self._decomp.decompress(payload[4:])
            self.replied[sid].set()
            if flags & 1:
                self.fin[sid].set()
        elif ftype == 3:
            sid, status = struct.unpack(">II", payload)
            self.reset[sid] = status
            self.fin[sid].set()
            self.replied[sid].set()
        elif ftype == 6:
            self.pings.append(struct.unpack(">I", payload)[0])
        elif ftype == 7:
            self.goaway.set()
        elif ftype == 9:
            self.window_updates += 1

    async def read_until_fin(self, sid: int, timeout: float = 10) -> bytes:
        await asyncio.wait_for(self.fin[sid].wait(), timeout)
        return bytes(self.data[sid])

    async def read_until(self, sid: int, needle: bytes, timeout: float = 10) -> bytes:
        async def wait() -> None:
            while needle not in self.data[sid]:
                if self.closed.is_set():
                    raise ConnectionError("closed")
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(wait(), timeout)
        return bytes(self.data[sid])

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class CommandSession:
    """exec/attach over SPDY the way client-go v4 sets it up."""

    def __init__(self, client: SpdyClient, ids: dict[str, int]) -> None:
        self.client, self.ids = client, ids

    @classmethod
    async def open(cls, url: str, *, stdin: bool = False, stdout: bool = True,
                   stderr: bool = True, tty: bool = False,
                   protocol: str = "v4.channel.k8s.io") -> CommandSession:
        client = await SpdyClient.connect(url, [protocol])
        ids = {"error": await client.open_stream({"streamtype": "error"})}
        if stdin:
            ids["stdin"] = await client.open_stream({"streamtype": "stdin"})
        if stdout:
            ids["stdout"] = await client.open_stream({"streamtype": "stdout"})
        if stderr and not tty:
            ids["stderr"] = await client.open_stream({"streamtype": "stderr"})
        if tty and protocol in ("v4.channel.k8s.io", "v3.channel.k8s.io"):
            ids["resize"] = await client.open_stream({"streamtype": "resize"})
        return cls(client, ids)

    async def write_stdin(self, data: bytes, fin: bool = False) -> None:
        await self.client.send(self.ids["stdin"], data, fin)

    async def resize(self, width: int, height: int) -> None:
        msg = json.dumps({"Width": width, "Height": height}).encode() + b"\n"
        await self.client.send(self.ids["resize"], msg)

    async def result(self, timeout: float = 10) -> tuple[bytes, bytes, bytes]:
        err = await self.client.read_until_fin(self.ids["error"], timeout)
        out = await self.client.read_until_fin(self.ids["stdout"], timeout) \
            if "stdout" in self.ids else b""
        errout = await self.client.read_until_fin(self.ids["stderr"], timeout) \
            if "stderr" in self.ids else b""
        return out, errout, err

    async def close(self) -> None:
        await self.client.close()


class WsClient:
    """A WebSocket channel-protocol client on wsproto's client side."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 ws: WSConnection, protocol: str | None) -> None:
        self.reader, self.writer, self.ws = reader, writer, ws
        self.protocol = protocol or ""
        self.base64 = "base64" in self.protocol
        self.channels: dict[int, bytearray] = defaultdict(bytearray)
        self.messages: list[tuple[int, bytes]] = []
        self._partial: list[bytes | str] = []
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(cls, url: str, protocols: list[str]) -> WsClient:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        ws = WSConnection(ConnectionType.CLIENT)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        writer.write(ws.send(Request(host=parts.netloc, target=target, subprotocols=protocols)))
        await writer.drain()
        while True:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("closed during handshake")
            ws.receive_data(data)
            events = iter(ws.events())
            for event in events:
                if isinstance(event, AcceptConnection):
                    client = cls(reader, writer, ws, event.subprotocol)
                    # Messages that came in the same read as the handshake answer.
                    client._handle(list(events))
                    return client
                if isinstance(event, RejectConnection):
                    writer.close()
                    raise ConnectionRefusedError(event.status_code)

    async def send(self, channel: int, data: bytes) -> None:
        if self.base64:
            event: TextMessage | BytesMessage = TextMessage(
                data=str(channel) + base64.b64encode(data).decode())
        else:
            event = BytesMessage(data=bytes([channel]) + data)
        self.writer.write(self.ws.send(event))
        await self.writer.drain()

    async def close_channel(self, channel: int) -> None:
        self.writer.write(self.ws.send(BytesMessage(data=bytes([255, channel]))))
        await self.writer.drain()

    async def _read_loop(self) -> None:
        try:
            while data := await self.reader.read(65536):
                self.ws.receive_data(data)
                if not self._handle(list(self.ws.events())):
                    return
        finally:
            self.closed.set()
            self._changed.set()

    def _handle(self, events: list[object]) -> bool:
        for event in events:
            if isinstance(event, CloseConnection):
                self.writer.write(self.ws.send(event.response()))
                return False
            if isinstance(event, (BytesMessage, TextMessage)):
                self._partial.append(event.data)
                if event.message_finished:
                    self._message(self._partial)
                    self._partial = []
        self._changed.set()
        return True

    def _message(self, parts: list[bytes | str]) -> None:
        if isinstance(parts[0], str):
            text = "".join(parts)  # type: ignore[arg-type]
            channel, payload = int(text[0]), base64.b64decode(text[1:])
        else:
            raw = b"".join(parts)  # type: ignore[arg-type]
            channel, payload = raw[0], raw[1:]
        self.messages.append((channel, payload))
        self.channels[channel] += payload

    async def wait_closed(self, timeout: float = 10) -> None:
        await asyncio.wait_for(self.closed.wait(), timeout)

    async def read_until(self, channel: int, needle: bytes, timeout: float = 10) -> bytes:
        async def wait() -> None:
            while needle not in self.channels[channel]:
                if self.closed.is_set():
                    raise ConnectionError(f"closed; got {dict(self.channels)}")
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(wait(), timeout)
        return bytes(self.channels[channel])

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def random_bytes(n: int) -> bytes:
    return os.urandom(n)
