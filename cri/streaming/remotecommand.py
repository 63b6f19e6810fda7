"""Exec and attach, independent of the transport (SPDY streams or WebSocket channels).

The transport gathers the client's streams into `CommandStreams`; `run_command` calls the
backend and reports the outcome on the error stream: a Kubernetes `metav1.Status` JSON
object for the v4+ protocols, the bare message (nothing on success) before v4.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pycri.cri.streaming.backend import ByteSink, ByteSource, StreamingBackend, TerminalSize
from pycri.cri.streaming.requests import AttachRequest, ExecRequest

log = logging.getLogger(__name__)

MAX_RESIZE_BUFFER = 64 * 1024


@dataclass
class CommandStreams:
    error: ByteSink
    stdin: ByteSource | None = None
    stdout: ByteSink | None = None
    stderr: ByteSink | None = None
    resize: ByteSource | None = None
    status_as_json: bool = True


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_code_status(code: int, cmd: list[str]) -> dict[str, Any]:
    """What kubelet writes when the command exited non-zero; clients read the code from
    the ExitCode cause."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "command terminated with non-zero exit code: "
            f"error executing command {_go_list(cmd)}, exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def internal_error_status(message: str) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


def _go_list(cmd: list[str]) -> str:
    return "[" + " ".join(cmd) + "]"


def encode_status(status: dict[str, Any], as_json: bool) -> bytes:
    if as_json:
        return json.dumps(status, separators=(",", ":")).encode()
    # Before v4 the error stream carries only the failure text.
    return b"" if status["status"] == "Success" else str(status.get("message", "")).encode()


async def resize_events(source: ByteSource) -> AsyncIterator[TerminalSize]:
    """Terminal sizes from the resize stream: JSON objects {"Width":W,"Height":H}, one after
    another (Go's json.Encoder puts a newline after each; a WebSocket message may carry one
    without). Malformed input ends the iteration rather than the session."""
    decoder = json.JSONDecoder()
    buf = ""
    while True:
        chunk = await source.read()
        if not chunk:
            return
        buf += chunk.decode("utf-8", errors="replace")
        while True:
            buf = buf.lstrip()
            if not buf:
                break
            try:
                obj, end = decoder.raw_decode(buf)
            except json.JSONDecodeError:
                if len(buf) > MAX_RESIZE_BUFFER:
                    log.warning("resize stream: undecodable input, ignoring further resizes")
                    return
                break
            buf = buf[end:]
            if isinstance(obj, dict):
                width, height = obj.get("Width", 0), obj.get("Height", 0)
                if _dimension(width) and _dimension(height):
                    yield TerminalSize(width, height)


def _dimension(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 65536


async def run_command(
    backend: StreamingBackend, request: ExecRequest | AttachRequest, streams: CommandStreams
) -> None:
    """Run the exec or attach, then write its status and close the server's halves."""
    resize = resize_events(streams.resize) if request.tty and streams.resize else None
    kind = request.kind
    try:
        if isinstance(request, ExecRequest):
            code = await backend.exec(
                request.container_id, list(request.cmd), tty=request.tty, stdin=streams.stdin,
                stdout=streams.stdout, stderr=streams.stderr, resize=resize,
            )
            status = success_status() if code == 0 else exit_code_status(code, request.cmd)
        else:
            await backend.attach(
                request.container_id, tty=request.tty, stdin=streams.stdin,
                stdout=streams.stdout, stderr=streams.stderr, resize=resize,
            )
            code = 0
            status = success_status()
    except asyncio.CancelledError:
        raise
    except ConnectionError as exc:
        log.info("%s stream lost container_id=%s error=%s", kind, request.container_id, exc)
        return
    except Exception as exc:
        log.warning("%s failed container_id=%s error=%s", kind, request.container_id, exc)
        what = "executing command in" if kind == "exec" else "attaching to"
        status = internal_error_status(f"error {what} container: {exc}")
        code = -1
    log.info("%s finished container_id=%s exit_code=%s", kind, request.container_id, code)
    for sink in (streams.stdout, streams.stderr):
        if sink is not None:
            with contextlib.suppress(ConnectionError):
                await sink.close()
    with contextlib.suppress(ConnectionError):
        payload = encode_status(status, streams.status_as_json)
        if payload:
            await streams.error.write(payload)
        await streams.error.close()
