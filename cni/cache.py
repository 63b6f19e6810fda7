"""On-disk record of each attachment's ADD, so DEL can replay the same config and
prevResult after a daemon restart or a config change."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

CACHE_KIND = "pycri-cni-cache-v1"


@dataclass(frozen=True)
class CacheEntry:
    network: str
    container_id: str
    ifname: str
    netns: str
    config: dict[str, Any]
    cni_args: tuple[tuple[str, str], ...] = ()
    capability_args: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": CACHE_KIND,
            "networkName": self.network,
            "containerId": self.container_id,
            "ifName": self.ifname,
            "netns": self.netns,
            "config": self.config,
            "cniArgs": [list(kv) for kv in self.cni_args],
            "capabilityArgs": self.capability_args,
            "result": self.result,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> CacheEntry:
        if obj.get("kind") != CACHE_KIND:
            raise ValueError(f"unknown cache kind {obj.get('kind')!r}")
        return cls(
            network=str(obj["networkName"]),
            container_id=str(obj["containerId"]),
            ifname=str(obj["ifName"]),
            netns=str(obj.get("netns", "")),
            config=dict(obj["config"]),
            cni_args=tuple((str(k), str(v)) for k, v in obj.get("cniArgs") or ()),
            capability_args=dict(obj.get("capabilityArgs") or {}),
            result=obj.get("result"),
        )


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ResultCache:
    """`<root>/<container id>/<network>:<ifname>.json`, one file per attachment.
    Files are written temp → fsync → rename; loaders skip hidden temporaries."""

    def __init__(self, root: str) -> None:
        self.root = root

    def _dir(self, container_id: str) -> str:
        if not container_id or "/" in container_id or container_id.startswith("."):
            raise ValueError(f"bad container id {container_id!r}")
        return os.path.join(self.root, container_id)

    def path(self, network: str, container_id: str, ifname: str) -> str:
        return os.path.join(self._dir(container_id), f"{network}:{ifname}.json")

    def save(self, entry: CacheEntry, *, durable: bool = True) -> None:
        """Atomically replace the entry; `durable` also fsyncs it (a hint written
        only to survive a crash mid-operation can skip that)."""
        directory = self._dir(entry.container_id)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        final = self.path(entry.network, entry.container_id, entry.ifname)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(entry.to_json(), f)
                f.flush()
                if durable:
                    os.fsync(f.fileno())
            os.rename(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        if durable:
            _fsync_dir(directory)

    def load(self, network: str, container_id: str, ifname: str) -> CacheEntry | None:
        return self._load_file(self.path(network, container_id, ifname))

    def _load_file(self, path: str) -> CacheEntry | None:
        try:
            with open(path) as f:
                return CacheEntry.from_json(json.load(f))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignore unreadable CNI cache entry path=%s error=%s", path, exc)
            return None

    def entries(self, container_id: str) -> list[CacheEntry]:
        """Every attachment recorded for a container, in name order."""
        directory = self._dir(container_id)
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if name.startswith(".") or not name.endswith(".json"):
                continue
            entry = self._load_file(os.path.join(directory, name))
            if entry is not None:
                found.append(entry)
        return found

    def container_ids(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.root) if not n.startswith("."))
        except FileNotFoundError:
            return []

    def delete(self, network: str, container_id: str, ifname: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(network, container_id, ifname))
        directory = self._dir(container_id)
        # Temporaries left by a crashed write go with the last entry; young ones may
        # belong to a save still in flight.
        with contextlib.suppress(OSError):
            for name in os.listdir(directory):
                tmp = os.path.join(directory, name)
                if name.startswith(".tmp-") and time.time() - os.stat(tmp).st_mtime > 60:
                    os.unlink(tmp)
            os.rmdir(directory)
