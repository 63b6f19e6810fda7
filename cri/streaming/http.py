"""The little HTTP/1.1 the streaming server needs: read one request head, write a response.

Every connection is a single upgrade request, so there is no keep-alive, no body and no
chunking. The head must arrive whole within a deadline and a size limit, so a client that
trickles bytes (slowloris) only ever costs one idle coroutine for that long.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

MAX_HEAD = 16 * 1024

REASONS = {
    101: "Switching Protocols",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    target: str
    path: str
    query: dict[str, list[str]]
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str:
        """The first value of a header (case-insensitive name), or ""."""
        name = name.lower()
        return next((v for k, v in self.headers if k == name), "")

    def tokens(self, name: str) -> list[str]:
        """Every comma-separated item of every occurrence of a header, in order."""
        name = name.lower()
        items: list[str] = []
        for k, v in self.headers:
            if k == name:
                items.extend(p.strip() for p in v.split(",") if p.strip())
        return items


async def read_request(reader: asyncio.StreamReader, timeout: float) -> Request:
    """Read and parse one request head; BadRequest on a malformed, huge or slow one."""
    try:
        async with asyncio.timeout(timeout):
            raw = await reader.readuntil(b"\r\n\r\n")
    except TimeoutError as exc:
        raise BadRequest(408, "read request head: timed out") from exc
    except asyncio.LimitOverrunError as exc:
        raise BadRequest(431, "read request head: too large") from exc
    except asyncio.IncompleteReadError as exc:
        raise BadRequest(400, "read request head: connection closed") from exc
    return parse_head(raw)


def parse_head(raw: bytes) -> Request:
    if len(raw) > MAX_HEAD:
        raise BadRequest(431, "parse request head: too large")
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes anything
        raise BadRequest(400, "parse request head: not text") from exc
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, f"parse request line {lines[0][:80]!r}: malformed")
    method, target, _version = parts
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, f"parse header {line[:80]!r}: malformed")
        headers.append((name.lower(), value.strip()))
    split = urlsplit(target)
    return Request(method, target, unquote(split.path), parse_qs(split.query), headers)


def response(status: int, headers: list[tuple[str, str]] | None = None, body: str = "") -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    hdrs = list(headers or [])
    if status != 101:
        payload = body.encode()
        hdrs += [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(payload))),
            ("Connection", "close"),
        ]
    else:
        payload = b""
    lines += [f"{k}: {v}" for k, v in hdrs]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
