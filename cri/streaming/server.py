"""The streaming server: HTTP/1.1 on asyncio, upgraded to SPDY/3.1 or WebSocket.

It runs in the daemon's event loop. The CRI Exec/Attach/PortForward handlers call
`url_for`, which stores the request behind a single-use token; the client then connects to
`/<kind>/<token>` and upgrades. Every connection is one task; `stop` cancels them all,
and a cancelled connection cancels its backend work, so no session outlives the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from pycri.cri.streaming import http
from pycri.cri.streaming.backend import StreamingBackend
from pycri.cri.streaming.portforward import PORTFORWARD_PROTOCOL, SpdyPortForward
from pycri.cri.streaming.requests import (
    AttachRequest,
    ExecRequest,
    Kind,
    PortForwardRequest,
    StreamRequest,
)
from pycri.cri.streaming.spdy_command import COMMAND_PROTOCOLS, SpdyCommand
from pycri.cri.streaming.spdy_session import SpdySession
from pycri.cri.streaming.tokens import DEFAULT_TTL, TokenCache
from pycri.cri.streaming.websocket import serve_websocket

log = logging.getLogger(__name__)

KINDS: tuple[Kind, ...] = ("exec", "attach", "portforward")


@dataclass
class StreamingConfig:
    host: str = "127.0.0.1"
    port: int = 0
    ssl: ssl.SSLContext | None = None
    # Host put in URLs; defaults to the bound address (127.0.0.1 when bound to a wildcard).
    advertise_host: str | None = None
    token_ttl: float = DEFAULT_TTL
    max_pending_tokens: int = 1000
    idle_timeout: float = 4 * 3600.0
    # Deadline for the whole request head (slowloris guard).
    header_timeout: float = 10.0
    # How long the client has to open all its streams after the upgrade.
    stream_creation_timeout: float = 30.0
    # How long to wait for the client to hang up after we finished.
    close_grace: float = 5.0


class StreamingServer:
    def __init__(self, backend: StreamingBackend, config: StreamingConfig | None = None) -> None:
        self.backend = backend
        self.config = config or StreamingConfig()
        self.tokens = TokenCache(self.config.token_ttl, self.config.max_pending_tokens)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._address: tuple[str, int] | None = None

    # --- lifecycle ---

    async def start(self) -> None:
        cfg = self.config
        self._server = await asyncio.start_server(
            self._on_connection, cfg.host, cfg.port, ssl=cfg.ssl, limit=http.MAX_HEAD,
            ssl_handshake_timeout=cfg.header_timeout if cfg.ssl else None,
        )
        sockname = self._server.sockets[0].getsockname()
        self._address = (sockname[0], sockname[1])
        log.info("streaming server listening address=%s port=%s tls=%s",
                 sockname[0], sockname[1], cfg.ssl is not None)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._server.wait_closed()
        self._server = None
        log.info("streaming server stopped")

    async def __aenter__(self) -> StreamingServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def address(self) -> tuple[str, int]:
        if self._address is None:
            raise RuntimeError("streaming server is not started")
        return self._address

    # --- URLs ---

    def url_for(self, kind: Kind, request: StreamRequest) -> str:
        """Validate the request, store it behind a fresh token and return the absolute URL
        the client connects to."""
        if kind != request.kind:
            raise ValueError(f"url_for: kind {kind!r} does not match a {request.kind} request")
        request.validate()
        token = self.tokens.insert(request)
        return f"{self.base_url}/{kind}/{token}"

    @property
    def base_url(self) -> str:
        host, port = self.address
        host = self.config.advertise_host or host
        with contextlib.suppress(ValueError):
            ip = ipaddress.ip_address(host)
            if ip.is_unspecified:
                host = "127.0.0.1" if ip.version == 4 else "::1"
                ip = ipaddress.ip_address(host)
            if ip.version == 6:
                host = f"[{host}]"
        scheme = "https" if self.config.ssl else "http"
        return f"{scheme}://{host}:{port}"

    # --- connections ---

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        try:
            await self._serve(reader, writer, str(peer))
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("streaming connection failed peer=%s", peer)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        try:
            req = await http.read_request(reader, self.config.header_timeout)
        except http.BadRequest as exc:
            log.debug("bad streaming request peer=%s error=%s", peer, exc)
            await _reply(writer, exc.status, str(exc))
            return
        parts = req.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] not in KINDS or req.method not in ("GET", "POST"):
            await _reply(writer, 404, "404 page not found")
            return
        kind, token = parts
        request = self.tokens.consume(token)
        if request is None or request.kind != kind:
            log.info("streaming request with unknown or used token kind=%s peer=%s", kind, peer)
            await _reply(writer, 404, "404 page not found")
            return
        upgrade = req.header("upgrade").lower()
        if "upgrade" not in req.header("connection").lower():
            upgrade = ""
        if upgrade == "websocket":
            await serve_websocket(self, req, request, reader, writer, peer)
        elif upgrade.startswith("spdy/3.1"):
            await self._serve_spdy(req, request, reader, writer, peer)
        else:
            await _reply(writer, 400, "unable to upgrade: missing upgrade headers in request")

    async def _serve_spdy(
        self,
        req: http.Request,
        request: StreamRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
    ) -> None:
        offered = req.tokens("x-stream-protocol-version")
        is_pf = isinstance(request, PortForwardRequest)
        supported = (PORTFORWARD_PROTOCOL,) if is_pf else COMMAND_PROTOCOLS
        if offered:
            protocol = next((p for p in offered if p in supported), "")
            if not protocol:
                headers = [("X-Accepted-Stream-Protocol-Versions", p) for p in supported]
                msg = (f"unable to upgrade: unable to negotiate protocol: client supports "
                       f"{offered}, server accepts {list(supported)}")
                await _reply(writer, 403, msg, headers)
                return
        else:
            # Clients from before version negotiation speak the oldest protocol.
            protocol = supported[-1]
        writer.write(http.response(101, [
            ("Connection", "Upgrade"),
            ("Upgrade", "SPDY/3.1"),
            ("X-Stream-Protocol-Version", protocol),
        ]))
        await writer.drain()
        log.info("streaming session started kind=%s protocol=%s transport=spdy peer=%s",
                 request.kind, protocol, peer)
        cfg = self.config
        work: Any
        if isinstance(request, PortForwardRequest):
            work = SpdyPortForward(self.backend, request, cfg.stream_creation_timeout)
        else:
            work = SpdyCommand(self.backend, request, protocol, cfg.stream_creation_timeout)
        session = SpdySession(reader, writer, work.add, idle_timeout=cfg.idle_timeout, name=peer)
        job = work.run(session.ended) if isinstance(work, SpdyPortForward) else work.run()
        await run_session(session.run(), job, session.go_away, cfg.close_grace)
        log.info("streaming session ended kind=%s transport=spdy peer=%s", request.kind, peer)


async def run_session(
    reader_loop: Any, job: Any, finish: Any, close_grace: float
) -> None:
    """Run the transport's read loop and the job side by side. If the client leaves first
    the job is cancelled (the backend kills what it started); if the job ends first the
    client gets `finish()` and a grace period to hang up."""
    reading = asyncio.create_task(reader_loop)
    working = asyncio.create_task(job)
    try:
        await asyncio.wait({reading, working}, return_when=asyncio.FIRST_COMPLETED)
        if not working.done():
            working.cancel()
            await asyncio.gather(working, return_exceptions=True)
            return
        if working.exception() is not None:
            log.error("streaming job failed error=%r", working.exception())
        finish()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reading), close_grace)
    finally:
        for task in (reading, working):
            task.cancel()
        await asyncio.gather(reading, working, return_exceptions=True)


async def _reply(
    writer: asyncio.StreamWriter, status: int, body: str,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    with contextlib.suppress(ConnectionError):
        writer.write(http.response(status, headers, body + "\n"))
        await writer.drain()


__all__ = ["AttachRequest", "ExecRequest", "PortForwardRequest", "StreamingConfig",
           "StreamingServer"]
