"""Container lifecycle events for GetContainerEvents (kubelet's evented PLEG).

The lifecycle code reports changes to `rt.events` synchronously; `EventBroker` turns each
into one `ContainerEventResponse` (built once, shared by every subscriber) and offers it to
each subscriber's bounded queue without waiting. A subscriber whose queue is full is cut
off with RESOURCE_EXHAUSTED: a dropped event would leave its view silently wrong, while a
closed stream tells kubelet to relist. The runtime never waits for a reader.

Pod sandboxes report like containerd does, as container events with the sandbox id:
ready → CREATED and STARTED, stopped → STOPPED, removed → DELETED.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any

import grpc

from pycri.api.cri import pb
from pycri.cri.errors import CriError
from pycri.cri.records import ContainerRecord, SandboxRecord, SandboxState, now_ns

log = logging.getLogger(__name__)

DEFAULT_QUEUE = 1024
_TYPES = {
    "created": pb.ContainerEventType.CONTAINER_CREATED_EVENT,
    "started": pb.ContainerEventType.CONTAINER_STARTED_EVENT,
    "stopped": pb.ContainerEventType.CONTAINER_STOPPED_EVENT,
    "deleted": pb.ContainerEventType.CONTAINER_DELETED_EVENT,
}


class SubscriberTooSlow(CriError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Subscription:
    """One reader's queue; `offer` never blocks, `get` waits for the next event."""

    def __init__(self, maxsize: int, name: str) -> None:
        self.name = name
        self._maxsize = maxsize
        self._items: collections.deque[Any] = collections.deque()
        self._ready = asyncio.Event()
        self.overflowed = False
        self.closed = False
        self.delivered = 0

    def offer(self, item: Any) -> bool:
        if self.overflowed or self.closed:
            return False
        if len(self._items) >= self._maxsize:
            self.overflowed = True
            self._items.clear()
            self._ready.set()
            log.warning("event subscriber too slow, disconnecting subscriber=%s queue=%d",
                        self.name, self._maxsize)
            return False
        self._items.append(item)
        self._ready.set()
        return True

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def get(self) -> Any:
        """The next event; raises SubscriberTooSlow after an overflow, EOFError when closed."""
        while not self._items:
            if self.overflowed:
                raise SubscriberTooSlow(
                    f"get container events: subscriber fell {self._maxsize} events behind")
            if self.closed:
                raise EOFError("event broker closed")
            self._ready.clear()
            await self._ready.wait()
        self.delivered += 1
        return self._items.popleft()

    def pending(self) -> int:
        return len(self._items)


class EventBroker:
    def __init__(self, rt: Any, queue_size: int = DEFAULT_QUEUE) -> None:
        self.rt = rt
        self.queue_size = queue_size
        self._subs: list[Subscription] = []
        self._serial = 0
        self.hooks: list[Callable[[str, Any], None]] = []
        rt.events.listeners.append(self.on_change)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def subscribe(self) -> Subscription:
        self._serial += 1
        sub = Subscription(self.queue_size, f"events-{self._serial}")
        self._subs.append(sub)
        log.debug("event subscriber joined subscriber=%s count=%d", sub.name, len(self._subs))
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            log.debug("event subscriber left subscriber=%s delivered=%d", sub.name,
                      sub.delivered)

    def close(self) -> None:
        for sub in self._subs:
            sub.close()
        self._subs.clear()

    def on_change(self, kind: str, record: Any) -> None:
        """EventSink listener: runs inside the lifecycle call, so it must stay cheap."""
        if not self._subs:
            return
        try:
            responses = self._responses(kind, record)
        except Exception:
            log.exception("build container event kind=%s id=%s", kind, getattr(record, "id", ""))
            return
        for response in responses:
            for sub in list(self._subs):
                if not sub.offer(response) and sub.overflowed:
                    self.unsubscribe(sub)

    def _responses(self, kind: str, record: Any) -> list[Any]:
        if isinstance(record, SandboxRecord):
            kinds = self._sandbox_kinds(record)
            sandbox: SandboxRecord | None = record
        elif isinstance(record, ContainerRecord) and kind in _TYPES:
            kinds = [kind]
            sandbox = self.rt.state.sandboxes.get(record.sandbox_id)
        else:
            return []
        if not kinds:
            return []
        pod_status, statuses = self._statuses(sandbox)
        return [pb.ContainerEventResponse(
            container_id=record.id, container_event_type=_TYPES[k], created_at=now_ns(),
            pod_sandbox_status=pod_status, containers_statuses=statuses) for k in kinds]

    def _sandbox_kinds(self, record: SandboxRecord) -> list[str]:
        if record.id not in self.rt.state.sandboxes:
            return ["deleted"]
        if record.state == SandboxState.READY:
            return ["created", "started"]
        if record.state == SandboxState.NOTREADY:
            return ["stopped"]
        return []

    def _statuses(self, sandbox: SandboxRecord | None) -> tuple[Any, list[Any]]:
        from pycri.cri import container_status, sandbox_status

        if sandbox is None:
            return None, []
        # A deleted container is no longer listed, as ListContainers no longer shows it.
        statuses = [container_status.to_status(self.rt, c)
                    for c in self.rt.state.containers_of(sandbox.id)]
        return sandbox_status.to_status(sandbox), statuses
