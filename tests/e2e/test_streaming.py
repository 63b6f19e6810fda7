"""Exec, Attach and PortForward through the streaming server into real containers."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest

from pycri.api.cri import pb
from tests.e2e.cri_env import CriEnv
from tests.unit.streaming.streaming_clients import CommandSession, SpdyClient, WsClient

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def server_pod(cri: CriEnv):  # type: ignore[no-untyped-def]
    pod = cri.pod_config("streaming")
    sandbox_id, container_id = cri.run(pod, "main", [
        "sh", "-c", "mkdir -p /www && echo served-from-pod > /www/index.html && "
        "exec httpd -f -p 8080 -h /www"])
    try:
        yield sandbox_id, container_id, pod
    finally:
        cri.client.stop_pod_sandbox(sandbox_id)
        cri.client.remove_pod_sandbox(sandbox_id)


def _exec_url(cri: CriEnv, container_id: str, cmd: list[str], **flags: bool) -> str:
    request = pb.ExecRequest(container_id=container_id, cmd=cmd, stdout=True,
                             stderr=not flags.get("tty", False), **flags)
    url = cri.client.runtime.Exec(request).url
    assert url.startswith("http://127.0.0.1:")
    return str(url)


def test_exec_over_spdy_exit_codes(cri: CriEnv, server_pod: tuple[str, str, object]) -> None:
    container_id = server_pod[1]

    async def run(cmd: list[str]) -> tuple[bytes, bytes, bytes]:
        session = await CommandSession.open(_exec_url(cri, container_id, cmd))
        try:
            return await session.result()
        finally:
            await session.close()

    out, err, status = asyncio.run(run(["sh", "-c", "echo hi; echo oops >&2"]))
    assert (out, err) == (b"hi\n", b"oops\n")
    assert json.loads(status)["status"] == "Success"
    _, _, status = asyncio.run(run(["sh", "-c", "exit 3"]))
    failure = json.loads(status)
    assert failure["reason"] == "NonZeroExitCode"
    assert failure["details"]["causes"][0] == {"reason": "ExitCode", "message": "3"}


def test_exec_stdin_echo_and_tty_resize(cri: CriEnv, server_pod: tuple[str, str, object]) -> None:
    container_id = server_pod[1]

    async def echo() -> bytes:
        url = _exec_url(cri, container_id, ["cat"], stdin=True)
        session = await CommandSession.open(url, stdin=True)
        await session.write_stdin(b"through stdin\n", fin=True)
        out, _, _ = await session.result()
        await session.close()
        return out

    async def stty() -> bytes:
        url = _exec_url(cri, container_id, ["sh", "-c", "sleep 0.5; stty size"], stdin=True,
                        tty=True)
        session = await CommandSession.open(url, stdin=True, tty=True, stderr=False)
        await session.resize(100, 30)
        out, _, _ = await session.result()
        await session.close()
        return out

    assert asyncio.run(echo()) == b"through stdin\n"
    assert asyncio.run(stty()).strip() == b"30 100"


def test_exec_over_websocket_v5(cri: CriEnv, server_pod: tuple[str, str, object]) -> None:
    url = _exec_url(cri, server_pod[1], ["cat"], stdin=True)

    async def run() -> tuple[bytes, bytes]:
        ws = await WsClient.connect(url, ["v5.channel.k8s.io"])
        await ws.send(0, b"over websocket\n")
        out = await ws.read_until(1, b"over websocket\n")
        await ws.close_channel(0)
        await ws.wait_closed()
        status = ws.channels[3]
        await ws.close()
        return out, status

    out, status = asyncio.run(run())
    assert out.endswith(b"over websocket\n")
    assert json.loads(status)["status"] == "Success"


def test_attach_echoes_stdin(cri: CriEnv) -> None:
    pod = cri.pod_config("attach")
    sandbox_id = cri.client.run_pod_sandbox(pod)
    try:
        config = cri.container_config("echo", ["cat"], stdin=True)
        container_id = cri.client.create_container(sandbox_id, config, pod)
        cri.client.start_container(container_id)
        url = cri.client.runtime.Attach(pb.AttachRequest(
            container_id=container_id, stdin=True, stdout=True, stderr=True)).url

        async def run() -> bytes:
            session = await CommandSession.open(url, stdin=True)
            await session.write_stdin(b"attached line\n")
            out = await session.client.read_until(session.ids["stdout"], b"attached line\n")
            await session.close()
            return out

        assert b"attached line\n" in asyncio.run(run())
    finally:
        cri.client.stop_pod_sandbox(sandbox_id)
        cri.client.remove_pod_sandbox(sandbox_id)


def test_port_forward_20_concurrent(cri: CriEnv, server_pod: tuple[str, str, object]) -> None:
    sandbox_id = server_pod[0]
    url = cri.client.runtime.PortForward(pb.PortForwardRequest(
        pod_sandbox_id=sandbox_id, port=[8080])).url

    async def fetch(client: SpdyClient, request_id: int) -> bytes:
        headers = {"streamtype": "error", "port": "8080", "requestid": str(request_id)}
        err = await client.open_stream(headers)
        await client.send(err, b"", fin=True)
        data = await client.open_stream({**headers, "streamtype": "data"})
        await client.send(data, b"GET / HTTP/1.0\r\n\r\n", fin=True)
        return await client.read_until_fin(data, timeout=20)

    async def run() -> list[bytes]:
        client = await SpdyClient.connect(url, ["portforward.k8s.io"])
        try:
            return await asyncio.gather(*(fetch(client, n) for n in range(20)))
        finally:
            await client.close()

    deadline = time.monotonic() + 10
    while True:
        try:
            bodies = asyncio.run(run())
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
            url = cri.client.runtime.PortForward(pb.PortForwardRequest(
                pod_sandbox_id=sandbox_id, port=[8080])).url
    assert all(b"served-from-pod" in body for body in bodies)


def test_bad_stream_requests(cri: CriEnv, server_pod: tuple[str, str, object]) -> None:
    container_id = server_pod[1]
    with pytest.raises(grpc.RpcError) as caught:
        cri.client.runtime.Exec(pb.ExecRequest(container_id=container_id, cmd=["ls"], tty=True,
                                               stdout=True, stderr=True))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as caught:
        cri.client.runtime.Exec(pb.ExecRequest(container_id="missing", cmd=["ls"], stdout=True))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_vanished_client_leaves_no_process(cri: CriEnv, server_pod: tuple[str, str, object]) -> None:
    container_id = server_pod[1]
    url = _exec_url(cri, container_id, ["sleep", "987"])

    async def open_and_vanish() -> None:
        session = await CommandSession.open(url)
        await asyncio.sleep(1.0)
        session.client.writer.transport.abort()  # type: ignore[attr-defined]

    asyncio.run(open_and_vanish())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ps = cri.client.exec_sync(container_id, ["ps"], timeout=5).stdout
        if b"sleep 987" not in ps:
            break
        time.sleep(0.2)
    assert b"sleep 987" not in ps
