"""Unpack a layer while it downloads: the fetch feeds bytes, a thread applies the tar.

The download stays the source of truth: the blob is still verified and stored; the unpacked
directory is only committed once the blob's digest and the layer's diff ID both match. A
download that has to start over (the server ignored a Range request) breaks the stream, and
the caller falls back to unpacking from the stored blob.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from pathlib import Path

from pycri.cri.images.unpack import LayerStats, apply_stream

_EOF = b""
QUEUE_CHUNKS = 16


class StreamBroken(Exception):
    """The byte stream restarted or was abandoned; the partial unpack is void."""


class _QueueReader:
    def __init__(self, chunks: queue.Queue[bytes | BaseException]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._eof = False

    def read(self, size: int = -1) -> bytes:
        if not self._pending and not self._eof:
            item = self._chunks.get()
            if isinstance(item, BaseException):
                raise item
            if item == _EOF:
                self._eof = True
            self._pending = memoryview(item)
        if size < 0 or size >= len(self._pending):
            data, self._pending = bytes(self._pending), memoryview(b"")
            return data
        data = bytes(self._pending[:size])
        self._pending = self._pending[size:]
        return data


class StreamingUnpack:
    """Feed compressed layer bytes in order with `feed`; `finish()` returns the stats."""

    def __init__(self, compression: str, dest: Path, lowers: Sequence[Path] = ()) -> None:
        self._chunks: queue.Queue[bytes | BaseException] = queue.Queue(QUEUE_CHUNKS)
        self._result: LayerStats | None = None
        self._error: BaseException | None = None
        self.broken = False
        self._thread = threading.Thread(
            target=self._run, args=(compression, dest, list(lowers)), daemon=True,
            name="pycri-unpack",
        )
        self._thread.start()

    def _run(self, compression: str, dest: Path, lowers: list[Path]) -> None:
        try:
            self._result = apply_stream(_QueueReader(self._chunks), compression, dest, lowers,
                                        name=str(dest))
        except BaseException as exc:  # handed to the caller in finish()
            self._error = exc
            # Unblock a feeder waiting on a full queue.
            while True:
                try:
                    self._chunks.get_nowait()
                except queue.Empty:
                    break

    def feed(self, data: bytes) -> None:
        """Called from a worker thread; blocks while the unpacker is behind."""
        if self.broken or self._error is not None or not data:
            return
        while self._thread.is_alive():
            try:
                self._chunks.put(data, timeout=0.5)
                return
            except queue.Full:
                continue

    def restart(self) -> None:
        """The bytes start over from zero: this unpack can no longer be right."""
        self.broken = True
        self.abort()

    def finish(self) -> LayerStats:
        """End of input: wait for the unpack and return its stats (or raise its error)."""
        if self.broken:
            raise StreamBroken("layer stream restarted")
        self._put_final(_EOF)
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def abort(self) -> None:
        self._put_final(StreamBroken("layer download abandoned"))
        self._thread.join()

    def _put_final(self, item: bytes | BaseException) -> None:
        while self._thread.is_alive():
            try:
                self._chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
