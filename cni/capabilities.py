"""Pod parameters → CNI_ARGS and `runtimeConfig` capability arguments (Kubernetes conventions)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# CRI Protocol enum values, for callers that hand over the protobuf numbers.
_PROTOCOLS = {0: "tcp", 1: "udp", 2: "sctp"}


def pod_cni_args(pod_id: str, name: str, namespace: str, uid: str) -> tuple[tuple[str, str], ...]:
    return (
        ("IgnoreUnknown", "1"),
        ("K8S_POD_NAMESPACE", namespace),
        ("K8S_POD_NAME", name),
        ("K8S_POD_INFRA_CONTAINER_ID", pod_id),
        ("K8S_POD_UID", uid),
    )


def _pick(m: Mapping[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in m and m[key] not in (None, ""):
            return m[key]
    return default


def port_mapping(m: Mapping[str, Any]) -> dict[str, Any] | None:
    """One mapping in the `portMappings` capability shape; None for mappings
    without a host port, which need no plugin work."""
    host_port = int(_pick(m, "hostPort", "host_port", default=0))
    if host_port <= 0:
        return None
    proto = _pick(m, "protocol", default="tcp")
    proto = _PROTOCOLS.get(proto, "tcp") if isinstance(proto, int) else str(proto).lower()
    out: dict[str, Any] = {
        "hostPort": host_port,
        "containerPort": int(_pick(m, "containerPort", "container_port", default=0)),
        "protocol": proto,
    }
    host_ip = _pick(m, "hostIP", "host_ip")
    if host_ip:
        out["hostIP"] = str(host_ip)
    return out


def capability_args(
    *,
    port_mappings: Iterable[Mapping[str, Any]] = (),
    bandwidth: Mapping[str, Any] | None = None,
    dns: Mapping[str, Any] | None = None,
    cgroup_path: str | None = None,
    ips: Iterable[str] | None = None,
    mac: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Capability arguments offered to plugins; each plugin later receives only the
    keys its config declares under `capabilities`."""
    caps: dict[str, Any] = {}
    mappings = [p for p in (port_mapping(m) for m in port_mappings) if p is not None]
    if mappings:
        caps["portMappings"] = mappings
    if bandwidth:
        caps["bandwidth"] = dict(bandwidth)
    if dns:
        caps["dns"] = {k: list(v) for k, v in dns.items() if v}
    if cgroup_path:
        caps["cgroupPath"] = cgroup_path
    if ips:
        caps["ips"] = list(ips)
    if mac:
        caps["mac"] = mac
    if annotations:
        caps["io.kubernetes.cri.pod-annotations"] = dict(annotations)
    return caps
