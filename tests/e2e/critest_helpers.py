"""Shared steps of the critest-equivalent e2e suites: pods that clean up after themselves the
way critest's AfterEach does (stop and remove must both succeed), and critest's default
container commands."""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pycri.api.cri import pb
from tests.e2e.cri_env import CriEnv

# critest's Linux defaults: a long-running default command, and the echo/sleep probes.
PAUSE = ["sh", "-c", "top"]
ECHO_HELLO = ["echo", "-n", "hello"]
DEFAULT_LOG = "hello World"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@contextmanager
def sandbox(cri: CriEnv, prefix: str, **fields: Any) -> Iterator[tuple[str, Any]]:
    """A running pod; afterwards it is stopped and removed, and both must succeed."""
    name = unique(prefix)
    config = cri.pod_config(name, uid=fields.pop("uid", unique("uid-")), **fields)
    pod_id = cri.client.run_pod_sandbox(config)
    try:
        yield pod_id, config
    finally:
        cri.client.stop_pod_sandbox(pod_id)
        cri.client.remove_pod_sandbox(pod_id)


def create(cri: CriEnv, pod: tuple[str, Any], prefix: str,
           command: list[str] | None = None, **fields: Any) -> str:
    name = unique(prefix)
    config = cri.container_config(name, PAUSE if command is None else command, **fields)
    return cri.client.create_container(pod[0], config, pod[1])


def start(cri: CriEnv, pod: tuple[str, Any], prefix: str,
          command: list[str] | None = None, **fields: Any) -> str:
    container_id = create(cri, pod, prefix, command, **fields)
    cri.client.start_container(container_id)
    return container_id


def state(cri: CriEnv, container_id: str) -> int:
    return int(cri.client.container_status(container_id).status.state)


def eventually(check: Callable[[], Any], timeout: float = 60, every: float = 0.1) -> Any:
    """Poll until `check` returns something truthy (critest's Eventually)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s: last {result!r}")
        time.sleep(every)


def running(cri: CriEnv, container_id: str) -> None:
    eventually(lambda: state(cri, container_id) == pb.ContainerState.CONTAINER_RUNNING)


def exec_ok(cri: CriEnv, container_id: str, cmd: list[str]) -> str:
    """ExecSync that must succeed with an empty stderr; returns stdout."""
    reply = cri.client.exec_sync(container_id, cmd, timeout=30)
    assert reply.exit_code == 0, (reply.exit_code, reply.stderr)
    assert reply.stderr == b""
    return reply.stdout.decode()


def http_get(url: str, timeout: float = 60) -> bytes:
    """GET `url` until it answers 200 (critest polls for up to a minute)."""
    def attempt() -> bytes | None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.status == 200
                return bytes(response.read())
        except OSError:
            return None
    return bytes(eventually(attempt, timeout=timeout, every=0.5))
