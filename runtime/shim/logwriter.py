"""CRI log writer: `<RFC3339Nano> <stdout|stderr> <P|F> <text>\\n` records.

Lines longer than MAX_LINE are cut into partial (P) records; the piece that ends with
the newline is the full (F) record. Data left at EOF without a newline is flushed as F.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)

MAX_LINE = 16 * 1024


def rfc3339nano(ns: int) -> str:
    # Go's RFC3339Nano drops trailing zeros of the fraction; match it byte for byte.
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


class LogFile:
    """One CRI log file shared by a container's streams; reopen() follows rotation."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1
        self.reopen()

    def reopen(self) -> None:
        if not self.path:
            return
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        old, self.fd = self.fd, fd
        if old >= 0:
            os.close(old)

    def write(self, data: bytes) -> None:
        if self.fd < 0:
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view)
            except OSError as exc:
                # A full disk must not take the shim (and the container's stdio) down.
                log.warning("write log path=%s error=%s", self.path, exc)
                return
            view = view[n:]

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class StreamLogger:
    """Turns a byte stream (stdout or stderr) into CRI records on a LogFile."""

    def __init__(self, logfile: LogFile | None, stream: str) -> None:
        self.logfile = logfile
        self.tag = stream.encode()
        self._pending = bytearray()

    def _emit(self, parts: list[bytes], chunk: bytes, full: bool) -> None:
        ts = rfc3339nano(time.time_ns()).encode()
        parts.append(b"%s %s %s %s\n" % (ts, self.tag, b"F" if full else b"P", chunk))

    def feed(self, data: bytes) -> None:
        if self.logfile is None:
            return
        parts: list[bytes] = []
        buf = self._pending
        buf += data
        start = 0
        while True:
            nl = buf.find(b"\n", start, start + MAX_LINE + 1)
            if nl >= 0:
                self._emit(parts, bytes(buf[start:nl]), True)
                start = nl + 1
            elif len(buf) - start > MAX_LINE:
                # Strictly longer: a line of exactly MAX_LINE waits for its newline and
                # stays one F record.
                self._emit(parts, bytes(buf[start : start + MAX_LINE]), False)
                start += MAX_LINE
            else:
                break
        del buf[:start]
        if parts:
            self.logfile.write(b"".join(parts))

    def flush(self) -> None:
        """End of stream: what is left has no newline but still ends the line."""
        if self.logfile is not None and self._pending:
            parts: list[bytes] = []
            self._emit(parts, bytes(self._pending), True)
            self._pending.clear()
            self.logfile.write(parts[0])
