"""The streaming server's backend: exec and attach through the pod's shim, port-forward
by dialling inside the pod's network namespace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from collections.abc import AsyncIterator
from typing import Any

from pycri.cri.container_exec import exec_process, require_running
from pycri.cri.context import RuntimeContext
from pycri.cri.streaming import ByteSink, ByteSource, TerminalSize, netns_connect

log = logging.getLogger(__name__)


async def _pump_stdin(source: ByteSource, stream: Any) -> None:
    while True:
        data = await source.read(65536)
        if not data:
            await stream.close_stdin()
            return
        await stream.write_stdin(data)


async def _pump_resize(sizes: AsyncIterator[TerminalSize], stream: Any) -> None:
    async for size in sizes:
        await stream.resize(size.width, size.height)


async def _pump_output(stream: Any, stdout: ByteSink | None, stderr: ByteSink | None) -> None:
    async for name, data in stream:
        sink = stderr if name == "stderr" and stderr is not None else stdout
        if sink is not None:
            await sink.write(data)
    for sink in (stdout, stderr):
        if sink is not None:
            with contextlib.suppress(ConnectionError, OSError):
                await sink.close()


async def _run(stream: Any, stdin: ByteSource | None, stdout: ByteSink | None,
               stderr: ByteSink | None, resize: AsyncIterator[TerminalSize] | None) -> None:
    helpers = []
    if stdin is not None:
        helpers.append(asyncio.create_task(_pump_stdin(stdin, stream)))
    if resize is not None:
        helpers.append(asyncio.create_task(_pump_resize(resize, stream)))
    try:
        await _pump_output(stream, stdout, stderr)
    finally:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)


class ShimStreamingBackend:
    def __init__(self, rt: RuntimeContext) -> None:
        self.rt = rt

    async def exec(self, container_id: str, cmd: list[str], *, tty: bool,
                   stdin: ByteSource | None, stdout: ByteSink | None, stderr: ByteSink | None,
                   resize: AsyncIterator[TerminalSize] | None) -> int:
        record = require_running(self.rt, container_id)
        process = await self.rt.to_thread(exec_process, record, cmd, tty)
        client = self.rt.pods.client(record.sandbox_id)
        stream = await client.exec_stream(record.id, secrets.token_hex(8), process, tty=tty,
                                          stdin=stdin is not None)
        try:
            await _run(stream, stdin, stdout, stderr, resize)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await stream.kill(signal.SIGKILL)
            raise
        finally:
            await stream.close()
        exit_code = int((stream.exit or {}).get("exit_code", 255))
        log.info("exec session ended container_id=%s exit_code=%d", record.id, exit_code)
        return exit_code

    async def attach(self, container_id: str, *, tty: bool, stdin: ByteSource | None,
                     stdout: ByteSink | None, stderr: ByteSink | None,
                     resize: AsyncIterator[TerminalSize] | None) -> None:
        record = require_running(self.rt, container_id)
        client = self.rt.pods.client(record.sandbox_id)
        stream = await client.attach(record.id, stdin=stdin is not None)
        try:
            await _run(stream, stdin, stdout, stderr, resize)
        finally:
            await stream.close()

    async def port_forward(self, pod_sandbox_id: str,
                           port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sandbox = self.rt.state.sandbox(pod_sandbox_id)
        if sandbox.status.host_network or not sandbox.status.netns_path:
            return await asyncio.open_connection("127.0.0.1", port)
        sock = await asyncio.to_thread(netns_connect, sandbox.status.netns_path, port)
        return await asyncio.open_connection(sock=sock)
