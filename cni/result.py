"""CNI results of every spec version, read into one internal shape and written back out.

0.1.0/0.2.0 carry `ip4`/`ip6` objects; 0.3.x/0.4.0 carry `ips` with a `version`
field; 1.0.0/1.1.0 drop that field and add route/interface attributes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from pycri.cni import version
from pycri.cni.errors import CniError

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ResultError(CniError):
    """A plugin's output is not a result of the version it claims."""


@dataclass(frozen=True)
class Interface:
    name: str
    mac: str = ""
    sandbox: str = ""
    mtu: int | None = None
    socket_path: str = ""
    pci_id: str = ""


@dataclass(frozen=True)
class IPConfig:
    address: IPInterface
    gateway: IPAddress | None = None
    interface: int | None = None

    @property
    def ip(self) -> str:
        return str(self.address.ip)


@dataclass(frozen=True)
class Route:
    dst: IPNetwork
    gw: IPAddress | None = None
    mtu: int | None = None
    advmss: int | None = None
    priority: int | None = None
    table: int | None = None
    scope: int | None = None


@dataclass(frozen=True)
class DNS:
    nameservers: tuple[str, ...] = ()
    domain: str = ""
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.nameservers or self.domain or self.search or self.options)


@dataclass(frozen=True)
class Result:
    cni_version: str
    interfaces: tuple[Interface, ...] = ()
    ips: tuple[IPConfig, ...] = ()
    routes: tuple[Route, ...] = ()
    dns: DNS = field(default_factory=DNS)

    def sandbox_interface_index(self, ifname: str) -> int | None:
        for i, iface in enumerate(self.interfaces):
            if iface.name == ifname and iface.sandbox:
                return i
        return None

    def ips_for(self, ifname: str) -> list[IPConfig]:
        """IPs on the sandbox interface `ifname`; results that do not link IPs to
        interfaces (old versions, some IPAM-only chains) give all their IPs."""
        index = self.sandbox_interface_index(ifname)
        linked = [ip for ip in self.ips if ip.interface is not None]
        if index is None or not linked:
            return list(self.ips)
        return [ip for ip in self.ips if ip.interface == index]


def _iface(value: Any) -> IPInterface:
    try:
        return ipaddress.ip_interface(value)
    except ValueError as exc:
        raise ResultError(f"parse CNI result: bad address {value!r}") from exc


def _addr(value: Any) -> IPAddress | None:
    if value in (None, ""):
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError as exc:
        raise ResultError(f"parse CNI result: bad gateway {value!r}") from exc


def _net(value: Any) -> IPNetwork:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ResultError(f"parse CNI result: bad route dst {value!r}") from exc


def _opt_int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    return int(value) if isinstance(value, int) else None


def _route(obj: dict[str, Any]) -> Route:
    return Route(
        dst=_net(obj.get("dst")),
        gw=_addr(obj.get("gw")),
        mtu=_opt_int(obj, "mtu"),
        advmss=_opt_int(obj, "advmss"),
        priority=_opt_int(obj, "priority"),
        table=_opt_int(obj, "table"),
        scope=_opt_int(obj, "scope"),
    )


def _dns(obj: Any) -> DNS:
    if not isinstance(obj, dict):
        return DNS()
    return DNS(
        nameservers=tuple(obj.get("nameservers") or ()),
        domain=str(obj.get("domain") or ""),
        search=tuple(obj.get("search") or ()),
        options=tuple(obj.get("options") or ()),
    )


def _parse_legacy(raw: dict[str, Any], ver: str) -> Result:
    ips: list[IPConfig] = []
    routes: list[Route] = []
    for key in ("ip4", "ip6"):
        block = raw.get(key)
        if not isinstance(block, dict):
            continue
        ips.append(IPConfig(address=_iface(block.get("ip")), gateway=_addr(block.get("gateway"))))
        routes.extend(_route(r) for r in block.get("routes") or ())
    return Result(cni_version=ver, ips=tuple(ips), routes=tuple(routes), dns=_dns(raw.get("dns")))


