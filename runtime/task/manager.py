"""TaskManager: the daemon's side of the shims (asyncio).

Starts a shim per pod sandbox or finds the one already running, sends container
operations to it, merges every shim's events into one stream, and turns a shim that
is gone into exits of its containers (durable record when there is one, else 255 and
a reason saying the shim died) plus the cleanup of what the shim can no longer undo.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from pycri.runtime.shim import exits, namespaces
from pycri.runtime.shim.exits import ExitRecord
from pycri.runtime.shim.server import RUNTIMES, socket_path
from pycri.runtime.task.client import EventStream, ShimClient
from pycri.runtime.task.errors import NotFound, ShimError, ShimGone
from pycri.runtime.task.factory_client import ShimFactory
from pycri.runtime.task.launch import ShimStartOptions, default_command, shim_argv, spawn

log = logging.getLogger(__name__)


class TaskManager:
    def __init__(self, run_root: str = "/run/pycri", *, runtime_root: str = "",
                 runtime: str = "oci", shim_command: list[str] | None = None,
                 start_timeout: float = 30.0, use_factory: bool = True) -> None:
        self.run_root = run_root
        self.runtime_root = runtime_root or os.path.join(run_root, "runtime")
        self.runtime = runtime
        self.shim_command = shim_command or default_command()
        # Shims forked from a warm interpreter start in a few ms instead of ~60.
        self.factory: ShimFactory | None = (
            ShimFactory(self.shim_command, os.path.join(run_root, "shims", "factory.sock"),
                        start_timeout) if use_factory else None
        )
        self.start_timeout = start_timeout
        self.shims: dict[str, ShimClient] = {}
        self._containers: dict[str, set[str]] = {}
        self._dead_exits: dict[str, dict[str, ExitRecord]] = {}
        self._dead_tasks: dict[str, asyncio.Task[dict[str, ExitRecord]]] = {}
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._leaving: set[str] = set()
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    # -- shims ----------------------------------------------------------------------
    async def start_shim(self, sandbox_id: str,
                         options: ShimStartOptions | None = None) -> ShimClient:
        # A retried RunPodSandbox finds the shim the first attempt started.
        with contextlib.suppress(ShimGone):
            return await self.connect(sandbox_id)
        opts = options or ShimStartOptions()
        args = shim_argv([], sandbox_id, self.run_root, self.runtime_root, self.runtime, opts)
        log.debug("start shim sandbox_id=%s args=%s", sandbox_id, args)
        if self.factory is not None:
            try:
                await self.factory.start(args)
                return await self.connect(sandbox_id)
            except (ShimError, OSError) as exc:
                # A shim that did start answers connect; anything else falls back to exec.
                with contextlib.suppress(ShimGone):
                    return await self.connect(sandbox_id)
                log.warning("shim factory failed, starting the shim directly "
                            "sandbox_id=%s error=%s", sandbox_id, exc)
        await spawn([*self.shim_command, *args], self.start_timeout)
        return await self.connect(sandbox_id)

    async def prestart(self) -> None:
        """Warm the shim factory now so the first pod does not wait for it."""
        if self.factory is not None:
            try:
                await self.factory.start_factory()
            except (ShimError, OSError) as exc:
                log.warning("shim factory unavailable, shims start directly error=%s", exc)
                self.factory = None

    async def connect(self, sandbox_id: str, container_ids: Iterable[str] = ()) -> ShimClient:
        """Attach to a running shim; raises ShimGone when it is not there."""
        if sandbox_id in self.shims and not self.shims[sandbox_id].closed:
            return self.shims[sandbox_id]
        client = await ShimClient.connect(sandbox_id, socket_path(self.run_root, sandbox_id))
        try:
            events = await client.subscribe()
            states = await client.list_containers()
        except BaseException:
            await client.close()
            raise
        self.shims[sandbox_id] = client
        known = self._containers.setdefault(sandbox_id, set())
        known.update(container_ids)
        known.update(s["container_id"] for s in states)
        self._leaving.discard(sandbox_id)
        # Exits that happened while we were away: replay them as events.
        for s in states:
            if s.get("status") == "stopped":
                self._events.put_nowait({
                    "event": "exit", "sandbox_id": sandbox_id, "replayed": True,
                    "container_id": s["container_id"], "pid": s.get("pid", 0),
                    "exit_code": s.get("exit_code"), "exited_at": s.get("exited_at"),
                    "reason": s.get("reason", "")})
        self._watchers[sandbox_id] = asyncio.create_task(
            self._watch(sandbox_id, events), name=f"shim-events-{sandbox_id}")
        return client

    async def reconnect(self, sandboxes: Mapping[str, Iterable[str]]
                        ) -> dict[str, ShimClient | dict[str, ExitRecord]]:
        """On daemon start: sandbox id → its container ids (from the store). Returns the
        client of each live shim, or the exits of the containers of a dead one."""
        out: dict[str, ShimClient | dict[str, ExitRecord]] = {}
        for sid, cids in sandboxes.items():
            cids = list(cids)
            try:
                out[sid] = await self.connect(sid, cids)
            except ShimGone as exc:
                log.warning("shim gone at reconnect sandbox_id=%s error=%s", sid, exc)
                self._containers.setdefault(sid, set()).update(cids)
                out[sid] = await self._shim_died(sid)
        return out

    def client(self, sandbox_id: str) -> ShimClient:
        c = self.shims.get(sandbox_id)
        if c is None or c.closed:
            raise ShimGone(f"no shim connected for sandbox `{sandbox_id}`")
        return c

    async def shutdown_shim(self, sandbox_id: str, force: bool = False) -> None:
        """The pod is removed: the shim deletes what is left and exits."""
        client = self.shims.get(sandbox_id)
        if client is None:
            return
        self._leaving.add(sandbox_id)
        try:
            await client.shutdown(force=force)
        except ShimGone:
            pass
        except BaseException:
            self._leaving.discard(sandbox_id)
            raise
        await self._forget(sandbox_id)

    async def _forget(self, sandbox_id: str) -> None:
        w = self._watchers.pop(sandbox_id, None)
        if w is not None:
            w.cancel()
            await asyncio.gather(w, return_exceptions=True)
        c = self.shims.pop(sandbox_id, None)
        if c is not None:
            await c.close()
        self._containers.pop(sandbox_id, None)

    async def close(self) -> None:
        """Daemon going down: drop connections, leave every shim running."""
        for sid in list(self.shims):
            self._leaving.add(sid)
            await self._forget(sid)
        if self.factory is not None:
            await self.factory.close()

    # -- events ---------------------------------------------------------------------
    async def events(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self._events.get()

    async def _watch(self, sandbox_id: str, stream: EventStream) -> None:
        try:
            async for ev in stream:
                if ev.get("event") == "exit":
                    pass  # the record stays on disk until delete; the daemon decides
                self._events.put_nowait(ev)
        finally:
            stream.close()
        if sandbox_id in self._leaving:
            return
        log.error("shim died sandbox_id=%s", sandbox_id)
        c = self.shims.pop(sandbox_id, None)
        if c is not None:
            await c.close()
        await self._shim_died(sandbox_id)

    # -- a dead shim --------------------------------------------------------------------
    async def _shim_died(self, sandbox_id: str) -> dict[str, ExitRecord]:
        t = self._dead_tasks.get(sandbox_id)
        if t is None:
            t = asyncio.create_task(self._cleanup_dead(sandbox_id))
            self._dead_tasks[sandbox_id] = t
        return await asyncio.shield(t)

    async def _cleanup_dead(self, sandbox_id: str) -> dict[str, ExitRecord]:
        recs: dict[str, ExitRecord] = {}
        for cid in sorted(self._containers.get(sandbox_id, set())):
            rec = exits.read(self.run_root, cid)
            if rec is None:
                rec = ExitRecord(cid, 0, 255, time.time_ns(), exits.REASON_SHIM_DIED,
                                 f"the shim of pod `{sandbox_id}` died")
                # Make the verdict durable so a later restart reports the same.
                await asyncio.to_thread(exits.write, self.run_root, rec)
            recs[cid] = rec
            await asyncio.to_thread(self._force_delete, cid)
        await asyncio.to_thread(namespaces.unpin, self.run_root, sandbox_id)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path(self.run_root, sandbox_id))
        self._dead_exits[sandbox_id] = recs
        # Reported once everything the shim held is released.
        for rec in recs.values():
            self._events.put_nowait({"event": "exit", "sandbox_id": sandbox_id,
                                     "shim_died": True, **rec.to_dict()})
        return recs

    def _force_delete(self, container_id: str) -> None:
        """Kill what is left of the container and drop its mounts and cgroups."""
        lib: Any = importlib.import_module(RUNTIMES[self.runtime])
        try:
            lib.Container.load(self.runtime_root, container_id).delete(force=True)
        except FileNotFoundError:
            pass
        except Exception as exc:
            if "NotFound" not in type(exc).__name__:
                log.warning("force delete container_id=%s error=%s", container_id, exc)

    # -- container operations that survive a dead shim ---------------------------------
    async def create(self, sandbox_id: str, container_id: str, bundle: str,
                     **kwargs: Any) -> int:
        self._containers.setdefault(sandbox_id, set()).add(container_id)
        try:
            return await self.client(sandbox_id).create(container_id, bundle, **kwargs)
        except BaseException:
            self._containers[sandbox_id].discard(container_id)
            raise

    async def wait(self, sandbox_id: str, container_id: str) -> ExitRecord:
        try:
            return await self.client(sandbox_id).wait(container_id)
        except ShimGone:
            return await self._dead_exit(sandbox_id, container_id)

    async def state(self, sandbox_id: str, container_id: str) -> dict[str, Any]:
        try:
            return await self.client(sandbox_id).state(container_id)
        except ShimGone:
            rec = await self._dead_exit(sandbox_id, container_id)
            return {"container_id": container_id, "status": "stopped", "pid": rec.pid,
                    "exit_code": rec.exit_code, "exited_at": rec.exited_at,
                    "reason": rec.reason, "message": rec.message}

    async def delete(self, sandbox_id: str, container_id: str,
                     force: bool = False) -> ExitRecord | None:
        try:
            rec = await self.client(sandbox_id).delete(container_id, force=force)
        except ShimGone:
            rec = await self._dead_exit(sandbox_id, container_id)
            await asyncio.to_thread(exits.remove, self.run_root, container_id)
        self._containers.get(sandbox_id, set()).discard(container_id)
        self._dead_exits.get(sandbox_id, {}).pop(container_id, None)
        return rec

    async def _dead_exit(self, sandbox_id: str, container_id: str) -> ExitRecord:
        if sandbox_id in self._dead_tasks:
            recs = await asyncio.shield(self._dead_tasks[sandbox_id])
        else:
            # Not connected is not dead: only a shim that no longer answers is.
            try:
                await self.connect(sandbox_id)
            except ShimGone:
                pass
            else:
                raise ShimGone(f"shim of sandbox `{sandbox_id}` was not connected; retry")
            self._containers.setdefault(sandbox_id, set()).add(container_id)
            recs = await self._shim_died(sandbox_id)
        rec = recs.get(container_id) or exits.read(self.run_root, container_id)
        if rec is None:
            raise NotFound(f"container `{container_id}` not found")
        return rec
