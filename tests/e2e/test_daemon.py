from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import grpc
import pytest

from pycri.api.cri import pb, pb_grpc
from tests.e2e.conftest import DaemonProcess, start_daemon, stop_daemon


def test_version(runtime_stub: pb_grpc.RuntimeServiceStub) -> None:
    reply = runtime_stub.Version(pb.VersionRequest(version="v1"))
    assert reply.runtime_name == "pycri"
    assert reply.runtime_api_version == "v1"
    assert reply.runtime_version


def test_status_has_both_conditions_and_verbose_config(
    runtime_stub: pb_grpc.RuntimeServiceStub, daemon: DaemonProcess
) -> None:
    reply = runtime_stub.Status(pb.StatusRequest(verbose=True))
    conditions = {c.type: c for c in reply.status.conditions}
    assert conditions["RuntimeReady"].status is True
    assert "NetworkReady" in conditions
    network = conditions["NetworkReady"]
    assert network.status or (network.reason and network.message)
    config = json.loads(reply.info["config"])
    assert config["listen"] == str(daemon.socket)
    assert [h.name for h in reply.runtime_handlers] == [""]
    assert reply.features.supplemental_groups_policy


def test_runtime_config_reports_cgroup_driver(runtime_stub: pb_grpc.RuntimeServiceStub) -> None:
    reply = runtime_stub.RuntimeConfig(pb.RuntimeConfigRequest())
    assert reply.linux.cgroup_driver == pb.CgroupDriver.CGROUPFS


def test_update_runtime_config_records_pod_cidr(runtime_stub: pb_grpc.RuntimeServiceStub) -> None:
    request = pb.UpdateRuntimeConfigRequest(
        runtime_config=pb.RuntimeConfig(network_config=pb.NetworkConfig(pod_cidr="10.244.0.0/24"))
    )
    runtime_stub.UpdateRuntimeConfig(request)
    info = runtime_stub.Status(pb.StatusRequest(verbose=True)).info
    assert json.loads(info["podCIDR"]) == "10.244.0.0/24"


def test_unbuilt_rpc_is_unimplemented_with_its_name(daemon: DaemonProcess) -> None:
    with daemon.channel() as channel:
        stub = pb_grpc.RuntimeServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.CheckpointContainer(pb.CheckpointContainerRequest(container_id="x"))
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "CheckpointContainer" in caught.value.details()


def test_socket_is_owner_and_group_only(daemon: DaemonProcess) -> None:
    assert daemon.socket.stat().st_mode & 0o777 == 0o660


def test_second_daemon_on_same_socket_exits_clearly(daemon: DaemonProcess, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    result = subprocess.run(
        [*_args(daemon.socket, other)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "already serving" in result.stderr
    assert not (other / "root").exists()
    with daemon.channel() as channel:
        pb_grpc.RuntimeServiceStub(channel).Version(pb.VersionRequest(), timeout=5)


def test_stale_socket_is_replaced(tmp_path: Path) -> None:
    import socket as sock

    path = tmp_path / "pycri.sock"
    stale = sock.socket(sock.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    running = start_daemon(tmp_path)
    stop_daemon(running)


def test_sigterm_removes_socket(tmp_path: Path) -> None:
    running = start_daemon(tmp_path)
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(20) == 0
    assert not running.socket.exists()
    log = running.log.read_text()
    assert "stopped" in log


def test_bad_config_is_a_startup_error(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[streaming]\nbogus = 1\n")
    running = start_daemon(tmp_path, wait=False)
    assert running.process.wait(20) == 2
    assert "config.toml:2: unknown key `streaming.bogus`" in running.log.read_text()


def test_config_default_prints_toml() -> None:
    import sys
    import tomllib

    out = subprocess.run([sys.executable, "-m", "pycri.cri.main", "config", "default"],
                         capture_output=True, text=True, check=True).stdout
    assert tomllib.loads(out)["listen"] == "/run/pycri/pycri.sock"


def _args(socket: Path, tmp: Path) -> list[str]:
    import sys

    return [sys.executable, "-m", "pycri.cri.main", "--config", str(tmp / "none.toml"),
            "--listen", str(socket), "--root", str(tmp / "root"), "--state", str(tmp / "run")]
