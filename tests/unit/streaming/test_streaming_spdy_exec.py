from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import pytest

from pycri.cri.errors import InvalidArgument
from pycri.cri.streaming import AttachRequest, ExecRequest, StreamingServer
from pycri.cri.streaming.fake import FakeBackend
from tests.unit.streaming.streaming_clients import CommandSession, SpdyClient, http_request


def exec_url(server: StreamingServer, cmd: list[str], **kw: bool) -> str:
    return server.url_for("exec", ExecRequest("c1", cmd, **kw))


async def test_url_is_absolute_with_host(server: StreamingServer) -> None:
    url = exec_url(server, ["echo"])
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.hostname == "127.0.0.1" and parts.port
    assert parts.path.startswith("/exec/") and len(parts.path) > len("/exec/") + 10


async def test_exec_echo_success_status(server: StreamingServer) -> None:
    s = await CommandSession.open(exec_url(server, ["echo", "hello", "world"]))
    out, err, status = await s.result()
    assert out == b"hello world\n"
    assert err == b""
    assert json.loads(status) == {"metadata": {}, "status": "Success"}
    await s.close()


async def test_exec_stderr(server: StreamingServer) -> None:
    s = await CommandSession.open(exec_url(server, ["stderr", "oops"]))
    out, err, _ = await s.result()
    assert (out, err) == (b"", b"oops\n")
    await s.close()


async def test_exec_nonzero_exit_code_status(server: StreamingServer) -> None:
    s = await CommandSession.open(exec_url(server, ["exit", "3"]))
    _, _, raw = await s.result()
    status = json.loads(raw)
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert status["message"].startswith("command terminated with non-zero exit code")
    await s.close()


async def test_exec_pre_v4_error_stream_is_text(server: StreamingServer) -> None:
    s = await CommandSession.open(exec_url(server, ["exit", "2"]), protocol="v2.channel.k8s.io")
    assert s.client.protocol == "v2.channel.k8s.io"
    _, _, raw = await s.result()
    assert raw.startswith(b"command terminated with non-zero exit code")
    await s.close()
    s = await CommandSession.open(exec_url(server, ["echo"]), protocol="v3.channel.k8s.io")
    _, _, raw = await s.result()
    assert raw == b""
    await s.close()


async def test_exec_backend_error_is_internal_error(server: StreamingServer) -> None:
    s = await CommandSession.open(exec_url(server, ["fail"]))
    _, _, raw = await s.result()
    status = json.loads(raw)
    assert status["reason"] == "InternalError" and status["code"] == 500
    assert "fake failure" in status["message"]
    await s.close()


async def test_exec_stdin_echo_and_eof(server: StreamingServer) -> None:
    s = await CommandSession.open(exec_url(server, ["cat"], stdin=True), stdin=True)
    await s.write_stdin(b"line one\n")
    await s.client.read_until(s.ids["stdout"], b"line one\n")
    payload = bytes(range(256)) * 1024  # crosses frame and window boundaries
    await s.write_stdin(payload)
    await s.client.read_until(s.ids["stdout"], payload[-300:])
    await s.write_stdin(b"", fin=True)
    out, _, status = await s.result()
    assert out == b"line one\n" + payload
    assert json.loads(status)["status"] == "Success"
    assert s.client.window_updates > 0
    await s.close()


async def test_exec_tty_resize(server: StreamingServer, backend: FakeBackend) -> None:
    url = server.url_for("exec", ExecRequest("c1", ["stty", "size"], tty=True, stdin=True,
                                             stderr=False))
    s = await CommandSession.open(url, stdin=True, tty=True, stderr=False)
    assert "stderr" not in s.ids and "resize" in s.ids
    await s.resize(120, 40)
    out, _, _ = await s.result()
    assert out == b"40 120\n"
    assert backend.calls[-1].tty is True
    await s.close()


async def test_attach_echo(server: StreamingServer, backend: FakeBackend) -> None:
    url = server.url_for("attach", AttachRequest("c2", stdin=True, stderr=False))
    s = await CommandSession.open(url, stdin=True, stderr=False)
    await s.write_stdin(b"hi there\n", fin=True)
    out, _, status = await s.result()
    assert out == b"hi there\n"
    assert json.loads(status)["status"] == "Success"
    assert backend.calls[-1].kind == "attach" and backend.calls[-1].target == "c2"
    await s.close()


async def test_server_sends_goaway_and_answers_pings(server: StreamingServer) -> None:
    s = await CommandSession.open(exec_url(server, ["sleep", "0.2"]))
    await s.client.send_ping(1)
    await s.result()
    await asyncio.wait_for(s.client.goaway.wait(), 5)
    assert 1 in s.client.pings
    await s.close()


