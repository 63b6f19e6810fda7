"""critest's Streaming and Networking suites, re-done over our client and the SPDY/WebSocket
test clients: exec (tty and not), attach, port-forward (pod network and host network), DNS
config, hostname, port mapping with and without a host port."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest

from pycri.api.cri import pb
from tests.e2e.cri_env import CriEnv
from tests.e2e.critest_helpers import (
    ECHO_HELLO,
    exec_ok,
    http_get,
    running,
    sandbox,
    start,
)
from tests.unit.streaming.streaming_clients import CommandSession, SpdyClient, WsClient

pytestmark = pytest.mark.root

WEB_PORT = 80
# critest's fixed host ports; it requires them to be free, so do we.
HOST_PORT_FOR_MAPPING = 12000
HOST_NET_WEB_PORT = 12003


def _web_server(port: int) -> list[str]:
    # critest serves nginx; busybox httpd answers GET / with 200 the same way.
    return ["sh", "-c", f"mkdir -p /www && echo critest-web > /www/index.html && "
            f"exec httpd -f -p {port} -h /www"]




def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- exec ----------------------------------------------------------------------------------

def _exec(cri: CriEnv, container_id: str, **flags: bool) -> str:
    request = pb.ExecRequest(container_id=container_id, cmd=ECHO_HELLO, **flags)
    url = str(cri.client.runtime.Exec(request).url)
    assert url.startswith("http://") and "//" in url and url.split("/")[2], url
    return url


def test_exec_without_tty_or_stdin(cri: CriEnv) -> None:
    with sandbox(cri, "exec-") as pod:
        container_id = start(cri, pod, "container-for-exec-test")
        url = _exec(cri, container_id, stdout=True, stderr=True)

        async def run() -> tuple[bytes, bytes, bytes]:
            session = await CommandSession.open(url)
            try:
                return await session.result()
            finally:
                await session.close()

        out, err, status = asyncio.run(run())
        assert (out, err) == (b"hello", b"")
        assert json.loads(status)["status"] == "Success"


def test_exec_with_tty_and_stdin(cri: CriEnv) -> None:
    with sandbox(cri, "exec-tty-") as pod:
        container_id = start(cri, pod, "container-for-exec-test")
        url = _exec(cri, container_id, stdout=True, tty=True, stdin=True)

        async def run() -> tuple[bytes, bytes]:
            session = await CommandSession.open(url, stdin=True, tty=True, stderr=False)
            try:
                out, err, _ = await session.result()
                return out, err
            finally:
                await session.close()

        out, err = asyncio.run(run())
        assert b"hello" in out and err == b""


def test_exec_over_websocket(cri: CriEnv) -> None:
    # critest's --websocket-exec flag: the same exec over the v5 channel protocol.
    with sandbox(cri, "exec-ws-") as pod:
        container_id = start(cri, pod, "container-for-exec-test")
        url = _exec(cri, container_id, stdout=True, stderr=True)

        async def run() -> dict[int, bytes]:
            ws = await WsClient.connect(url, ["v5.channel.k8s.io"])
            try:
                await ws.wait_closed()
                return {k: bytes(v) for k, v in ws.channels.items()}
            finally:
                await ws.close()

        channels = asyncio.run(run())
        assert channels.get(1) == b"hello" and not channels.get(2)
        assert json.loads(channels[3])["status"] == "Success"


# -- attach --------------------------------------------------------------------------------

def test_attach_to_a_shell(cri: CriEnv) -> None:
    with sandbox(cri, "attach-") as pod:
        container_id = start(cri, pod, "container-for-attach-test", ["/bin/sh"],
                             stdin=True, stdin_once=True, tty=False)
        running(cri, container_id)
        url = str(cri.client.runtime.Attach(pb.AttachRequest(
            container_id=container_id, stdin=True, stdout=True, stderr=True, tty=False)).url)
        assert url.startswith("http://")

        async def run() -> tuple[bytes, bytes]:
            session = await CommandSession.open(url, stdin=True)
            client = session.client
            try:
                # A shell without a tty prints no prompt: nothing until we write.
                await asyncio.sleep(1)
                quiet = bytes(client.data[session.ids["stdout"]])
                await session.write_stdin(" ".join(ECHO_HELLO).encode() + b"\n")
                await client.read_until(session.ids["stdout"], b"hello")
                # critest then watches for a few seconds that nothing else arrives.
                await asyncio.sleep(2)
                return quiet, bytes(client.data[session.ids["stdout"]])
            finally:
                await session.close()

        quiet, out = asyncio.run(run())
        assert quiet == b""
        assert out == b"hello"


# -- port forward --------------------------------------------------------------------------

def _forward_get(url: str, port: int) -> bytes:
    """One HTTP GET through a portforward.k8s.io SPDY session, as kubectl port-forward does."""
    async def run() -> bytes:
        client = await SpdyClient.connect(url, ["portforward.k8s.io"])
        try:
            headers = {"streamtype": "error", "port": str(port), "requestid": "0"}
            err = await client.open_stream(headers)
            await client.send(err, b"", fin=True)
            data = await client.open_stream({**headers, "streamtype": "data"})
            await client.send(data, b"GET / HTTP/1.0\r\n\r\n", fin=True)
            return await client.read_until_fin(data, timeout=20)
        finally:
            await client.close()
    return asyncio.run(run())


def _port_forward_url(cri: CriEnv, pod_id: str) -> str:
    # critest asks with no port list: the ports come with each stream.
    url = str(cri.client.runtime.PortForward(pb.PortForwardRequest(pod_sandbox_id=pod_id)).url)
    assert url.startswith("http://")
    return url


def test_port_forward(cri: CriEnv) -> None:
    ports = [pb.PortMapping(container_port=WEB_PORT)]
    with sandbox(cri, "portforward-", port_mappings=ports) as pod:
        start(cri, pod, "container-for-portforward-test", _web_server(WEB_PORT))
        ip = cri.client.pod_sandbox_status(pod[0]).status.network.ip
        assert b"critest-web" in http_get(f"http://{ip}:{WEB_PORT}/")
        body = _forward_get(_port_forward_url(cri, pod[0]), WEB_PORT)
        assert b"200 OK" in body and b"critest-web" in body


def test_port_forward_in_host_network(cri: CriEnv) -> None:
    if not _port_free(HOST_NET_WEB_PORT):
        pytest.skip(f"host port {HOST_NET_WEB_PORT} is in use")
    linux = pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(
        namespace_options=pb.NamespaceOption(network=pb.NamespaceMode.NODE)))
    ports = [pb.PortMapping(container_port=HOST_NET_WEB_PORT)]
    with sandbox(cri, "portforward-hostnet-", port_mappings=ports, linux=linux) as pod:
        start(cri, pod, "container-for-host-net-portforward-test",
              _web_server(HOST_NET_WEB_PORT))
        assert b"critest-web" in http_get(f"http://127.0.0.1:{HOST_NET_WEB_PORT}/")
        body = _forward_get(_port_forward_url(cri, pod[0]), HOST_NET_WEB_PORT)
        assert b"200 OK" in body and b"critest-web" in body


# -- networking ----------------------------------------------------------------------------

def test_dns_config(cri: CriEnv) -> None:
    dns = pb.DNSConfig(servers=["10.10.10.10"], searches=["google.com"], options=["ndots:8"])
    with sandbox(cri, "create-PodSandbox-with-DNS-config", dns_config=dns) as pod:
        container_id = start(cri, pod, "container-for-DNS-config-test-")
        resolv = exec_ok(cri, container_id, ["cat", "/etc/resolv.conf"])
        for line in ("nameserver 10.10.10.10", "search google.com", "options ndots:8"):
            assert line in resolv


def test_hostname(cri: CriEnv) -> None:
    with sandbox(cri, "create-PodSandbox-with-hostname", hostname="test-hostname") as pod:
        container_id = start(cri, pod, "container-for-hostname-test-")
        assert exec_ok(cri, container_id, ["hostname"]).strip().lower() == "test-hostname"


def test_port_mapping_with_only_container_port(cri: CriEnv) -> None:
    ports = [pb.PortMapping(container_port=WEB_PORT)]
    with sandbox(cri, "create-PodSandbox-with-port-mapping", port_mappings=ports) as pod:
        start(cri, pod, "container-for-container-port", _web_server(WEB_PORT))
        network: Any = cri.client.pod_sandbox_status(pod[0]).status.network
        assert network.ip
        assert b"critest-web" in http_get(f"http://{network.ip}:{WEB_PORT}/")


def test_port_mapping_with_host_port(cri: CriEnv) -> None:
    if not _port_free(HOST_PORT_FOR_MAPPING):
        pytest.skip(f"host port {HOST_PORT_FOR_MAPPING} is in use")
    ports = [pb.PortMapping(container_port=WEB_PORT, host_port=HOST_PORT_FOR_MAPPING)]
    with sandbox(cri, "create-PodSandbox-with-port-mapping", port_mappings=ports) as pod:
        start(cri, pod, "container-for-host-port", _web_server(WEB_PORT))
        assert b"critest-web" in http_get(f"http://127.0.0.1:{HOST_PORT_FOR_MAPPING}/")
