"""Configuration and result objects of the high-level pod network API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pycri.cni.result import DNS, Interface, Result

DEFAULT_CONF_DIR = "/etc/cni/net.d"
DEFAULT_BIN_DIRS = ("/opt/cni/bin", "/usr/lib/cni")
DEFAULT_CACHE_DIR = "/var/lib/pycri/cni-cache"


@dataclass
class CniManagerConfig:
    conf_dir: str = DEFAULT_CONF_DIR
    bin_dirs: list[str] = field(default_factory=lambda: list(DEFAULT_BIN_DIRS))
    cache_dir: str = DEFAULT_CACHE_DIR
    plugin_timeout: float = 30.0
    # How many of the conf dir's networks a pod joins (eth0, net1, net2, ...).
    max_networks: int = 1
    default_ifname: str = "eth0"
    loopback: bool = True

    @classmethod
    def from_object(cls, obj: Any) -> CniManagerConfig:
        """Accept this class, a mapping, or any object with like-named attributes
        (the daemon's own config section)."""
        if obj is None:
            return cls()
        if isinstance(obj, cls):
            return obj
        def get(key: str, default: Any) -> Any:
            if isinstance(obj, dict):
                return obj.get(key, default)
            return getattr(obj, key, default)

        base = cls()
        return cls(
            conf_dir=str(get("conf_dir", base.conf_dir)),
            bin_dirs=list(get("bin_dirs", base.bin_dirs)),
            cache_dir=str(get("cache_dir", base.cache_dir)),
            plugin_timeout=float(get("plugin_timeout", base.plugin_timeout)),
            max_networks=int(get("max_networks", base.max_networks)),
            default_ifname=str(get("default_ifname", base.default_ifname)),
            loopback=bool(get("loopback", base.loopback)),
        )


@dataclass(frozen=True)
class PodNetworkResult:
    """What a pod got: its primary IP, any others, interfaces, and each network's result."""

    ip: str
    additional_ips: tuple[str, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    dns: DNS = field(default_factory=DNS)
    results: dict[str, Result] = field(default_factory=dict)
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)


def select_pod_ips(result: Result, ifname: str) -> tuple[str, tuple[str, ...]]:
    """Primary IP (first IPv4, else first IPv6) and the rest, from the IPs on `ifname`."""
    addrs = [ip.ip for ip in result.ips_for(ifname)]
    if not addrs:
        return "", ()
    v4 = [a for a in addrs if ":" not in a]
    primary = v4[0] if v4 else addrs[0]
    return primary, tuple(a for a in addrs if a != primary)
