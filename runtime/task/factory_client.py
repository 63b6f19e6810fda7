"""The daemon's side of the shim factory: start it once, ask it for shims."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from typing import Any

from pycri.runtime.task.errors import ShimError

log = logging.getLogger(__name__)


class ShimFactory:
    """Lazily starts `<shim command> --factory <socket>`; falls back is the caller's job."""

    def __init__(self, command: list[str], socket_path: str, timeout: float = 30.0) -> None:
        self.command = command
        self.socket_path = socket_path
        self.timeout = timeout
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def _ensure(self) -> None:
        if self._process is not None and self._process.returncode is None:
            return
        os.makedirs(os.path.dirname(self.socket_path), mode=0o711, exist_ok=True)
        # stdin is the lifeline: the factory leaves when the daemon does.
        process = await asyncio.create_subprocess_exec(
            *self.command, "--factory", self.socket_path, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), self.timeout)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            process.kill()
            await process.wait()
            raise ShimError("start shim factory: it did not become ready")
        self._process = process
        log.info("shim factory started pid=%d", process.pid)

    async def start_factory(self) -> None:
        async with self._lock:
            await self._ensure()

    async def start(self, args: list[str]) -> dict[str, Any]:
        """Ask the factory for a shim with these `pycri-shim` arguments; its ready report."""
        await self.start_factory()
        reader, writer = await asyncio.open_unix_connection(self.socket_path)
        try:
            writer.write(json.dumps(args).encode() + b"\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), self.timeout)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
        try:
            info: dict[str, Any] = json.loads(line)
        except ValueError:
            raise ShimError("start shim: the factory gave no answer") from None
        if not info.get("ok"):
            raise ShimError(f"start shim: {info.get('error', 'failed')}")
        return info

    async def close(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
