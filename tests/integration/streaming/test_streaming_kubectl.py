"""Interop with a real Go client: kubectl (client-go's SPDY and WebSocket executors).

A tiny fake API server answers kubectl's pod lookup and forwards its exec/port-forward
upgrade to our streaming server under a fresh token, the way kubelet proxies to a CRI
runtime's URL. So the bytes on the wire are client-go's own framing, zlib dictionary and
stream handling against ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from pycri.cri.streaming import ExecRequest, PortForwardRequest, StreamingServer
from pycri.cri.streaming.fake import FakeBackend

KUBECTL = shutil.which("kubectl")
pytestmark = [pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed"),
              pytest.mark.slow]

POD = {
    "kind": "Pod", "apiVersion": "v1",
    "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    "status": {"phase": "Running"},
}


DISCOVERY = {
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                             "serverAddress": "127.0.0.1"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
         "verbs": ["get", "list"], "shortNames": ["po"]},
        {"name": "pods/exec", "singularName": "", "namespaced": True,
         "kind": "PodExecOptions", "verbs": ["create", "get"]},
        {"name": "pods/portforward", "singularName": "", "namespaced": True,
         "kind": "PodPortForwardOptions", "verbs": ["create", "get"]},
    ]},
    "/api/v1/namespaces/default/pods/p": POD,
}


class FakeApiServer:
    def __init__(self, streaming: StreamingServer) -> None:
        self.streaming = streaming
        self.tasks: set[asyncio.Task[None]] = set()
        self.seen: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task
        self.tasks.add(task)
        try:
            await self._handle(reader, writer)
        finally:
            self.tasks.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, rest = head.decode("latin-1").split(" ", 2)
        self.seen.append(f"{method} {target}")
        url = urlsplit(target)
        query = parse_qs(url.query)
        if url.path in DISCOVERY and method == "GET":
            body = json.dumps(DISCOVERY[url.path]).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            return
        if url.path.endswith("/exec"):
            flag = lambda k: query.get(k, ["false"])[0] == "true"  # noqa: E731
            req = ExecRequest("c", query["command"], tty=flag("tty"), stdin=flag("stdin"),
                              stdout=flag("stdout"), stderr=flag("stderr"))
            new_target = urlsplit(self.streaming.url_for("exec", req)).path
        elif url.path.endswith("/portforward"):
            new_target = urlsplit(self.streaming.url_for("portforward",
                                                         PortForwardRequest("p"))).path
        else:
            writer.write(b"HTTP/1.1 404 Not Found\r\nConnection: close\r\n"
                         b"Content-Length: 0\r\n\r\n")
            await writer.drain()
            return
        host, port = self.streaming.address
        up_reader, up_writer = await asyncio.open_connection(host, port)
        up_writer.write(f"{method} {new_target} {rest}".encode("latin-1"))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError, RuntimeError):
                dst.write_eof()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            up_writer.close()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[StreamingServer, FakeBackend, dict[str, str]]]:
    backend = FakeBackend()
    streaming = StreamingServer(backend)
    await streaming.start()
    api = FakeApiServer(streaming)
    srv = await asyncio.start_server(api.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "t", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": "u"}}],
        "users": [{"name": "u", "user": {}}],
    }))
    environ = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
               "KUBECONFIG": str(kubeconfig)}
    try:
        yield streaming, backend, environ
    finally:
        srv.close()
        for task in list(api.tasks):
            task.cancel()
        await asyncio.gather(*api.tasks, return_exceptions=True)
        await srv.wait_closed()
        await streaming.stop()


async def kubectl(environ: dict[str, str], *args: str, stdin: bytes = b"",
                  websockets: bool = False) -> tuple[int, bytes, bytes]:
    env = dict(environ, KUBECTL_REMOTE_COMMAND_WEBSOCKETS=str(websockets).lower())
    proc = await asyncio.create_subprocess_exec(
        KUBECTL or "kubectl", *args, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    assert proc.returncode is not None
    return proc.returncode, out, err


@pytest.mark.parametrize("websockets", [False, True], ids=["spdy", "websocket"])
async def test_kubectl_exec_stdin_echo(env: tuple[StreamingServer, FakeBackend, dict[str, str]],
                                       websockets: bool) -> None:
    _, backend, environ = env
    payload = b"".join(b"line %d\n" % i for i in range(5000))
    rc, out, err = await kubectl(environ, "exec", "-i", "p", "-c", "c", "--", "cat",
                                 stdin=payload, websockets=websockets)
    assert (rc, err) == (0, b"")
    assert out == payload
    assert backend.calls[-1].cmd == ["cat"]


@pytest.mark.parametrize("websockets", [False, True], ids=["spdy", "websocket"])
async def test_kubectl_exec_exit_code(env: tuple[StreamingServer, FakeBackend, dict[str, str]],
                                      websockets: bool) -> None:
    _, _, environ = env
    rc, out, err = await kubectl(environ, "exec", "p", "-c", "c", "--", "exit", "42",
                                 websockets=websockets)
    assert rc == 42, err
    rc, out, err = await kubectl(environ, "exec", "p", "-c", "c", "--", "stderr", "to", "err",
                                 websockets=websockets)
    assert (rc, out, err) == (0, b"", b"to err\n")


@pytest.mark.parametrize("websockets", [False, True], ids=["spdy", "websocket-tunnel"])
async def test_kubectl_port_forward(
    env: tuple[StreamingServer, FakeBackend, dict[str, str]], websockets: bool,
) -> None:
    _, _, environ = env

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    target = await asyncio.start_server(echo, "127.0.0.1", 0)
    remote = target.sockets[0].getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        KUBECTL or "kubectl", "port-forward", "pod/p", f":{remote}",
        env=dict(environ, KUBECTL_PORT_FORWARD_WEBSOCKETS=str(websockets).lower()),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        match = re.search(rb"127\.0\.0\.1:(\d+)", line)
        assert match, line
        local = int(match.group(1))

        async def roundtrip(i: int) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", local)
            writer.write(b"conn %d " % i * 100)
            await writer.drain()
            got = await reader.readexactly(len(b"conn %d " % i * 100))
            writer.close()
            return got

        results = await asyncio.gather(*(roundtrip(i) for i in range(20)))
        assert results == [b"conn %d " % i * 100 for i in range(20)]
    finally:
        proc.terminate()
        await proc.wait()
        target.close()
        await target.wait_closed()
