"""A pycri daemon with its own CNI network, and busybox images in a local registry."""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from pycri.api.cri import pb
from pycri.cri.client import CriClient
from tests.e2e.conftest import DaemonProcess, start_daemon, stop_daemon


def write_network(conf_dir: Path, tag: str, subnet: str) -> dict[str, Any]:
    network = {
        "cniVersion": "1.0.0",
        "name": f"pycri-e2e-{tag}",
        "plugins": [
            {"type": "bridge", "bridge": f"pe2e{tag}", "isGateway": True, "ipMasq": True,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                      "routes": [{"dst": "0.0.0.0/0"}],
                      "dataDir": str(conf_dir.parent / "ipam")}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    conf_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "10-e2e.conflist").write_text(json.dumps(network))
    return network


@dataclass
class CriEnv:
    daemon: DaemonProcess
    client: CriClient
    busybox: str
    bridge: str
    tmp: Path
    log_dir: Path
    network: str = ""

    def restart(self, kill: bool = True) -> None:
        if kill:
            self.daemon.process.kill()
            self.daemon.process.wait()
        else:
            stop_daemon(self.daemon)
        self.client.close()
        self.daemon = start_daemon(self.tmp)
        self.client = CriClient(f"unix://{self.daemon.socket}", timeout=60)

    def pod_config(self, name: str, **kwargs: Any) -> Any:
        uid = kwargs.pop("uid", f"uid-{name}")
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, namespace="e2e", uid=uid),
            log_directory=str(self.log_dir / name), **kwargs)

    def container_config(self, name: str, command: list[str], **kwargs: Any) -> Any:
        return pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name),
                                  image=pb.ImageSpec(image=kwargs.pop("image", self.busybox)),
                                  command=command, log_path=f"{name}.log", **kwargs)

    def run(self, pod: Any, name: str, command: list[str], **kwargs: Any) -> tuple[str, str]:
        sandbox_id = self.client.run_pod_sandbox(pod)
        container_id = self.client.create_container(
            sandbox_id, self.container_config(name, command, **kwargs), pod)
        self.client.start_container(container_id)
        return sandbox_id, container_id

    def wait_exit(self, container_id: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.client.container_status(container_id).status
            if status.state == pb.ContainerState.CONTAINER_EXITED:
                return status
            time.sleep(0.05)
        raise AssertionError(f"container {container_id} did not exit")

    def cleanup_pods(self) -> None:
        for pod in self.client.list_pod_sandboxes():
            try:
                self.client.stop_pod_sandbox(pod.id)
                self.client.remove_pod_sandbox(pod.id)
            except grpc.RpcError:
                pass


def make_env(tmp: Path, busybox_ref: str) -> Iterator[CriEnv]:
    tag = f"{random.randrange(1 << 16):04x}"
    subnet = f"10.{random.randrange(150, 190)}.{random.randrange(256)}.0/24"
    network = write_network(tmp / "net.d", tag, subnet)
    daemon = start_daemon(tmp)
    env = CriEnv(daemon, CriClient(f"unix://{daemon.socket}", timeout=60), busybox_ref,
                 f"pe2e{tag}", tmp, tmp / "logs", network["name"])
    try:
        env.client.pull_image(busybox_ref)
        yield env
    finally:
        try:
            env.cleanup_pods()
        finally:
            env.client.close()
            stop_daemon(env.daemon)
            subprocess.run(["ip", "link", "del", env.bridge], capture_output=True)
            _drop_masquerade_chains(subnet)
            _drop_empty_pod_cgroup_root()


def _drop_masquerade_chains(subnet: str) -> None:
    rules = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    for line in rules.splitlines():
        if line.startswith("-A POSTROUTING") and subnet.split("/")[0][:-1] in line:
            subprocess.run(["iptables", "-t", "nat", "-D", *line.split()[1:]], capture_output=True)


def _drop_empty_pod_cgroup_root() -> None:
    """The daemon's /pycri parent cgroup, when no other pycri still uses it."""
    for parent in Path("/sys/fs/cgroup").glob("*/pycri"):
        with contextlib.suppress(OSError):
            parent.rmdir()
    with contextlib.suppress(OSError):
        Path("/sys/fs/cgroup/pycri").rmdir()
