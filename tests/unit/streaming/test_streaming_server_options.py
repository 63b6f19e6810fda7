from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest

from pycri.cri.streaming import ExecRequest, StreamingConfig, StreamingServer
from pycri.cri.streaming.fake import FakeBackend
from tests.unit.streaming.streaming_clients import CommandSession, SpdyClient


async def wait_killed(backend: FakeBackend) -> bool:
    for _ in range(500):
        if backend.calls and backend.calls[-1].killed:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_idle_session_is_closed(backend: FakeBackend) -> None:
    async with StreamingServer(backend, StreamingConfig(idle_timeout=0.3)) as srv:
        s = await CommandSession.open(srv.url_for("exec", ExecRequest("c", ["sleep", "60"])))
        await asyncio.wait_for(s.client.closed.wait(), 10)
        assert await wait_killed(backend)
        await s.close()


async def test_traffic_keeps_session_alive(backend: FakeBackend) -> None:
    async with StreamingServer(backend, StreamingConfig(idle_timeout=0.5)) as srv:
        url = srv.url_for("exec", ExecRequest("c", ["cat"], stdin=True))
        s = await CommandSession.open(url, stdin=True)
        for i in range(8):  # 1.2 s of activity, each gap well under the idle timeout
            await s.write_stdin(b"%d\n" % i)
            await asyncio.sleep(0.15)
        assert not s.client.closed.is_set()
        await s.write_stdin(b"", fin=True)
        out, _, _ = await s.result()
        assert out == b"".join(b"%d\n" % i for i in range(8))
        await s.close()


def test_wildcard_bind_advertises_loopback(backend: FakeBackend) -> None:
    async def run() -> str:
        async with StreamingServer(backend, StreamingConfig(host="0.0.0.0")) as srv:
            return srv.url_for("exec", ExecRequest("c", ["sh"]))

    assert asyncio.run(run()).startswith("http://127.0.0.1:")


async def test_advertise_host(backend: FakeBackend) -> None:
    cfg = StreamingConfig(advertise_host="10.0.0.5")
    async with StreamingServer(backend, cfg) as srv:
        url = srv.url_for("exec", ExecRequest("c", ["sh"]))
        assert url.startswith(f"http://10.0.0.5:{srv.address[1]}/exec/")


@pytest.fixture
def tls(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    return server_ctx, client_ctx


async def test_tls(backend: FakeBackend, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls
    async with StreamingServer(backend, StreamingConfig(ssl=server_ctx)) as srv:
        url = srv.url_for("exec", ExecRequest("c", ["echo", "secure"]))
        assert url.startswith("https://127.0.0.1:")
        client = await SpdyClient.connect(url, ssl=client_ctx)
        s = CommandSession(client, {
            "error": await client.open_stream({"streamtype": "error"}),
            "stdout": await client.open_stream({"streamtype": "stdout"}),
            "stderr": await client.open_stream({"streamtype": "stderr"}),
        })
        out, _, _ = await s.result()
        assert out == b"secure\n"
        await s.close()