async def test_client_disconnect_cancels_backend(server: StreamingServer,
                                                 backend: FakeBackend) -> None:
    s = await CommandSession.open(exec_url(server, ["sleep", "60"]))
    for _ in range(100):
        if backend.calls:
            break
        await asyncio.sleep(0.01)
    await s.close()
    for _ in range(500):
        if backend.calls[-1].killed:
            break
        await asyncio.sleep(0.01)
    assert backend.calls[-1].killed


async def test_stop_cancels_sessions(backend: FakeBackend) -> None:
    srv = StreamingServer(backend)
    await srv.start()
    s = await CommandSession.open(srv.url_for("exec", ExecRequest("c", ["sleep", "60"])))
    for _ in range(100):
        if backend.calls:
            break
        await asyncio.sleep(0.01)
    await srv.stop()
    assert backend.calls[-1].killed
    await s.close()


async def test_unexpected_stream_is_refused(server: StreamingServer) -> None:
    client = await SpdyClient.connect(exec_url(server, ["echo", "x"], stderr=False))
    sid = await client.open_stream({"streamtype": "stderr"})
    assert client.reset.get(sid) == 3
    await client.close()


# --- tokens and HTTP errors ---


async def test_unknown_token_is_404(server: StreamingServer) -> None:
    base = server.base_url
    for path in ("/exec/nope", "/attach/x", "/portforward/y", "/other/z", "/exec"):
        status, *_ = await http_request(base + path, {"Connection": "Upgrade",
                                                      "Upgrade": "SPDY/3.1"})
        assert status == 404, path


async def test_reused_token_is_404(server: StreamingServer) -> None:
    url = exec_url(server, ["echo"])
    s = await CommandSession.open(url)
    await s.result()
    await s.close()
    with pytest.raises(ConnectionError, match="404"):
        await SpdyClient.connect(url)


async def test_token_for_other_kind_is_404(server: StreamingServer) -> None:
    url = exec_url(server, ["echo"]).replace("/exec/", "/attach/")
    with pytest.raises(ConnectionError, match="404"):
        await SpdyClient.connect(url)


async def test_expired_token_is_404(backend: FakeBackend) -> None:
    from pycri.cri.streaming import StreamingConfig

    srv = StreamingServer(backend, StreamingConfig(token_ttl=0.0))
    async with srv:
        url = exec_url(srv, ["echo"])
        with pytest.raises(ConnectionError, match="404"):
            await SpdyClient.connect(url)


async def test_protocol_negotiation_failure_is_403(server: StreamingServer) -> None:
    status, headers, body, *_ = await http_request(exec_url(server, ["echo"]), [
        ("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"),
        ("X-Stream-Protocol-Version", "v9.channel.k8s.io")])
    assert status == 403
    assert "v4.channel.k8s.io" in headers["x-accepted-stream-protocol-versions"]
    assert b"unable to negotiate protocol" in body


async def test_protocol_preference_follows_client_order(server: StreamingServer) -> None:
    client = await SpdyClient.connect(exec_url(server, ["echo"]),
                                      ["v9.channel.k8s.io", "v3.channel.k8s.io",
                                       "v4.channel.k8s.io"])
    assert client.protocol == "v3.channel.k8s.io"
    await client.close()


async def test_no_upgrade_is_400(server: StreamingServer) -> None:
    status, *_ = await http_request(exec_url(server, ["echo"]), {})
    assert status == 400


async def test_slowloris_does_not_block_others(server: StreamingServer) -> None:
    host, port = server.address
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /exec/")  # and never finishes the head
    await writer.drain()
    s = await CommandSession.open(exec_url(server, ["echo", "ok"]))
    out, _, _ = await s.result()
    assert out == b"ok\n"
    await s.close()
    # The trickler is answered 408 and dropped once the head deadline passes.
    rest = await asyncio.wait_for(reader.read(), 10)
    assert rest.startswith(b"HTTP/1.1 408")
    writer.close()


async def test_oversized_head_is_rejected(server: StreamingServer) -> None:
    status, *_ = await http_request(server.base_url + "/exec/x", {"X-Big": "a" * 20000})
    assert status == 431


def test_url_for_validates(server: StreamingServer) -> None:
    with pytest.raises(InvalidArgument):
        server.url_for("exec", ExecRequest("c", []))
    with pytest.raises(InvalidArgument):
        server.url_for("exec", ExecRequest("c", ["sh"], tty=True, stderr=True))
    with pytest.raises(InvalidArgument):
        server.url_for("attach", AttachRequest("c", stdout=False, stderr=False))
    with pytest.raises(ValueError):
        server.url_for("attach", ExecRequest("c", ["sh"]))
