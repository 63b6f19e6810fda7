from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pycri.cri.streaming import StreamingConfig, StreamingServer
from pycri.cri.streaming.fake import FakeBackend


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
async def server(backend: FakeBackend) -> AsyncIterator[StreamingServer]:
    srv = StreamingServer(backend, StreamingConfig(header_timeout=2.0, close_grace=2.0))
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()
