from __future__ import annotations

import re
from pathlib import Path

from pycri.runtime.shim.logwriter import MAX_LINE, LogFile, StreamLogger, rfc3339nano

LINE = re.compile(rb"^(\S+) (stdout|stderr) ([PF]) (.*)$", re.S)


def _records(path: Path) -> list[tuple[bytes, bytes, bytes]]:
    out = []
    for raw in path.read_bytes().split(b"\n")[:-1]:
        m = LINE.match(raw)
        assert m, raw[:80]
        ts, stream, tag, text = m.groups()
        assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", ts)
        out.append((stream, tag, text))
    return out


def test_timestamp_trims_zeros_like_go() -> None:
    assert rfc3339nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert rfc3339nano(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert rfc3339nano(1_700_000_000_000_000_001) == "2023-11-14T22:13:20.000000001Z"


def test_one_byte_16k_and_1m_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    lf = LogFile(str(path))
    lg = StreamLogger(lf, "stdout")
    big = b"b" * (1 << 20)
    payload = b"a\n" + b"k" * MAX_LINE + b"\n" + big + b"\n"
    for i in range(0, len(payload), 4093):  # arbitrary read sizes
        lg.feed(payload[i : i + 4093])
    lg.flush()
    recs = _records(path)
    assert recs[0] == (b"stdout", b"F", b"a")
    assert recs[1] == (b"stdout", b"F", b"k" * MAX_LINE)
    rest = recs[2:]
    assert all(tag == b"P" for _, tag, _ in rest[:-1]) and rest[-1][1] == b"F"
    assert all(len(t) <= MAX_LINE for _, _, t in rest)
    assert b"".join(t for _, _, t in rest) == big
    lf.close()


def test_line_of_exactly_max_is_one_record(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    lf = LogFile(str(path))
    lg = StreamLogger(lf, "stdout")
    lg.feed(b"k" * MAX_LINE)
    lg.feed(b"\n")
    lg.feed(b"x" * (MAX_LINE + 1))
    lg.flush()
    assert _records(path) == [(b"stdout", b"F", b"k" * MAX_LINE),
                              (b"stdout", b"P", b"x" * MAX_LINE), (b"stdout", b"F", b"x")]
    lf.close()


def test_eof_without_newline_is_full(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    lf = LogFile(str(path))
    lg = StreamLogger(lf, "stderr")
    lg.feed(b"par")
    lg.feed(b"tial")
    assert path.read_bytes() == b""
    lg.flush()
    assert _records(path) == [(b"stderr", b"F", b"partial")]


def test_reopen_follows_rotation(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    lf = LogFile(str(path))
    lg = StreamLogger(lf, "stdout")
    lg.feed(b"one\n")
    path.rename(tmp_path / "c.log.1")
    lf.reopen()
    lg.feed(b"two\n")
    assert _records(path) == [(b"stdout", b"F", b"two")]
    assert _records(tmp_path / "c.log.1") == [(b"stdout", b"F", b"one")]
    lf.close()
