from __future__ import annotations

import urllib.request
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pycri.cri import rpc
from pycri.cri.metrics import DaemonMetrics, parse_address
from pycri.cri.records import ContainerState
from tests.unit.stats.conftest import container, sandbox


def _samples(metrics: DaemonMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client import generate_latest

    text = generate_latest(metrics.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


class FakeNetwork:
    ready = True

    async def setup_pod(self, pod_id: str) -> str:
        return "ok"

    async def teardown_pod(self, pod_id: str) -> None:
        raise RuntimeError("plugin failed")


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:9090") == ("127.0.0.1", 9090)
    assert parse_address(":0") == ("127.0.0.1", 0)
    assert parse_address("[::1]:80") == ("::1", 80)
    with pytest.raises(ValueError):
        parse_address("localhost")


async def test_cni_calls_are_timed_and_others_pass_through() -> None:
    metrics = DaemonMetrics()
    net = metrics.wrap_network(FakeNetwork())
    assert net.ready is True
    assert await net.setup_pod("p") == "ok"
    with pytest.raises(RuntimeError):
        await net.teardown_pod("p")
    got = _samples(metrics)
    assert got[("pycri_cni_operation_duration_seconds_count", (("operation", "setup_pod"),))] == 1
    assert got[("pycri_cni_operation_errors_total", (("operation", "teardown_pod"),))] == 1


async def test_attach_counts_rpcs_pulls_ooms_and_state(rt: Any) -> None:
    async def pull(ref: str) -> Any:
        return SimpleNamespace(size=1234)

    rt.images.pull = pull
    rt.pods = SimpleNamespace(tasks=SimpleNamespace(shims={"p1": object()}))
    rt.state.add(sandbox("p1"), container("c1", "p1"),
                 container("c2", "p1", state=ContainerState.EXITED))
    metrics = DaemonMetrics()
    metrics.attach(rt)
    try:
        assert (await rt.images.pull("busybox")).size == 1234
        for observe in rpc.observers:
            observe("RunPodSandbox", "OK", 0.2)
            observe("StopContainer", "INTERNAL", 0.01)
        oom = container("c3", "p1", state=ContainerState.EXITED, reason="OOMKilled")
        rt.events.container_changed(oom, "stopped")
        got = _samples(metrics)
    finally:
        metrics.close()
    assert metrics.observe_rpc not in rpc.observers
    assert got[("pycri_image_pull_bytes_total", ())] == 1234
    assert got[("pycri_image_pull_duration_seconds_count", (("result", "ok"),))] == 1
    assert got[("pycri_grpc_request_duration_seconds_count",
                (("code", "OK"), ("method", "RunPodSandbox")))] == 1
    assert got[("pycri_grpc_request_errors_total",
                (("code", "INTERNAL"), ("method", "StopContainer")))] == 1
    assert got[("pycri_container_oom_kills_total", ())] == 1
    assert got[("pycri_pod_sandboxes", (("state", "ready"),))] == 1
    assert got[("pycri_containers", (("state", "exited"),))] == 1
    assert got[("pycri_containers", (("state", "running"),))] == 1
    assert got[("pycri_shims", ())] == 1


def test_endpoint_serves_the_registry() -> None:
    metrics = DaemonMetrics()
    host, port = metrics.serve("127.0.0.1:0")
    try:
        metrics.observe_rpc("Version", "OK", 0.001)
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
    finally:
        metrics.close()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "pycri_grpc_request_duration_seconds" in names
