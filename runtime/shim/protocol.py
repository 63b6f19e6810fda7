"""Wire format of the shim protocol (see api/shim_protocol.md).

Shared by the shim and the daemon's task manager, so it imports only the standard
library: the shim's memory budget depends on it.
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

VERSION = 1

# Channels: a frame carries either a control message (JSON) or raw stream bytes.
CH_STDIN = 0
CH_STDOUT = 1
CH_STDERR = 2
CH_CONTROL = 3

HEADER = struct.Struct(">IB")
# Large enough for an ExecSync response carrying two base64'd 16 MiB captures.
MAX_FRAME = 64 << 20

# Error codes a response can carry; the task manager maps them to exceptions.
NOT_FOUND = "not_found"
ALREADY_EXISTS = "already_exists"
INVALID = "invalid"
FAILED_PRECONDITION = "failed_precondition"
DEADLINE_EXCEEDED = "deadline_exceeded"
INTERNAL = "internal"
UNSUPPORTED_VERSION = "unsupported_version"


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid frame."""


class ShimOpError(Exception):
    """An operation failed; `code` is one of the error codes above."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def encode(channel: int, payload: bytes) -> bytes:
    if len(payload) + 1 > MAX_FRAME:
        raise ProtocolError(f"encode frame: payload of {len(payload)} bytes is too large")
    return HEADER.pack(len(payload) + 1, channel) + payload


def encode_msg(msg: dict[str, Any]) -> bytes:
    msg.setdefault("v", VERSION)
    return encode(CH_CONTROL, json.dumps(msg, separators=(",", ":")).encode())


def decode_msg(payload: bytes) -> dict[str, Any]:
    try:
        msg = json.loads(payload)
    except ValueError as exc:
        raise ProtocolError(f"decode control message: {exc}") from exc
    if not isinstance(msg, dict):
        raise ProtocolError("decode control message: not an object")
    return msg


class FrameReader:
    """Incremental parser: feed bytes, take complete (channel, payload) frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        frames: list[tuple[int, bytes]] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= HEADER.size:
            length, channel = HEADER.unpack_from(buf, pos)
            if length < 1 or length > MAX_FRAME:
                raise ProtocolError(f"read frame: bad length {length}")
            end = pos + 4 + length
            if len(buf) < end:
                break
            frames.append((channel, bytes(buf[pos + HEADER.size : end])))
            pos = end
        if pos:
            del buf[:pos]
        return frames


def ok(req_id: Any, result: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"v": VERSION, "id": req_id, "ok": True, "result": result or {}}


def error(req_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"v": VERSION, "id": req_id, "ok": False, "error": {"code": code, "message": message}}
