"""Port-forward over WebSocket: two channels per port, or client-go's SPDY tunnel.

With the channel protocols the ports come from the URL query (`?port=80&port=8080` or
comma-separated) and each gets data channel 2i and error channel 2i+1. With
`SPDY/3.1+portforward.k8s.io` the binary messages are one byte stream carrying an ordinary
SPDY port-forward session.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pycri.cri.streaming import http
from pycri.cri.streaming.portforward import SpdyPortForward, forward
from pycri.cri.streaming.requests import PortForwardRequest
from pycri.cri.streaming.spdy_session import SpdySession

if TYPE_CHECKING:
    from pycri.cri.streaming.server import StreamingServer
    from pycri.cri.streaming.websocket import WsChannels


def query_ports(req: http.Request) -> list[int]:
    ports = []
    for key in ("port", "ports"):
        for value in req.query.get(key, []):
            for item in value.split(","):
                if item.strip():
                    port = int(item)
                    if not 0 < port < 65536:
                        raise ValueError(f"invalid port {port}")
                    ports.append(port)
    return ports


async def port_forward(
    server: StreamingServer, conn: WsChannels, request: PortForwardRequest, ports: list[int]
) -> None:
    jobs = []
    for i, port in enumerate(ports):
        data_in = conn.input(2 * i)
        data_out, error_out = conn.output(2 * i), conn.output(2 * i + 1)
        prefix = port.to_bytes(2, "little")
        await data_out.write(prefix)
        await error_out.write(prefix)
        jobs.append(forward(server.backend, request, port, data_in, data_out, error_out))
    await asyncio.gather(*jobs)


class _TunnelWriter:
    """SPDY frames out as binary messages, for a SpdySession inside the WebSocket."""

    def __init__(self, conn: WsChannels) -> None:
        self._conn = conn

    def write(self, data: bytes) -> None:
        self._conn.send_raw(data)

    async def drain(self) -> None:
        await self._conn.drain()


async def spdy_tunnel(
    server: StreamingServer, conn: WsChannels, request: PortForwardRequest
) -> None:
    from pycri.cri.streaming.server import run_session

    cfg = server.config
    work = SpdyPortForward(server.backend, request, cfg.stream_creation_timeout)
    session = SpdySession(conn.input(0), _TunnelWriter(conn), work.add,
                          idle_timeout=cfg.idle_timeout, name=conn.name)

    async def read_loops() -> None:
        ws_task = asyncio.create_task(conn.run())
        try:
            await session.run()
        finally:
            ws_task.cancel()
            await asyncio.gather(ws_task, return_exceptions=True)

    await run_session(read_loops(), work.run(session.ended), session.go_away, cfg.close_grace)
