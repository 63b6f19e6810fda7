from __future__ import annotations

import pytest

from pycri.cri.errors import Unavailable
from pycri.cri.streaming import ExecRequest, PortForwardRequest, TokenCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_single_use() -> None:
    cache = TokenCache()
    req = ExecRequest("c", ["sh"])
    token = cache.insert(req)
    assert cache.consume(token) is req
    assert cache.consume(token) is None
    assert cache.consume("unknown") is None


def test_tokens_are_random_and_url_safe() -> None:
    cache = TokenCache()
    tokens = {cache.insert(PortForwardRequest("p")) for _ in range(100)}
    assert len(tokens) == 100
    assert all(t.replace("-", "").replace("_", "").isalnum() for t in tokens)


def test_expiry() -> None:
    clock = Clock()
    cache = TokenCache(ttl=60, clock=clock)
    early, late = cache.insert(ExecRequest("c", ["a"])), cache.insert(ExecRequest("c", ["b"]))
    clock.now += 59
    assert cache.consume(early) is not None
    clock.now += 1
    assert cache.consume(late) is None


def test_capacity_and_purge() -> None:
    clock = Clock()
    cache = TokenCache(ttl=10, max_entries=2, clock=clock)
    cache.insert(ExecRequest("c", ["a"]))
    cache.insert(ExecRequest("c", ["b"]))
    with pytest.raises(Unavailable):
        cache.insert(ExecRequest("c", ["c"]))
    clock.now += 10  # expired entries make room
    cache.insert(ExecRequest("c", ["c"]))
    assert len(cache) == 1
