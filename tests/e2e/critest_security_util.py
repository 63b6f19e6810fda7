"""Helpers for the e2e ports of critest's security-context checks.

Each check runs in a pod of its own (as critest does), built by `PodFactory`; every pod the
factory made is stopped and removed when the test ends.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from pycri.api.cri import pb
from tests.e2e.cri_env import CriEnv
from tests.fixtures.images import LayerBuilder, build_busybox_image

NODE = pb.NamespaceMode.NODE
POD = pb.NamespaceMode.POD
CONTAINER = pb.NamespaceMode.CONTAINER
PROFILE = pb.SecurityProfile.ProfileType

_LOG_LINE = re.compile(r"^\S+ (stdout|stderr) ([PF]) (.*)$")


class PodFactory:
    def __init__(self, cri: CriEnv, prefix: str) -> None:
        self.cri = cri
        self.prefix = prefix
        self.pods: list[str] = []

    def run(self, *, namespaces: Any = None, privileged: bool = False, seccomp: Any = None,
            sysctls: dict[str, str] | None = None) -> tuple[str, Any]:
        name = f"{self.prefix}-{len(self.pods)}"
        context = pb.LinuxSandboxSecurityContext(privileged=privileged)
        if namespaces is not None:
            context.namespace_options.CopyFrom(namespaces)
        if seccomp is not None:
            context.seccomp.CopyFrom(seccomp)
        config = self.cri.pod_config(name, linux=pb.LinuxPodSandboxConfig(
            security_context=context, sysctls=sysctls or {}))
        sandbox_id = self.cri.client.run_pod_sandbox(config)
        self.pods.append(sandbox_id)
        return sandbox_id, config

    def create(self, pod: tuple[str, Any], name: str, command: list[str],
               context: Any = None, **fields: Any) -> str:
        sandbox_id, config = pod
        if context is not None:
            fields["linux"] = pb.LinuxContainerConfig(security_context=context)
        container = self.cri.container_config(name, command, **fields)
        return self.cri.client.create_container(sandbox_id, container, config)

    def start(self, pod: tuple[str, Any], name: str, command: list[str],
              context: Any = None, **fields: Any) -> str:
        container_id = self.create(pod, name, command, context, **fields)
        self.cri.client.start_container(container_id)
        state = self.cri.client.container_status(container_id).status.state
        assert state in (pb.ContainerState.CONTAINER_RUNNING, pb.ContainerState.CONTAINER_EXITED)
        return container_id

    def close(self) -> None:
        for sandbox_id in self.pods:
            try:
                self.cri.client.stop_pod_sandbox(sandbox_id)
                self.cri.client.remove_pod_sandbox(sandbox_id)
            except grpc.RpcError:
                pass


def pod_factory(cri: CriEnv, request: pytest.FixtureRequest) -> Iterator[PodFactory]:
    """The body of each test module's `pods` fixture."""
    prefix = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:40].strip("-")
    factory = PodFactory(cri, prefix)
    try:
        yield factory
    finally:
        factory.close()


def log_lines(cri: CriEnv, container_id: str, stream: str = "stdout") -> list[str]:
    """The container's log as full lines of one stream (partial lines joined)."""
    path = Path(cri.client.container_status(container_id).status.log_path)
    lines, pending = [], ""
    for raw in path.read_text().splitlines():
        match = _LOG_LINE.match(raw)
        if match is None or match.group(1) != stream:
            continue
        pending += match.group(3)
        if match.group(2) == "F":
            lines.append(pending)
            pending = ""
    return lines


def exec_ok(cri: CriEnv, container_id: str, command: list[str]) -> str:
    out = cri.client.exec_sync(container_id, command, timeout=20)
    assert out.exit_code == 0, (command, out.stdout, out.stderr)
    return out.stdout.decode()


def rpc_code(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


# Test images built here: what critest pulls from its registry, remade from our busybox.

_SETUID_PROBE = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("Effective uid: %d\n", (int)geteuid()); return 0; }
"""


def setuid_probe_binary() -> bytes:
    """A static program, to be installed setuid root, that prints its effective uid."""
    with tempfile.TemporaryDirectory() as tmp:
        source, binary = Path(tmp) / "probe.c", Path(tmp) / "probe"
        source.write_text(_SETUID_PROBE)
        try:
            subprocess.run(["gcc", "-static", "-O2", "-o", str(binary), str(source)],
                           check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            pytest.skip(f"cannot build the setuid probe (gcc -static): {exc}")
        return binary.read_bytes()


def security_images() -> dict[str, Any]:
    groups = LayerBuilder().file(
        "etc/group", b"root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"
        b"group-defined-in-image:x:50000:app\n")
    setuid = LayerBuilder().file("usr/bin/euid", setuid_probe_binary(), mode=0o4755)
    return {
        "predefined-group:latest": build_busybox_image(user="1000", extra_layers=[groups.build()]),
        "nonewprivs:latest": build_busybox_image(entrypoint=["/usr/bin/euid"], cmd=[],
                                                 extra_layers=[setuid.build()]),
    }
