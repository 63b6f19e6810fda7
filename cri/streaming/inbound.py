"""What a client sends on one stream or channel, buffered with back-pressure."""

from __future__ import annotations

import asyncio

# Past this many unread bytes the connection stops reading until the backend catches up.
HIGH_WATER = 1024 * 1024


class InboundBuffer:
    """A ByteSource: `feed` from the connection, `read` by the backend, `space` for pacing."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._ready = asyncio.Event()
        self.space = asyncio.Event()
        self.space.set()
        self.closed = False

    def feed(self, data: bytes) -> None:
        if self.closed:
            return
        self._buf += data
        self._ready.set()
        if len(self._buf) >= HIGH_WATER:
            self.space.clear()

    def close(self) -> None:
        """The client's end of input; reads drain what is left, then get b""."""
        self.closed = True
        self._ready.set()
        self.space.set()

    async def read(self, n: int = 65536) -> bytes:
        while not self._buf and not self.closed:
            self._ready.clear()
            await self._ready.wait()
        chunk = bytes(self._buf[:n])
        del self._buf[:n]
        if len(self._buf) < HIGH_WATER:
            self.space.set()
        return chunk
