from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from pycri.api.cri import pb, pb_grpc

PYTHON = sys.executable


@dataclass
class DaemonProcess:
    process: subprocess.Popen[bytes]
    socket: Path
    root: Path
    state: Path
    log: Path

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(f"unix:{self.socket}")


def start_daemon(tmp: Path, *extra: str, wait: bool = True) -> DaemonProcess:
    socket, root, state, log = tmp / "pycri.sock", tmp / "root", tmp / "run", tmp / "daemon.log"
    args = [PYTHON, "-m", "pycri.cri.main", "--config", str(tmp / "config.toml"),
            "--listen", str(socket), "--root", str(root), "--state", str(state),
            "--cni-conf-dir", str(tmp / "net.d"), *extra]
    with log.open("ab") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    daemon = DaemonProcess(process, socket, root, state, log)
    if wait:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"daemon exited: {log.read_text()}")
            if socket.exists():
                with daemon.channel() as channel:
                    try:
                        pb_grpc.RuntimeServiceStub(channel).Version(pb.VersionRequest(), timeout=1)
                        return daemon
                    except grpc.RpcError:
                        pass
            time.sleep(0.05)
        raise AssertionError(f"daemon did not answer: {log.read_text()}")
    return daemon


def stop_daemon(daemon: DaemonProcess) -> None:
    if daemon.process.poll() is None:
        daemon.process.terminate()
        try:
            daemon.process.wait(15)
        except subprocess.TimeoutExpired:
            daemon.process.kill()
            daemon.process.wait()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    running = start_daemon(tmp_path)
    try:
        yield running
    finally:
        stop_daemon(running)


@pytest.fixture
def runtime_stub(daemon: DaemonProcess) -> Iterator[pb_grpc.RuntimeServiceStub]:
    with daemon.channel() as channel:
        yield pb_grpc.RuntimeServiceStub(channel)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.geteuid() != 0:
        for item in items:
            if item.get_closest_marker("root"):
                item.add_marker(pytest.mark.skip(reason="needs root"))


from tests.fixtures.plugin import pushed_images, registry  # noqa: E402, F401


@pytest.fixture(scope="module")
def cri(
    tmp_path_factory: pytest.TempPathFactory, pushed_images: dict[str, str]  # noqa: F811
) -> Iterator[Any]:
    from tests.e2e.cri_env import make_env

    if os.geteuid() != 0:
        pytest.skip("needs root")
    # Shim sockets live under the state dir: keep it short (unix paths stop at 107 bytes).
    short = Path(tempfile.mkdtemp(prefix="pe", dir="/tmp"))
    try:
        yield from make_env(short, pushed_images["busybox:latest"])
    finally:
        shutil.rmtree(short, ignore_errors=True)
