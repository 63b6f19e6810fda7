"""Network configuration: parse `.conf`/`.conflist`/`.json` files and watch the conf dir."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

from pycri.cni import version
from pycri.cni.errors import CniConfigError

log = logging.getLogger(__name__)

CONF_EXTENSIONS = (".conf", ".conflist", ".json")
_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")


@dataclass(frozen=True)
class NetworkConfigList:
    """One network: a named, versioned chain of plugin configurations."""

    name: str
    cni_version: str
    plugins: tuple[dict[str, Any], ...]
    disable_check: bool = False
    disable_gc: bool = False
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def plugin_types(self) -> list[str]:
        return [str(p["type"]) for p in self.plugins]

    def to_dict(self) -> dict[str, Any]:
        """The list as the cache stores it, so DEL can rebuild it exactly."""
        return dict(self.raw) if self.raw else {
            "cniVersion": self.cni_version,
            "name": self.name,
            "plugins": [dict(p) for p in self.plugins],
        }


def _flag(value: Any) -> bool:
    # Older specs wrote these flags as strings ("true"), newer ones as booleans.
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _require_version(obj: dict[str, Any], source: str) -> str:
    declared = obj.get("cniVersion")
    if not isinstance(declared, str) or not declared:
        raise CniConfigError("missing `cniVersion`", source)
    alternatives = obj.get("cniVersions") or []
    if not isinstance(alternatives, list):
        raise CniConfigError("`cniVersions` is not a list", source)
    chosen = version.negotiate(declared, alternatives)
    if not version.is_supported(chosen):
        raise CniConfigError(f"unsupported cniVersion `{chosen}`", source)
    return chosen


def _require_name(obj: dict[str, Any], source: str) -> str:
    name = obj.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise CniConfigError(f"invalid or missing network `name` {name!r}", source)
    return name


def parse_config(data: bytes | str | dict[str, Any], source: str = "") -> NetworkConfigList:
    """Parse a conflist, or a single-plugin conf which is wrapped into a list of one."""
    if isinstance(data, dict):
        obj = data
    else:
        try:
            obj = json.loads(data)
        except ValueError as exc:
            raise CniConfigError(f"invalid JSON: {exc}", source) from exc
    if not isinstance(obj, dict):
        raise CniConfigError("top level is not an object", source)
    if "plugins" not in obj:
        if not isinstance(obj.get("type"), str) or not obj["type"]:
            raise CniConfigError("neither `plugins` nor `type` present", source)
        obj = {"cniVersion": obj.get("cniVersion"), "name": obj.get("name"), "plugins": [obj]}
        if "cniVersions" in obj["plugins"][0]:
            obj["cniVersions"] = obj["plugins"][0]["cniVersions"]
    name = _require_name(obj, source)
    cni_version = _require_version(obj, source)
    plugins = obj.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        raise CniConfigError("`plugins` is empty or not a list", source)
    for i, plugin in enumerate(plugins):
        if not isinstance(plugin, dict) or not isinstance(plugin.get("type"), str):
            raise CniConfigError(f"plugin #{i} has no `type`", source)
        if "/" in plugin["type"] or not plugin["type"]:
            raise CniConfigError(f"plugin #{i} type {plugin['type']!r} is not a name", source)
    return NetworkConfigList(
        name=name,
        cni_version=cni_version,
        plugins=tuple(dict(p) for p in plugins),
        disable_check=_flag(obj.get("disableCheck", False)),
        disable_gc=_flag(obj.get("disableGC", False)),
        source=source,
        raw=obj,
    )


def load_file(path: str) -> NetworkConfigList:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CniConfigError(f"read: {exc.strerror}", path) from exc
    return parse_config(data, path)


def conf_files(conf_dir: str) -> list[str]:
    """Config file paths in lexical order; hidden files (editor and atomic-write
    temporaries) are skipped."""
    try:
        names = os.listdir(conf_dir)
    except FileNotFoundError:
        return []
    return [
        os.path.join(conf_dir, n)
        for n in sorted(names)
        if not n.startswith(".") and n.endswith(CONF_EXTENSIONS)
    ]


@dataclass
class LoadedConfigs:
    networks: list[NetworkConfigList] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def default(self) -> NetworkConfigList | None:
        return self.networks[0] if self.networks else None


def load_dir(conf_dir: str) -> LoadedConfigs:
    """Every valid network in the dir, in file order; invalid files are reported, not fatal."""
    loaded = LoadedConfigs()
    for path in conf_files(conf_dir):
        try:
            loaded.networks.append(load_file(path))
        except CniConfigError as exc:
            loaded.errors[path] = str(exc)
            log.warning("skip CNI config: %s path=%s", exc, path)
    return loaded


class ConfigWatcher:
    """Keeps the loaded configs of one dir current; `reload()` re-parses only when
    the dir listing or a file's mtime/size changed, so it is cheap per Status RPC."""

    def __init__(self, conf_dir: str) -> None:
        self.conf_dir = conf_dir
        self._fingerprint: tuple[Any, ...] | None = None
        self.current = LoadedConfigs()

    def _stat_fingerprint(self) -> tuple[Any, ...]:
        entries: list[tuple[str, int, int]] = []
        for path in conf_files(self.conf_dir):
            try:
                st = os.stat(path)
            except OSError:
                continue
            entries.append((path, st.st_mtime_ns, st.st_size))
        return tuple(entries)

    def reload(self) -> bool:
        """Re-read the dir when it changed; True when the loaded set was replaced."""
        fingerprint = self._stat_fingerprint()
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        self.current = load_dir(self.conf_dir)
        log.info(
            "loaded CNI configs conf_dir=%s networks=%s invalid=%d",
            self.conf_dir,
            [n.name for n in self.current.networks],
            len(self.current.errors),
        )
        return True
