from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from pycri.cri.streaming import PortForwardRequest, StreamingServer
from pycri.cri.streaming.fake import FakeBackend
from tests.unit.streaming.streaming_clients import SpdyClient, WsClient


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    srv = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        yield srv.sockets[0].getsockname()[1]
    finally:
        srv.close()
        await srv.wait_closed()


async def free_port() -> int:
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port: int = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    return port


async def forward_one(client: SpdyClient, port: int, request_id: int, payload: bytes) -> bytes:
    headers = {"streamtype": "error", "port": str(port), "requestid": str(request_id)}
    err = await client.open_stream(headers)
    await client.send(err, b"", fin=True)  # the client never writes on the error stream
    data = await client.open_stream({**headers, "streamtype": "data"})
    await client.send(data, payload, fin=True)
    echoed = await client.read_until_fin(data)
    assert await client.read_until_fin(err) == b""
    return echoed


async def test_spdy_portforward_20_concurrent(server: StreamingServer, echo_port: int) -> None:
    url = server.url_for("portforward", PortForwardRequest("pod1", [echo_port]))
    client = await SpdyClient.connect(url, ["portforward.k8s.io"])
    assert client.protocol == "portforward.k8s.io"
    payloads = [os.urandom(1000 * (i + 1)) for i in range(20)]
    results = await asyncio.gather(*(forward_one(client, echo_port, i, p)
                                     for i, p in enumerate(payloads)))
    assert results == payloads
    await client.close()


async def test_spdy_portforward_without_request_id(server: StreamingServer,
                                                   echo_port: int) -> None:
    client = await SpdyClient.connect(server.url_for("portforward", PortForwardRequest("p")),
                                      ["portforward.k8s.io"])
    err = await client.open_stream({"streamtype": "error", "port": str(echo_port)})
    data = await client.open_stream({"streamtype": "data", "port": str(echo_port)})
    await client.send(data, b"legacy", fin=True)
    assert await client.read_until_fin(data) == b"legacy"
    assert await client.read_until_fin(err) == b""
    await client.close()


async def test_spdy_portforward_dial_failure(server: StreamingServer) -> None:
    port = await free_port()
    client = await SpdyClient.connect(server.url_for("portforward", PortForwardRequest("pod9")),
                                      ["portforward.k8s.io"])
    headers = {"streamtype": "error", "port": str(port), "requestid": "0"}
    err = await client.open_stream(headers)
    data = await client.open_stream({**headers, "streamtype": "data"})
    message = await client.read_until_fin(err)
    assert message.startswith(f"error forwarding port {port} to pod pod9".encode())
    await client.read_until_fin(data)
    await client.close()


async def test_spdy_portforward_port_not_requested(server: StreamingServer,
                                                   echo_port: int) -> None:
    req = PortForwardRequest("pod1", [echo_port])
    client = await SpdyClient.connect(server.url_for("portforward", req), ["portforward.k8s.io"])
    headers = {"streamtype": "error", "port": str(echo_port + 1), "requestid": "1"}
    err = await client.open_stream(headers)
    await client.open_stream({**headers, "streamtype": "data"})
    assert b"not part of the port-forward request" in await client.read_until_fin(err)
    await client.close()


async def test_spdy_portforward_client_reset(server: StreamingServer, echo_port: int,
                                             backend: FakeBackend) -> None:
    client = await SpdyClient.connect(server.url_for("portforward", PortForwardRequest("p")),
                                      ["portforward.k8s.io"])
    headers = {"streamtype": "error", "port": str(echo_port), "requestid": "1"}
    err = await client.open_stream(headers)
    data = await client.open_stream({**headers, "streamtype": "data"})
    await client.send(data, b"ping")
    await client.read_until(data, b"ping")
    await client.send_rst(data)
    await client.read_until_fin(err)
    # The session still serves new connections afterwards.
    assert await forward_one(client, echo_port, 2, b"again") == b"again"
    await client.close()


async def test_ws_portforward(server: StreamingServer, echo_port: int) -> None:
    url = server.url_for("portforward", PortForwardRequest("pod1", [echo_port]))
    ws = await WsClient.connect(url + f"?port={echo_port}", ["v4.channel.k8s.io"])
    assert ws.protocol == "v4.channel.k8s.io"
    prefix = echo_port.to_bytes(2, "little")
    await ws.read_until(0, prefix)
    await ws.read_until(1, prefix)
    await ws.send(0, b"hello over websocket")
    assert await ws.read_until(0, b"websocket") == prefix + b"hello over websocket"
    await ws.close()


async def test_ws_portforward_base64_two_ports(server: StreamingServer, echo_port: int) -> None:
    closed = await free_port()
    url = server.url_for("portforward", PortForwardRequest("pod1"))
    ws = await WsClient.connect(url + f"?port={echo_port},{closed}",
                                ["v4.base64.channel.k8s.io"])
    await ws.send(0, b"b64 data")
    assert (await ws.read_until(0, b"b64 data")).endswith(b"b64 data")
    assert b"error forwarding port" in await ws.read_until(3, b"error")
    await ws.close()
