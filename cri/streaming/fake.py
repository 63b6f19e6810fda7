"""A scripted StreamingBackend for tests: the "container" understands a few commands.

exec commands: `echo ARGS...` prints them; `cat` copies stdin to stdout until EOF;
`exit N` returns N; `stderr TEXT` prints to stderr; `stty size` waits for a resize and
prints "ROWS COLS"; `fail` raises; `sleep S` sleeps (a cancelled sleep is recorded as
killed). attach copies stdin to stdout like a container running `cat`. port_forward dials
127.0.0.1:<port> on the host (or `port_map[port]`), standing in for the pod's netns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from pycri.cri.streaming.backend import ByteSink, ByteSource, TerminalSize


@dataclass
class Call:
    kind: str
    target: str
    cmd: list[str] = field(default_factory=list)
    tty: bool = False
    resizes: list[TerminalSize] = field(default_factory=list)
    killed: bool = False
    exit_code: int | None = None


class FakeBackend:
    def __init__(self, port_map: dict[int, tuple[str, int]] | None = None) -> None:
        self.calls: list[Call] = []
        self.port_map = port_map or {}

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
        call = Call("exec", container_id, cmd, tty)
        self.calls.append(call)
        try:
            code = await self._run(call, cmd, stdin, stdout, stderr, resize)
        except asyncio.CancelledError:
            call.killed = True
            raise
        call.exit_code = code
        return code

    async def _run(
        self,
        call: Call,
        cmd: list[str],
        stdin: ByteSource | None,
        stdout: ByteSink | None,
        stderr: ByteSink | None,
        resize: AsyncIterator[TerminalSize] | None,
    ) -> int:
        name, args = cmd[0], cmd[1:]
        if name == "echo" and stdout:
            await stdout.write((" ".join(args) + "\n").encode())
        elif name == "cat" and stdin and stdout:
            while data := await stdin.read():
                await stdout.write(data)
        elif name == "exit":
            return int(args[0])
        elif name == "stderr" and stderr:
            await stderr.write((" ".join(args) + "\n").encode())
        elif name == "stty" and resize and stdout:
            async for size in resize:
                call.resizes.append(size)
                await stdout.write(f"{size.height} {size.width}\n".encode())
                break
        elif name == "fail":
            raise RuntimeError("fake failure")
        elif name == "sleep":
            await asyncio.sleep(float(args[0]))
        return 0

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
        call = Call("attach", container_id, tty=tty)
        self.calls.append(call)
        try:
            if stdin and stdout:
                while data := await stdin.read():
                    await stdout.write(data)
        except asyncio.CancelledError:
            call.killed = True
            raise

    async def port_forward(
        self, pod_sandbox_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.calls.append(Call("portforward", pod_sandbox_id, [str(port)]))
        host, real_port = self.port_map.get(port, ("127.0.0.1", port))
        return await asyncio.open_connection(host, real_port)
