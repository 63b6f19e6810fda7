"""The daemon's own Prometheus metrics, on a registry of its own, served on `metrics.address`.

What is measured, and where it is hooked without reaching into other packages:
- per-RPC latency and errors: an observer `cri/rpc.py` calls after each call;
- CNI call latency: `wrap_network` puts a timing proxy around the CniManager;
- image pulls (bytes, duration, result): `attach` wraps the image manager's `pull`;
- OOM kills: an EventSink listener counts exits with reason OOMKilled;
- pods and containers by state, shims, event subscribers: read from the runtime at scrape.

The endpoint is prometheus_client's threaded HTTP server; scrapes read the daemon's dicts
from that thread, so they copy before iterating.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pycri.cri import rpc

log = logging.getLogger(__name__)

NS = "pycri"
# From sub-millisecond status calls to minute-long pulls and pod setups.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0, 30.0, 60.0, 120.0)
_CNI_CALLS = ("setup_pod", "teardown_pod", "check_pod", "status", "gc")


def parse_address(address: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` (loopback); port 0 picks a free one."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"parse metrics address `{address}`: want host:port")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


class RuntimeCollector(Collector):
    """Gauges computed from the runtime's state at each scrape."""

    def __init__(self) -> None:
        self.rt: Any = None
        self.broker: Any = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rt = self.rt
        if rt is None:
            return
        pods = GaugeMetricFamily(f"{NS}_pod_sandboxes", "Pod sandboxes by state.",
                                 labels=["state"])
        for state, n in sorted(Tally(r.state.value
                                     for r in list(rt.state.sandboxes.values())).items()):
            pods.add_metric([state], n)
        yield pods
        containers = GaugeMetricFamily(f"{NS}_containers", "Containers by state.",
                                       labels=["state"])
        for state, n in sorted(Tally(r.state.value
                                     for r in list(rt.state.containers.values())).items()):
            containers.add_metric([state], n)
        yield containers
        shims = getattr(getattr(rt.pods, "tasks", None), "shims", None)
        if shims is not None:
            yield GaugeMetricFamily(f"{NS}_shims", "Pod shims connected to the daemon.",
                                    value=len(shims))
        if self.broker is not None:
            yield GaugeMetricFamily(f"{NS}_container_event_subscribers",
                                    "Open GetContainerEvents streams.",
                                    value=self.broker.subscribers)


class DaemonMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.rpc_latency = Histogram(
            f"{NS}_grpc_request_duration_seconds", "CRI RPC latency by method and status code.",
            ["method", "code"], buckets=LATENCY_BUCKETS, registry=r)
        self.rpc_errors = Counter(f"{NS}_grpc_request_errors",
                                  "CRI RPCs that ended in an error, by method and code.",
                                  ["method", "code"], registry=r)
        self.cni_latency = Histogram(f"{NS}_cni_operation_duration_seconds",
                                     "CNI invocations by operation.", ["operation"],
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.cni_errors = Counter(f"{NS}_cni_operation_errors", "Failed CNI invocations.",
                                  ["operation"], registry=r)
        self.pull_duration = Histogram(f"{NS}_image_pull_duration_seconds",
                                       "Image pull wall time.", ["result"],
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.pull_bytes = Counter(f"{NS}_image_pull_bytes",
                                  "Bytes of images pulled (their compressed size).", registry=r)
        self.oom_kills = Counter(f"{NS}_container_oom_kills",
                                 "Containers the kernel killed for memory.", registry=r)
        self.runtime = RuntimeCollector()
        r.register(self.runtime)
        self._server: Any = None
        self._thread: Any = None

    # ------------------------------------------------------------ hooks

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        self.rpc_latency.labels(method, code).observe(seconds)
        if code not in ("OK", "NOT_FOUND"):
            self.rpc_errors.labels(method, code).inc()

    def wrap_network(self, network: Any) -> Any:
        return TimedNetwork(network, self)

    def attach(self, rt: Any, broker: Any = None) -> None:
        """Start observing a built runtime: state gauges, OOM kills, image pulls, RPCs."""
        self.runtime.rt, self.runtime.broker = rt, broker
        rt.events.listeners.append(self._on_change)
        images = getattr(rt, "images", None)
        if images is not None and hasattr(images, "pull"):
            images.pull = self._timed_pull(images.pull)
        rpc.observers.append(self.observe_rpc)

    def _on_change(self, kind: str, record: Any) -> None:
        if kind == "stopped" and getattr(record.status, "reason", "") == "OOMKilled":
            self.oom_kills.inc()

    def _timed_pull(self, pull: Callable[..., Any]) -> Callable[..., Any]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                record = await pull(*args, **kwargs)
            except BaseException:
                self.pull_duration.labels("error").observe(time.monotonic() - started)
                raise
            self.pull_duration.labels("ok").observe(time.monotonic() - started)
            self.pull_bytes.inc(max(int(getattr(record, "size", 0) or 0), 0))
            return record

        return timed

    # ------------------------------------------------------------ endpoint

    def serve(self, address: str) -> tuple[str, int]:
        host, port = parse_address(address)
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        bound = self._server.server_address
        log.info("metrics endpoint serving address=%s:%d", bound[0], bound[1])
        return str(bound[0]), int(bound[1])

    def close(self) -> None:
        if self.observe_rpc in rpc.observers:
            rpc.observers.remove(self.observe_rpc)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class TimedNetwork:
    """The CNI manager with its calls timed; everything else passes through."""

    def __init__(self, inner: Any, metrics: DaemonMetrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in _CNI_CALLS or not callable(value):
            return value
        metrics = self._metrics

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                return await value(*args, **kwargs)
            except BaseException:
                metrics.cni_errors.labels(name).inc()
                raise
            finally:
                metrics.cni_latency.labels(name).observe(time.monotonic() - started)

        return timed