def _parse_current(raw: dict[str, Any], ver: str) -> Result:
    interfaces = tuple(
        Interface(
            name=str(i.get("name", "")),
            mac=str(i.get("mac", "")),
            sandbox=str(i.get("sandbox", "")),
            mtu=_opt_int(i, "mtu"),
            socket_path=str(i.get("socketPath", "")),
            pci_id=str(i.get("pciID", "")),
        )
        for i in raw.get("interfaces") or ()
    )
    ips = []
    for entry in raw.get("ips") or ():
        index = entry.get("interface")
        if index is not None and not (isinstance(index, int) and 0 <= index < len(interfaces)):
            raise ResultError(f"parse CNI result: ip interface index {index!r} out of range")
        ips.append(
            IPConfig(
                address=_iface(entry.get("address")),
                gateway=_addr(entry.get("gateway")),
                interface=index,
            )
        )
    routes = tuple(_route(r) for r in raw.get("routes") or ())
    return Result(
        cni_version=ver,
        interfaces=interfaces,
        ips=tuple(ips),
        routes=routes,
        dns=_dns(raw.get("dns")),
    )


def parse_result(raw: dict[str, Any], default_version: str = "") -> Result:
    """Read a result of any supported version; `default_version` covers plugins that
    omit `cniVersion` in their output."""
    if not isinstance(raw, dict):
        raise ResultError("parse CNI result: not a JSON object")
    ver = str(raw.get("cniVersion") or default_version)
    if not ver:
        raise ResultError("parse CNI result: no cniVersion")
    if not version.is_supported(ver):
        raise ResultError(f"parse CNI result: unsupported cniVersion `{ver}`")
    if version.parse(ver) < version.parse("0.3.0"):
        return _parse_legacy(raw, ver)
    return _parse_current(raw, ver)


def _route_dict(route: Route, modern: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"dst": str(route.dst)}
    if route.gw is not None:
        out["gw"] = str(route.gw)
    if modern:
        for key in ("mtu", "advmss", "priority", "table", "scope"):
            value = getattr(route, key)
            if value is not None:
                out[key] = value
    return out


def _dns_dict(dns: DNS) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if dns.nameservers:
        out["nameservers"] = list(dns.nameservers)
    if dns.domain:
        out["domain"] = dns.domain
    if dns.search:
        out["search"] = list(dns.search)
    if dns.options:
        out["options"] = list(dns.options)
    return out


def _legacy_dict(result: Result, ver: str) -> dict[str, Any]:
    out: dict[str, Any] = {"cniVersion": ver}
    for key, fam in (("ip4", 4), ("ip6", 6)):
        ip = next((i for i in result.ips if i.address.version == fam), None)
        if ip is None:
            continue
        block: dict[str, Any] = {"ip": str(ip.address)}
        if ip.gateway is not None:
            block["gateway"] = str(ip.gateway)
        routes = [_route_dict(r, False) for r in result.routes if r.dst.version == fam]
        if routes:
            block["routes"] = routes
        out[key] = block
    if not result.dns.is_empty():
        out["dns"] = _dns_dict(result.dns)
    return out


def to_dict(result: Result, ver: str | None = None) -> dict[str, Any]:
    """Write `result` as a result of version `ver` (default: its own)."""
    ver = ver or result.cni_version
    if not version.is_supported(ver):
        raise ResultError(f"convert CNI result: unsupported cniVersion `{ver}`")
    if version.parse(ver) < version.parse("0.3.0"):
        return _legacy_dict(result, ver)
    modern = version.at_least(ver, "1.1.0")
    with_family = not version.at_least(ver, "1.0.0")
    out: dict[str, Any] = {"cniVersion": ver}
    if result.interfaces:
        ifaces = []
        for iface in result.interfaces:
            d: dict[str, Any] = {"name": iface.name}
            if iface.mac:
                d["mac"] = iface.mac
            if iface.sandbox:
                d["sandbox"] = iface.sandbox
            if modern:
                if iface.mtu is not None:
                    d["mtu"] = iface.mtu
                if iface.socket_path:
                    d["socketPath"] = iface.socket_path
                if iface.pci_id:
                    d["pciID"] = iface.pci_id
            ifaces.append(d)
        out["interfaces"] = ifaces
    if result.ips:
        ips = []
        for ip in result.ips:
            d = {"address": str(ip.address)}
            if with_family:
                d["version"] = str(ip.address.version)
            if ip.gateway is not None:
                d["gateway"] = str(ip.gateway)
            if ip.interface is not None:
                d["interface"] = ip.interface
            ips.append(d)
        out["ips"] = ips
    if result.routes:
        out["routes"] = [_route_dict(r, modern) for r in result.routes]
    if not result.dns.is_empty():
        out["dns"] = _dns_dict(result.dns)
    return out


def convert(raw: dict[str, Any], to_version: str) -> dict[str, Any]:
    """Convert a raw result dict between spec versions."""
    return to_dict(parse_result(raw), to_version)
