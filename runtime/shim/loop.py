"""A small selectors event loop: readers/writers by fd, timers, and SIGCHLD wakeups.

The shim uses this instead of asyncio to keep its resident memory and its import set
small; everything runs on one thread, so fork() from a handler is safe.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

Callback = Callable[[], None]


class Timer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callback) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Loop:
    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self._readers: dict[int, Callback] = {}
        self._writers: dict[int, Callback] = {}
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._stopping = False
        self._sigchld: Callback | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.add_reader(self._wake_r.fileno(), self._on_wake)

    # -- fds -------------------------------------------------------------
    def _update(self, fd: int) -> None:
        events = (selectors.EVENT_READ if fd in self._readers else 0) | (
            selectors.EVENT_WRITE if fd in self._writers else 0
        )
        try:
            key = self.sel.get_key(fd)
        except KeyError:
            key = None
        if key is None:
            if events:
                self.sel.register(fd, events)
        elif not events:
            self.sel.unregister(fd)
        elif key.events != events:
            self.sel.modify(fd, events)

    def add_reader(self, fd: int, cb: Callback) -> None:
        self._readers[fd] = cb
        self._update(fd)

    def remove_reader(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            self._update(fd)

    def add_writer(self, fd: int, cb: Callback) -> None:
        self._writers[fd] = cb
        self._update(fd)

    def remove_writer(self, fd: int) -> None:
        if self._writers.pop(fd, None) is not None:
            self._update(fd)

    # -- timers ----------------------------------------------------------
    def call_later(self, delay: float, cb: Callback) -> Timer:
        t = Timer(time.monotonic() + delay, cb)
        heapq.heappush(self._timers, (t.when, next(self._seq), t))
        return t

    # -- signals ---------------------------------------------------------
    def on_sigchld(self, cb: Callback) -> None:
        """Run `cb` on the loop after every SIGCHLD (the handler itself does nothing)."""
        self._sigchld = cb
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def _on_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        if self._sigchld is not None:
            self._sigchld()

    def stop(self) -> None:
        self._stopping = True

    def run(self) -> None:
        while not self._stopping:
            timeout: float | None = None
            while self._timers and self._timers[0][2].cancelled:
                heapq.heappop(self._timers)
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            for key, mask in self.sel.select(timeout):
                fd = key.fd
                if mask & selectors.EVENT_READ and fd in self._readers:
                    self._run(self._readers[fd])
                if mask & selectors.EVENT_WRITE and fd in self._writers:
                    self._run(self._writers[fd])
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, t = heapq.heappop(self._timers)
                if not t.cancelled:
                    self._run(t.callback)

    @staticmethod
    def _run(cb: Callback) -> None:
        try:
            cb()
        except Exception:
            # One bad request or stream must not take the pod's shim down.
            log.exception("loop callback failed")

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        self.sel.close()
        self._wake_r.close()
        self._wake_w.close()


def fd_close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
