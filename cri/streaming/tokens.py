"""Single-use, short-lived tokens standing for a streaming request (kubelet's request cache)."""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from pycri.cri.errors import Unavailable
from pycri.cri.streaming.requests import StreamRequest

log = logging.getLogger(__name__)

DEFAULT_TTL = 60.0
DEFAULT_MAX_ENTRIES = 1000


class TokenCache:
    """Maps random URL-safe tokens to requests; a token works once, and only until its TTL."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        # Insertion order is expiry order, since every entry gets the same TTL.
        self._entries: OrderedDict[str, tuple[float, StreamRequest]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def insert(self, request: StreamRequest) -> str:
        self._purge()
        if len(self._entries) >= self._max:
            raise Unavailable("insert streaming token: too many pending streaming requests")
        token = secrets.token_urlsafe(16)
        while token in self._entries:  # pragma: no cover - 128 random bits
            token = secrets.token_urlsafe(16)
        self._entries[token] = (self._clock() + self._ttl, request)
        return token

    def consume(self, token: str) -> StreamRequest | None:
        """The request for `token`, removing it; None if unknown, used or expired."""
        entry = self._entries.pop(token, None)
        if entry is None:
            return None
        deadline, request = entry
        if self._clock() >= deadline:
            log.debug("streaming token expired kind=%s", request.kind)
            return None
        return request

    def _purge(self) -> None:
        now = self._clock()
        while self._entries:
            token, (deadline, _) = next(iter(self._entries.items()))
            if deadline > now:
                break
            del self._entries[token]
