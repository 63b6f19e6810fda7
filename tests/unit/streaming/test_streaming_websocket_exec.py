from __future__ import annotations

import json

import pytest

from pycri.cri.streaming import AttachRequest, ExecRequest, StreamingServer
from pycri.cri.streaming.fake import FakeBackend
from tests.unit.streaming.streaming_clients import WsClient

STDIN, STDOUT, STDERR, ERROR, RESIZE = range(5)


async def test_v5_exec_stdin_close(server: StreamingServer) -> None:
    url = server.url_for("exec", ExecRequest("c", ["cat"], stdin=True, stderr=False))
    ws = await WsClient.connect(url, ["v5.channel.k8s.io"])
    assert ws.protocol == "v5.channel.k8s.io"
    await ws.send(STDIN, b"through websocket\n")
    await ws.read_until(STDOUT, b"through websocket\n")
    await ws.close_channel(STDIN)  # v5: end of stdin
    await ws.wait_closed()
    assert json.loads(ws.channels[ERROR]) == {"metadata": {}, "status": "Success"}
    # The server tells the client it is ready with an empty stdout message first.
    assert ws.messages[0] == (STDOUT, b"")
    await ws.close()


@pytest.mark.parametrize("protocol", ["v4.channel.k8s.io", "v4.base64.channel.k8s.io"])
async def test_v4_exec_exit_code(server: StreamingServer, protocol: str) -> None:
    url = server.url_for("exec", ExecRequest("c", ["exit", "7"]))
    ws = await WsClient.connect(url, [protocol])
    assert ws.protocol == protocol
    await ws.wait_closed()
    status = json.loads(ws.channels[ERROR])
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"][0] == {"reason": "ExitCode", "message": "7"}
    await ws.close()


@pytest.mark.parametrize("protocol", ["channel.k8s.io", "base64.channel.k8s.io"])
async def test_pre_v4_exec(server: StreamingServer, protocol: str) -> None:
    url = server.url_for("exec", ExecRequest("c", ["stderr", "bad"]))
    ws = await WsClient.connect(url, [protocol])
    await ws.wait_closed()
    assert ws.channels[STDERR] == b"bad\n"
    assert ws.channels[ERROR] == b""
    await ws.close()
    url = server.url_for("exec", ExecRequest("c", ["exit", "1"]))
    ws = await WsClient.connect(url, [protocol])
    await ws.wait_closed()
    assert ws.channels[ERROR].startswith(b"command terminated with non-zero exit code")
    await ws.close()


async def test_tty_resize(server: StreamingServer, backend: FakeBackend) -> None:
    url = server.url_for("exec", ExecRequest("c", ["stty", "size"], tty=True, stderr=False))
    ws = await WsClient.connect(url, ["v5.channel.k8s.io"])
    await ws.send(RESIZE, json.dumps({"Width": 100, "Height": 30}).encode())
    await ws.wait_closed()
    assert ws.channels[STDOUT] == b"30 100\n"
    assert backend.calls[-1].resizes == [(100, 30)]
    await ws.close()


async def test_attach_preferred_protocol_order(server: StreamingServer) -> None:
    url = server.url_for("attach", AttachRequest("c", stdin=True, stderr=False))
    ws = await WsClient.connect(url, ["v9.foo", "v4.channel.k8s.io", "v5.channel.k8s.io"])
    assert ws.protocol == "v4.channel.k8s.io"
    await ws.send(STDIN, b"attach me")
    await ws.read_until(STDOUT, b"attach me")
    await ws.close()


async def test_unsupported_protocol_rejected(server: StreamingServer) -> None:
    url = server.url_for("exec", ExecRequest("c", ["echo"]))
    with pytest.raises(ConnectionRefusedError):
        await WsClient.connect(url, ["v9.channel.k8s.io"])


async def test_ws_client_disconnect_cancels_backend(server: StreamingServer,
                                                    backend: FakeBackend) -> None:
    import asyncio

    url = server.url_for("exec", ExecRequest("c", ["sleep", "60"]))
    ws = await WsClient.connect(url, ["v5.channel.k8s.io"])
    await ws.read_until(STDOUT, b"")
    await ws.close()
    for _ in range(500):
        if backend.calls and backend.calls[-1].killed:
            break
        await asyncio.sleep(0.01)
    assert backend.calls[-1].killed
