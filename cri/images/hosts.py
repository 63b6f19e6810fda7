"""Per-registry host configuration from a containerd-style directory.

`<config_dir>/<host>/hosts.toml` (or `<config_dir>/_default/hosts.toml`) lists mirrors in
`[host."<url>"]` tables, tried in file order, then `server` (the upstream). Each host can be
plain HTTP (an `http://` URL), skip TLS verification, trust extra CAs and present client
certificates. Without a file, the upstream is `https://<host>`, except that loopback
registries (localhost, 127.0.0.0/8, ::1) are spoken to in plain HTTP, as docker does.
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycri.cri.errors import InvalidArgument

log = logging.getLogger(__name__)

DOCKER_HUB = "docker.io"
DOCKER_HUB_SERVER = "https://registry-1.docker.io"
DEFAULT_CONFIG_DIR = "/etc/pycri/certs.d"


@dataclass(frozen=True)
class Endpoint:
    """One place to fetch from: scheme://host + API path prefix, and its TLS settings."""

    url: str  # scheme://host[:port][/prefix] without trailing slash
    capabilities: tuple[str, ...] = ("pull", "resolve")
    skip_verify: bool = False
    ca_files: tuple[str, ...] = ()
    client_certs: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    override_path: bool = False
    is_mirror: bool = False

    @property
    def plain_http(self) -> bool:
        return self.url.startswith("http://")

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1].split("/", 1)[0]

    def api_base(self) -> str:
        """The URL that `/<name>/manifests/...` is appended to."""
        return self.url if self.override_path else f"{self.url}/v2"

    def tls(self) -> ssl.SSLContext | bool:
        if self.plain_http:
            return False
        if self.skip_verify:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context()
            for ca in self.ca_files:
                ctx.load_verify_locations(cafile=ca)
        for cert, key in self.client_certs:
            ctx.load_cert_chain(cert, key or None)
        return ctx


@dataclass
class HostsConfig:
    """Endpoints to try for one registry host, mirrors first."""

    host: str
    endpoints: list[Endpoint] = field(default_factory=list)


def is_loopback(host: str) -> bool:
    name = host
    if name.startswith("["):
        name = name[1 : name.index("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def default_server(host: str) -> str:
    if host == DOCKER_HUB:
        return DOCKER_HUB_SERVER
    return f"http://{host}" if is_loopback(host) else f"https://{host}"


def load(host: str, config_dir: str | Path | None) -> HostsConfig:
    """The endpoints for `host` from `config_dir` (missing dir or file → defaults)."""
    config = HostsConfig(host=host)
    directory = _host_dir(host, config_dir)
    data: dict[str, Any] = {}
    if directory is not None:
        hosts_file = directory / "hosts.toml"
        if hosts_file.is_file():
            try:
                data = tomllib.loads(hosts_file.read_text())
            except (tomllib.TOMLDecodeError, OSError) as exc:
                raise InvalidArgument(f"load registry config `{hosts_file}`: {exc}") from exc
    for url, table in (data.get("host") or {}).items():
        config.endpoints.append(_endpoint(url, table, directory, is_mirror=True))
    server = str(data.get("server") or default_server(host))
    legacy = _legacy_certs(directory) if directory is not None else {}
    config.endpoints.append(_endpoint(server, {**legacy, **data}, directory, is_mirror=False))
    return config


def _host_dir(host: str, config_dir: str | Path | None) -> Path | None:
    if not config_dir:
        return None
    root = Path(config_dir)
    for name in (host, host.replace(":", "_"), "_default"):
        candidate = root / name
        if candidate.is_dir():
            return candidate
    return None


def _legacy_certs(directory: Path) -> dict[str, Any]:
    """docker's certs.d layout: *.crt are CAs, <name>.cert + <name>.key client pairs."""
    cas = sorted(str(p) for p in directory.glob("*.crt"))
    clients = [
        [str(cert), str(cert.with_suffix(".key"))]
        for cert in sorted(directory.glob("*.cert"))
        if cert.with_suffix(".key").is_file()
    ]
    found: dict[str, Any] = {}
    if cas:
        found["ca"] = cas
    if clients:
        found["client"] = clients
    return found


def _endpoint(url: str, table: dict[str, Any], directory: Path | None, is_mirror: bool) -> Endpoint:
    if "://" not in url:
        url = f"https://{url}"
    scheme = url.split("://", 1)[0]
    if scheme not in ("http", "https"):
        raise InvalidArgument(f"load registry config: host `{url}` must be http or https")
    caps = table.get("capabilities", ["pull", "resolve", "push"])
    ca = table.get("ca", [])
    cas = [ca] if isinstance(ca, str) else list(ca)
    client = table.get("client", [])
    pairs: list[tuple[str, str]] = []
    if isinstance(client, str):
        pairs.append((client, ""))
    else:
        for item in client:
            if isinstance(item, str):
                pairs.append((item, ""))
            else:
                pairs.append((str(item[0]), str(item[1]) if len(item) > 1 else ""))
    headers: list[tuple[str, str]] = []
    for key, value in (table.get("header") or {}).items():
        values = value if isinstance(value, list) else [value]
        headers.extend((str(key), str(v)) for v in values)
    return Endpoint(
        url=url.rstrip("/"),
        capabilities=tuple(caps),
        skip_verify=bool(table.get("skip_verify", False)),
        ca_files=tuple(_resolve(c, directory) for c in cas),
        client_certs=tuple((_resolve(c, directory), _resolve(k, directory) if k else "")
                           for c, k in pairs),
        headers=tuple(headers),
        override_path=bool(table.get("override_path", False)),
        is_mirror=is_mirror,
    )


def _resolve(path: str, directory: Path | None) -> str:
    if directory is None or Path(path).is_absolute():
        return path
    return str(directory / path)
