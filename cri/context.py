"""What every CRI handler reaches: config, state, the pod shims, the network, images, events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pycri.cri.config import Config
from pycri.cri.state import RuntimeState

T = TypeVar("T")


def caller_gone(context: Any) -> bool:
    """True once the client cancelled or its deadline passed (its retry may come later)."""
    if context is None:
        return False
    done = getattr(context, "done", None)
    if callable(done) and done():
        return True
    remaining = getattr(context, "time_remaining", None)
    left = remaining() if callable(remaining) else None
    return left is not None and left <= 0


class EventSink:
    """Receives lifecycle changes; GetContainerEvents and metrics subscribe to it."""

    def sandbox_changed(self, record: Any) -> None:
        for listener in self.listeners:
            listener("sandbox", record)

    def container_changed(self, record: Any, event: str = "") -> None:
        for listener in self.listeners:
            listener(event or "container", record)

    def __init__(self) -> None:
        self.listeners: list[Callable[[str, Any], None]] = []


@dataclass
class RuntimeContext:
    config: Config
    state: RuntimeState
    pods: Any  # cri.pods.PodShims
    network: Any  # cni.CniManager (or the no-network stand-in)
    images: Any = None  # cri.images service objects
    events: EventSink = field(default_factory=EventSink)

    async def to_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)
