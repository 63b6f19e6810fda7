"""ShimClient: one shim's protocol spoken from the daemon's event loop.

Requests are multiplexed by id on one control connection; `wait` and ExecSync answers
arrive whenever the shim has them. Events, exec streams and attaches each get their
own connection.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pycri.runtime.shim import protocol
from pycri.runtime.shim.exits import ExitRecord
from pycri.runtime.task.errors import ShimGone, from_response
from pycri.runtime.task.streams import StdioStream

log = logging.getLogger(__name__)


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


async def _open(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.open_unix_connection(path, limit=protocol.MAX_FRAME)
    except (FileNotFoundError, ConnectionRefusedError, OSError) as exc:
        raise ShimGone(f"connect to shim `{path}`: {exc}") from exc


class ShimClient:
    def __init__(self, sandbox_id: str, path: str) -> None:
        self.sandbox_id = sandbox_id
        self.path = path
        self.info: dict[str, Any] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._read_task: asyncio.Task[None] | None = None
        self.closed = False

    @classmethod
    async def connect(cls, sandbox_id: str, path: str) -> ShimClient:
        c = cls(sandbox_id, path)
        c._reader, c._writer = await _open(path)
        c._read_task = asyncio.create_task(c._read_loop(), name=f"shim-{sandbox_id}")
        c.info = await c.call("sandbox_info")
        return c

    async def _read_loop(self) -> None:
        assert self._reader is not None
        frames = protocol.FrameReader()
        exc: BaseException | None = None
        try:
            while True:
                data = await self._reader.read(1 << 20)
                if not data:
                    break
                for channel, payload in frames.feed(data):
                    if channel != protocol.CH_CONTROL:
                        continue
                    msg = protocol.decode_msg(payload)
                    fut = self._pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
        except (ConnectionError, OSError, protocol.ProtocolError) as e:
            exc = e
        self.closed = True
        gone = ShimGone(f"shim of sandbox `{self.sandbox_id}` went away"
                        + (f": {exc}" if exc else ""))
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(gone)
        self._pending.clear()

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        if self.closed or self._writer is None:
            raise ShimGone(f"shim of sandbox `{self.sandbox_id}` is not connected")
        req_id = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = fut
        try:
            self._writer.write(protocol.encode_msg({"op": op, "id": req_id, **args}))
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self._pending.pop(req_id, None)
            raise ShimGone(f"send {op} to shim `{self.sandbox_id}`: {exc}") from exc
        try:
            msg = await fut
        finally:
            self._pending.pop(req_id, None)
        if not msg.get("ok"):
            raise from_response(msg.get("error") or {})
        result: dict[str, Any] = msg.get("result") or {}
        return result

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self._writer.wait_closed()
        if self._read_task is not None:
            await asyncio.gather(self._read_task, return_exceptions=True)

    # -- container operations ------------------------------------------------------
    async def create(self, container_id: str, bundle: str, *, stdin: bool = False,
                     stdin_once: bool = False, tty: bool = False, log_path: str = "") -> int:
        r = await self.call("create", container_id=container_id, bundle=bundle, stdin=stdin,
                            stdin_once=stdin_once, tty=tty, log_path=log_path)
        return int(r["pid"])

    async def start(self, container_id: str) -> int:
        return int((await self.call("start", container_id=container_id))["pid"])

    async def kill(self, container_id: str, signal: int = 15, all: bool = False) -> None:
        await self.call("kill", container_id=container_id, signal=signal, all=all)

    async def delete(self, container_id: str, force: bool = False) -> ExitRecord | None:
        r = await self.call("delete", container_id=container_id, force=force)
        return ExitRecord.from_dict(r["exit"]) if r.get("exit") else None

    async def wait(self, container_id: str) -> ExitRecord:
        return ExitRecord.from_dict(await self.call("wait", container_id=container_id))

    async def state(self, container_id: str) -> dict[str, Any]:
        return await self.call("state", container_id=container_id)

    async def list_containers(self) -> list[dict[str, Any]]:
        return list((await self.call("list"))["containers"])

    async def pids(self, container_id: str) -> list[int]:
        return [int(p) for p in (await self.call("pids", container_id=container_id))["pids"]]

    async def pause(self, container_id: str) -> None:
        await self.call("pause", container_id=container_id)

    async def resume(self, container_id: str) -> None:
        await self.call("resume", container_id=container_id)

    async def update(self, container_id: str, resources: dict[str, Any]) -> None:
        await self.call("update", container_id=container_id, resources=resources)

    async def stats(self, container_id: str) -> dict[str, Any]:
        return await self.call("stats", container_id=container_id)

    async def reopen_log(self, container_id: str) -> None:
        await self.call("reopen_log", container_id=container_id)

    async def resize_pty(self, container_id: str, width: int, height: int,
                         exec_id: str = "") -> None:
        await self.call("resize_pty", container_id=container_id, exec_id=exec_id,
                        width=width, height=height)

    async def close_stdin(self, container_id: str, exec_id: str = "") -> None:
        await self.call("close_stdin", container_id=container_id, exec_id=exec_id)

    async def exec_sync(self, container_id: str, exec_id: str, process: dict[str, Any],
                        timeout: float = 0) -> ExecResult:
        """Run to completion; DeadlineExceeded after `timeout` seconds (0: none)."""
        r = await self.call("exec", container_id=container_id, exec_id=exec_id,
                            process=process, timeout=timeout)
        return ExecResult(int(r["exit_code"]), base64.b64decode(r["stdout"]),
                          base64.b64decode(r["stderr"]))

    async def _stream(self, msg: dict[str, Any]) -> StdioStream:
        reader, writer = await _open(self.path)
        writer.write(protocol.encode_msg(msg))
        frames = protocol.FrameReader()
        pending: list[tuple[int, bytes]] = []
        while not pending:
            data = await reader.read(65536)
            if not data:
                writer.close()
                raise ShimGone(f"{msg['op']}: shim closed the stream")
            pending = frames.feed(data)
        first = protocol.decode_msg(pending.pop(0)[1])
        if not first.get("ok"):
            writer.close()
            raise from_response(first.get("error") or {})
        stream = StdioStream(reader, writer, first.get("result") or {})
        stream._frames = frames
        stream._pending = pending
        return stream

    async def exec_stream(self, container_id: str, exec_id: str, process: dict[str, Any], *,
                          tty: bool = False, stdin: bool = False) -> StdioStream:
        return await self._stream({"op": "exec", "id": 1, "stream": True,
                                   "container_id": container_id, "exec_id": exec_id,
                                   "process": process, "tty": tty, "stdin": stdin})

    async def attach(self, container_id: str, *, stdin: bool = False) -> StdioStream:
        return await self._stream({"op": "attach", "id": 1, "container_id": container_id,
                                   "stdin": stdin})

    async def shutdown(self, force: bool = False) -> None:
        await self.call("shutdown", force=force)

    async def subscribe(self) -> EventStream:
        """Events of this shim on a connection of their own, from this moment on."""
        reader, writer = await _open(self.path)
        writer.write(protocol.encode_msg({"op": "subscribe", "id": 0}))
        stream = EventStream(reader, writer)
        await stream.next()  # the ack: from here no event can be missed
        return stream


class EventStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._frames = protocol.FrameReader()
        self._pending: list[dict[str, Any]] = []

    async def next(self) -> dict[str, Any] | None:
        """The next message, or None once the shim has gone."""
        while not self._pending:
            try:
                data = await self._reader.read(1 << 20)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                return None
            for channel, payload in self._frames.feed(data):
                if channel == protocol.CH_CONTROL:
                    self._pending.append(protocol.decode_msg(payload))
        return self._pending.pop(0)

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            msg = await self.next()
            if msg is None:
                return
            if "event" in msg:
                yield msg

    def close(self) -> None:
        self._writer.close()
