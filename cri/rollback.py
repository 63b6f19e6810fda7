"""A rollback journal: each acquisition registers its undo with a sentence saying what it undoes.

On failure the undos run newest first; their own errors are logged and attached to the
original error as notes, never raised in its place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

Undo = Callable[[], Awaitable[Any]]


def plain(fn: Callable[..., Any], *args: Any) -> Undo:
    """An undo step from a plain (non-async, quick) function call."""

    async def call() -> None:
        fn(*args)

    return call


class Rollback:
    def __init__(self, context: str) -> None:
        self._context = context
        self._steps: list[tuple[str, Undo]] = []
        self.failed_undos: list[str] = []

    def push(self, description: str, undo: Undo) -> None:
        self._steps.append((description, undo))

    def commit(self) -> None:
        self._steps.clear()

    async def __aenter__(self) -> Rollback:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or not self._steps:
            return
        steps, self._steps = self._steps, []
        for description, undo in reversed(steps):
            try:
                # Shielded: a cancelled caller must not leave half of the undo done.
                await asyncio.shield(undo())
                log.info("rollback %s step=%r", self._context, description)
            except Exception as undo_exc:
                self.failed_undos.append(description)
                log.error("rollback %s step=%r failed: %s", self._context, description, undo_exc)
                exc.add_note(f"rollback step {description!r} failed: {undo_exc}")
