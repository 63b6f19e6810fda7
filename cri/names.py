"""Pod and container name reservation, safe for kubelet's retries.

A name key is reserved for one id at a time. Reserving it again for the same id is a no-op;
for another id it is ALREADY_EXISTS naming the holder. A RunPodSandbox/CreateContainer that
finishes after its caller gave up parks its id as "unclaimed", and the caller's retry with
the same name gets that id instead of an error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pycri.cri.errors import AlreadyExists


class NameIndex:
    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._holders: dict[str, str] = {}
        self._in_flight: dict[str, asyncio.Future[str]] = {}
        self._unclaimed: dict[str, str] = {}

    def reserve(self, name: str, owner_id: str) -> None:
        holder = self._holders.get(name)
        if holder is not None and holder != owner_id:
            raise AlreadyExists(
                f"reserve {self._kind} name `{name}`: already used by {self._kind} `{holder}`; "
                f"remove it first"
            )
        self._holders[name] = owner_id

    def release(self, name: str, owner_id: str | None = None) -> None:
        if owner_id is None or self._holders.get(name) == owner_id:
            self._holders.pop(name, None)
            self._unclaimed.pop(name, None)

    def release_id(self, owner_id: str) -> None:
        for name in [n for n, i in self._holders.items() if i == owner_id]:
            self.release(name, owner_id)

    def holder(self, name: str) -> str | None:
        return self._holders.get(name)

    async def create_once(
        self, name: str, create: Callable[[], Awaitable[str]], caller_gone: Callable[[], bool]
    ) -> str:
        """Run `create` for `name` unless it is running or finished unclaimed; share the result.

        `create` runs in its own task: a caller that times out does not cancel it.
        """
        unclaimed = self._unclaimed.pop(name, None)
        if unclaimed is not None:
            return unclaimed
        running = self._in_flight.get(name)
        if running is None:
            holder = self._holders.get(name)
            if holder is not None:
                raise AlreadyExists(
                    f"reserve {self._kind} name `{name}`: already used by {self._kind} "
                    f"`{holder}`; remove it first"
                )
            running = asyncio.ensure_future(create())
            self._in_flight[name] = running
            running.add_done_callback(lambda task: self._settle(name, task, caller_gone))
        return await asyncio.shield(running)

    def _settle(
        self, name: str, task: asyncio.Future[str], caller_gone: Callable[[], bool]
    ) -> None:
        self._in_flight.pop(name, None)
        if not task.cancelled() and task.exception() is None and caller_gone():
            self._unclaimed[name] = task.result()
