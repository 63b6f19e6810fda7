"""Stdio streams of an exec session or an attach, on their own shim connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from pycri.runtime.shim import protocol
from pycri.runtime.task.errors import ShimGone

_NAMES = {protocol.CH_STDOUT: "stdout", protocol.CH_STDERR: "stderr"}


class StdioStream:
    """Iterate for ("stdout"|"stderr", bytes); ends after the exit message.

    `exit` holds that message ({"exit_code": ..}) once the stream has ended; None when
    the connection was cut first.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 first: dict[str, Any]) -> None:
        self._reader = reader
        self._writer = writer
        self.result = first
        self.exit: dict[str, Any] | None = None
        self._frames = protocol.FrameReader()
        self._pending: list[tuple[int, bytes]] = []

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            while self._pending:
                channel, payload = self._pending.pop(0)
                if channel in _NAMES:
                    yield _NAMES[channel], payload
                elif channel == protocol.CH_CONTROL:
                    msg = protocol.decode_msg(payload)
                    if msg.get("event") == "exit":
                        self.exit = msg
                        return
            data = await self._reader.read(256 * 1024)
            if not data:
                return
            self._pending.extend(self._frames.feed(data))

    async def collect(self) -> tuple[bytes, bytes, dict[str, Any] | None]:
        out, err = bytearray(), bytearray()
        async for name, data in self:
            (out if name == "stdout" else err).extend(data)
        return bytes(out), bytes(err), self.exit

    async def write_stdin(self, data: bytes) -> None:
        await self._send(protocol.encode(protocol.CH_STDIN, data))

    async def close_stdin(self) -> None:
        await self._send(protocol.encode(protocol.CH_STDIN, b""))

    async def resize(self, width: int, height: int) -> None:
        await self._send(protocol.encode_msg({"op": "resize_pty", "width": width,
                                              "height": height}))

    async def kill(self, signal: int) -> None:
        await self._send(protocol.encode_msg({"op": "kill", "signal": signal}))

    async def _send(self, frame: bytes) -> None:
        try:
            self._writer.write(frame)
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ShimGone(f"write to stream: {exc}") from exc

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()
