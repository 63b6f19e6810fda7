"""The Prometheus endpoint of a daemon started with metrics.address set."""

from __future__ import annotations

import shutil
import socket
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.cri_env import CriEnv, make_env

pytestmark = pytest.mark.root
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def metered(pushed_images: dict[str, str]) -> Iterator[tuple[CriEnv, str]]:
    # Shim sockets live under the state dir: keep it short (unix paths stop at 107 bytes).
    tmp = Path(tempfile.mkdtemp(prefix="pm", dir="/tmp"))
    port = _free_port()
    (tmp / "config.toml").write_text(f'[metrics]\naddress = "127.0.0.1:{port}"\n')
    try:
        for env in make_env(tmp, pushed_images["busybox:latest"]):
            yield env, f"http://127.0.0.1:{port}/metrics"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_counters_move_with_the_work_done(metered: tuple[CriEnv, str]) -> None:
    cri, url = metered
    before = scrape(url)
    pod_id, _ = cri.run(cri.pod_config("metered"), "app", ["sleep", "300"])
    try:
        during = scrape(url)
    finally:
        cri.client.stop_pod_sandbox(pod_id)
        cri.client.remove_pod_sandbox(pod_id)
    after = scrape(url)
    runs = ("pycri_grpc_request_duration_seconds_count", {"method": "RunPodSandbox",
                                                         "code": "OK"})
    assert value(during, runs[0], **runs[1]) == value(before, runs[0], **runs[1]) + 1
    cni = "pycri_cni_operation_duration_seconds_count"
    assert value(during, cni, operation="setup_pod") > value(before, cni, operation="setup_pod")
    assert value(after, cni, operation="teardown_pod") > value(before, cni,
                                                               operation="teardown_pod")
    assert value(during, "pycri_pod_sandboxes", state="ready") >= 1
    assert value(during, "pycri_containers", state="running") >= 1
    assert value(during, "pycri_shims") >= 1
    assert value(after, "pycri_containers", state="running") == value(
        before, "pycri_containers", state="running")


def test_image_pulls_and_errors_are_counted(metered: tuple[CriEnv, str]) -> None:
    import grpc

    cri, url = metered
    before = scrape(url)
    cri.client.pull_image(cri.busybox)
    with pytest.raises(grpc.RpcError):
        cri.client.container_status("no-such-container")
    with pytest.raises(grpc.RpcError):
        cri.client.start_container("")  # INVALID_ARGUMENT
    after = scrape(url)
    pulls = "pycri_image_pull_duration_seconds_count"
    assert value(after, pulls, result="ok") == value(before, pulls, result="ok") + 1
    assert value(after, "pycri_image_pull_bytes_total") > value(before,
                                                                "pycri_image_pull_bytes_total")
    # NOT_FOUND is an answer, not an error; other failures count.
    assert value(after, "pycri_grpc_request_errors_total", method="ContainerStatus",
                 code="NOT_FOUND") == 0
    latency = "pycri_grpc_request_duration_seconds_count"
    assert value(after, latency, method="ContainerStatus", code="NOT_FOUND") == 1
    errors = "pycri_grpc_request_errors_total"
    assert value(after, errors, method="StartContainer", code="INVALID_ARGUMENT") == value(
        before, errors, method="StartContainer", code="INVALID_ARGUMENT") + 1


def test_endpoint_off_by_default() -> None:
    from pycri.cri.config import Config

    assert Config().metrics.address == ""
