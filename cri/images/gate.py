"""A many-pulls-or-one-GC gate: GC must not run while a pull is between checking that a
layer exists and recording the image that references it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class PullGate:
    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._pulls = 0
        self._collecting = False

    @contextlib.asynccontextmanager
    async def pulling(self) -> AsyncIterator[None]:
        async with self._cond:
            await self._cond.wait_for(lambda: not self._collecting)
            self._pulls += 1
        try:
            yield
        finally:
            async with self._cond:
                self._pulls -= 1
                self._cond.notify_all()

    @contextlib.asynccontextmanager
    async def collecting(self) -> AsyncIterator[None]:
        async with self._cond:
            await self._cond.wait_for(lambda: not self._pulls and not self._collecting)
            self._collecting = True
        try:
            yield
        finally:
            async with self._cond:
                self._collecting = False
                self._cond.notify_all()
