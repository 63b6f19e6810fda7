"""The seam between the streaming server and the daemon: what it needs from a runtime.

The daemon implements `StreamingBackend` on top of the shim; `pycri.cri.streaming.fake`
ships a fake for tests. Byte streams are the two tiny protocols below so that SPDY streams,
WebSocket channels and test doubles all fit without adapters.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import NamedTuple, Protocol


class ByteSource(Protocol):
    """Where the client's bytes come from (stdin)."""

    async def read(self, n: int = 65536) -> bytes:
        """Up to n bytes; b"" once the client closed its side (EOF)."""
        ...


class ByteSink(Protocol):
    """Where the container's bytes go (stdout, stderr)."""

    async def write(self, data: bytes) -> None:
        """Send data, waiting while the client is slow; raises ConnectionError once gone."""
        ...

    async def close(self) -> None:
        """Half-close: the client sees EOF. Idempotent."""
        ...


class TerminalSize(NamedTuple):
    width: int
    height: int


class StreamingBackend(Protocol):
    async def exec(
        self,
        container_id: str,
        cmd: list[str],
        *,
        tty: bool,
        stdin: ByteSource | None,
        stdout: ByteSink | None,
        stderr: ByteSink | None,
        resize: AsyncIterator[TerminalSize] | None,
    ) -> int:
        """Run cmd in the container wired to the streams; return its exit code once it has
        exited and all its output was written. Cancelled when the client goes away: the
        implementation must then kill the process."""
        ...

    async def attach(
        self,
        container_id: str,
        *,
        tty: bool,
        stdin: ByteSource | None,
        stdout: ByteSink | None,
        stderr: ByteSink | None,
        resize: AsyncIterator[TerminalSize] | None,
    ) -> None:
        """Attach to the container's own stdio until it exits or the client detaches
        (stdin EOF does not end an attach; cancellation does)."""
        ...

    async def port_forward(
        self, pod_sandbox_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to localhost:port inside the pod's network namespace; raises
        OSError (its message goes to the client) when the dial fails."""
        ...
