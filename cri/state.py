"""The daemon's view of sandboxes and containers: records in memory, persisted on change."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable

from pycri.cri.errors import InvalidArgument, NotFound
from pycri.cri.names import NameIndex
from pycri.cri.records import ContainerRecord, Records, SandboxRecord
from pycri.cri.store import Store

log = logging.getLogger(__name__)


def new_id() -> str:
    return secrets.token_hex(32)


def _by_prefix(kind: str, ident: str, ids: Iterable[str]) -> str:
    if not ident:
        raise InvalidArgument(f"{kind} id is required")
    candidates = [i for i in ids if i.startswith(ident)]
    if ident in candidates:
        return ident
    if not candidates:
        raise NotFound(f"{kind} `{ident}` not found")
    if len(candidates) > 1:
        raise InvalidArgument(f"{kind} id prefix `{ident}` is ambiguous")
    return candidates[0]


class RuntimeState:
    def __init__(self, store: Store) -> None:
        self.records = Records(store)
        self.sandboxes: dict[str, SandboxRecord] = {}
        self.containers: dict[str, ContainerRecord] = {}
        self.pod_names = NameIndex("pod sandbox")
        self.container_names = NameIndex("container")
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def load(self) -> None:
        for sandbox in self.records.sandboxes():
            self.sandboxes[sandbox.id] = sandbox
            self.pod_names.reserve(sandbox.name_key, sandbox.id)
        for container in self.records.containers():
            self.containers[container.id] = container
            self.container_names.reserve(container.name_key, container.id)
        log.info("state loaded sandboxes=%d containers=%d", len(self.sandboxes),
                 len(self.containers))

    def lock(self, ident: str) -> asyncio.Lock:
        return self._locks[ident]

    def sandbox(self, ident: str) -> SandboxRecord:
        return self.sandboxes[_by_prefix("pod sandbox", ident, self.sandboxes)]

    def find_sandbox(self, ident: str) -> SandboxRecord | None:
        try:
            return self.sandbox(ident)
        except NotFound:
            return None

    def container(self, ident: str) -> ContainerRecord:
        return self.containers[_by_prefix("container", ident, self.containers)]

    def find_container(self, ident: str) -> ContainerRecord | None:
        try:
            return self.container(ident)
        except NotFound:
            return None

    def containers_of(self, sandbox_id: str) -> list[ContainerRecord]:
        return [c for c in self.containers.values() if c.sandbox_id == sandbox_id]

    async def save_sandbox(self, record: SandboxRecord) -> None:
        await asyncio.to_thread(self.records.put_sandbox, record)
        self.sandboxes[record.id] = record

    async def drop_sandbox(self, record: SandboxRecord) -> None:
        await asyncio.to_thread(self.records.delete_sandbox, record.id)
        self.sandboxes.pop(record.id, None)
        self.pod_names.release(record.name_key, record.id)
        self._locks.pop(record.id, None)

    async def save_container(self, record: ContainerRecord) -> None:
        await asyncio.to_thread(self.records.put_container, record)
        self.containers[record.id] = record

    async def drop_container(self, record: ContainerRecord) -> None:
        await asyncio.to_thread(self.records.delete_container, record.id)
        self.containers.pop(record.id, None)
        self.container_names.release(record.name_key, record.id)
        self._locks.pop(record.id, None)
