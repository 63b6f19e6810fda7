"""netns_connect against a real network namespace (root)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator

import pytest

from pycri.cri.streaming import netns_connect

pytestmark = pytest.mark.root

LISTENER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(4)
print(s.getsockname()[1], flush=True)
for _ in range(2):
    c, _ = s.accept()
    data = c.recv(1024)
    c.sendall(b"netns:" + data)
    c.close()
"""


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    name = f"pycri-stream-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


@pytest.fixture
def listener(netns: str) -> Iterator[int]:
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, "/work/main/.venv/bin/python", "-c", LISTENER],
        stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()


def test_connect_inside_netns(netns: str, listener: int) -> None:
    before = os.readlink("/proc/thread-self/ns/net")
    sock = netns_connect(f"/run/netns/{netns}", listener)
    try:
        sock.sendall(b"hello")
        assert sock.recv(1024) == b"netns:hello"
    finally:
        sock.close()
    # The caller's thread never left its own namespace.
    assert os.readlink("/proc/thread-self/ns/net") == before


async def test_connect_from_event_loop(netns: str, listener: int) -> None:
    threads = threading.active_count()
    sock = await asyncio.to_thread(netns_connect, f"/run/netns/{netns}", listener)
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(b"async")
    await writer.drain()
    assert await reader.read() == b"netns:async"
    writer.close()
    await writer.wait_closed()
    assert threading.active_count() <= threads + 1  # to_thread's pool, not ours


def test_refused_port_and_bad_path(netns: str) -> None:
    with pytest.raises(ConnectionRefusedError):
        netns_connect(f"/run/netns/{netns}", 1)
    with pytest.raises(FileNotFoundError):
        netns_connect("/run/netns/does-not-exist", 80)
