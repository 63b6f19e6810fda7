"""pycri's configuration: /etc/pycri/config.toml, where every key has a default.

The schema is the dataclasses below; their field comments are what `pycri config default`
prints. Unknown keys and wrong types are startup errors naming the key and the file line.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_PATH = "/etc/pycri/config.toml"


class ConfigError(Exception):
    """The configuration file or a flag is invalid; the message names the key and where."""


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass
class CniConfig:
    conf_dir: str = field(default="/etc/cni/net.d", metadata=_doc("CNI network configurations"))
    bin_dirs: list[str] = field(
        default_factory=lambda: ["/opt/cni/bin", "/usr/lib/cni"],
        metadata=_doc("where CNI plugins are looked up, in order"),
    )
    cache_dir: str = field(
        default="", metadata=_doc("per-attachment CNI results; empty means <root>/cni-cache")
    )
    plugin_timeout: float = field(default=60.0, metadata=_doc("seconds one plugin call may take"))
    install_default: bool = field(
        default=True, metadata=_doc("install pycri's default network when conf_dir has none")
    )


@dataclass
class ImageConfig:
    registry_config_dir: str = field(
        default="/etc/pycri/certs.d", metadata=_doc("per-registry hosts.toml directories")
    )
    max_concurrent_downloads: int = field(default=3, metadata=_doc("layers fetched at once"))
    pull_progress_timeout: float = field(
        default=300.0, metadata=_doc("seconds without progress before a pull is aborted")
    )


@dataclass
class StreamingConfig:
    address: str = field(default="127.0.0.1", metadata=_doc("streaming server address"))
    port: int = field(default=0, metadata=_doc("streaming server port; 0 picks a free one"))
    idle_timeout: float = field(default=4 * 3600.0, metadata=_doc("seconds an idle stream lives"))
    tls_cert: str = field(default="", metadata=_doc("PEM certificate; empty for plain HTTP"))
    tls_key: str = field(default="", metadata=_doc("PEM key for tls_cert"))


@dataclass
class MetricsConfig:
    address: str = field(
        default="", metadata=_doc("Prometheus endpoint host:port; empty turns it off")
    )


@dataclass
class Config:
    root: str = field(default="/var/lib/pycri", metadata=_doc("persistent state root"))
    state: str = field(default="/run/pycri", metadata=_doc("runtime state root (tmpfs)"))
    listen: str = field(default="/run/pycri/pycri.sock", metadata=_doc("CRI unix socket path"))
    log_level: str = field(default="info", metadata=_doc("debug, info, warning or error"))
    log_format: str = field(default="text", metadata=_doc("text or json"))
    shutdown_timeout: float = field(
        default=10.0, metadata=_doc("seconds in-flight RPCs get to finish on SIGTERM")
    )
    cgroup_driver: str = field(default="cgroupfs", metadata=_doc("cgroupfs (systemd later)"))
    cgroup_root: str = field(default="/sys/fs/cgroup", metadata=_doc("cgroup filesystem root"))
    default_runtime_handler: str = field(
        default="", metadata=_doc("handler used when a pod names none")
    )
    runtime_handlers: list[str] = field(
        default_factory=lambda: [""], metadata=_doc("runtime handlers pods may name")
    )
    cni: CniConfig = field(default_factory=CniConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    streaming: StreamingConfig = field(default_factory=StreamingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    @property
    def db_path(self) -> Path:
        return Path(self.root) / "meta.db"

    def validate(self) -> None:
        choices = {
            "log_level": ("debug", "info", "warning", "error"),
            "log_format": ("text", "json"),
            "cgroup_driver": ("cgroupfs", "systemd"),
        }
        for key, allowed in choices.items():
            value = getattr(self, key)
            if value not in allowed:
                raise ConfigError(f"{key}: `{value}` is not one of {', '.join(allowed)}")
        if self.cgroup_driver == "systemd":
            raise ConfigError("cgroup_driver: `systemd` is not supported yet; use `cgroupfs`")
        if not Path(self.listen).is_absolute():
            raise ConfigError(f"listen: `{self.listen}` must be an absolute socket path")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read the file (missing or empty is fine), then apply dotted-key overrides from flags."""
    config = Config()
    file = Path(path or DEFAULT_CONFIG_PATH)
    if file.exists():
        text = file.read_text()
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: {exc}") from exc
        _apply(config, data, prefix="", where=lambda key: _locate(file, text, key))
    for dotted, value in (overrides or {}).items():
        _apply_dotted(config, dotted, value)
    config.validate()
    return config


def _apply(
    target: Any, data: dict[str, Any], prefix: str, where: typing.Callable[[str], str]
) -> None:
    fields = {f.name: f for f in dataclasses.fields(target)}
    hints = typing.get_type_hints(type(target))
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(f"{where(dotted)}: unknown key `{dotted}`")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where(dotted)}: `{dotted}` must be a table")
            _apply(current, value, f"{dotted}.", where)
            continue
        setattr(target, key, _coerce(hints[key], value, dotted, where))


def _coerce(hint: Any, value: Any, dotted: str, where: typing.Callable[[str], str]) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        (item_type,) = typing.get_args(hint)
        if not isinstance(value, list) or not all(isinstance(v, item_type) for v in value):
            raise ConfigError(f"{where(dotted)}: `{dotted}` must be a list of {item_type.__name__}")
        return list(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is not bool and isinstance(value, bool)):
        raise ConfigError(
            f"{where(dotted)}: `{dotted}` must be {hint.__name__}, not {type(value).__name__}"
        )
    return value


def _apply_dotted(config: Config, dotted: str, value: Any) -> None:
    *tables, key = dotted.split(".")
    nested: dict[str, Any] = {key: value}
    for table in reversed(tables):
        nested = {table: nested}
    _apply(config, nested, "", where=lambda k: f"flag --{k.replace('_', '-')}")


def _locate(file: Path, text: str, dotted: str) -> str:
    """`file:line` of a key, found by scanning tables and assignments (tomllib has no positions)."""
    *tables, key = dotted.split(".")
    section = ".".join(tables)
    current = ""
    assignment = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    header = re.compile(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$")
    for number, line in enumerate(text.splitlines(), start=1):
        match = header.match(line)
        if match:
            current = match.group(1).strip()
            if current == dotted:
                return f"{file}:{number}"
            continue
        if current == section and assignment.match(line):
            return f"{file}:{number}"
    return str(file)


def render_default() -> str:
    """The complete default configuration as commented TOML."""
    lines = ["# pycri configuration; every key below shows its default.", ""]
    _render(Config(), "", lines)
    return "\n".join(lines) + "\n"


def _render(section: Any, prefix: str, lines: list[str]) -> None:
    nested = []
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            nested.append((f.name, value))
            continue
        lines.append(f"# {f.metadata.get('doc', '')}")
        lines.append(f"{f.name} = {_toml_value(value)}")
    for name, value in nested:
        lines += ["", f"[{prefix}{name}]"]
        _render(value, f"{prefix}{name}.", lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)
