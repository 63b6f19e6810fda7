from __future__ import annotations

import pytest

from pycri.runtime.shim import protocol


def test_frames_roundtrip_in_pieces() -> None:
    data = protocol.encode_msg({"op": "start", "id": 3}) + protocol.encode(
        protocol.CH_STDOUT, b"x" * 70000) + protocol.encode(protocol.CH_STDIN, b"")
    reader = protocol.FrameReader()
    frames = []
    for i in range(0, len(data), 997):
        frames += reader.feed(data[i : i + 997])
    assert [c for c, _ in frames] == [protocol.CH_CONTROL, protocol.CH_STDOUT, protocol.CH_STDIN]
    msg = protocol.decode_msg(frames[0][1])
    assert msg == {"op": "start", "id": 3, "v": protocol.VERSION}
    assert frames[1][1] == b"x" * 70000
    assert frames[2][1] == b""


def test_bad_length_is_a_protocol_error() -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.FrameReader().feed(b"\x00\x00\x00\x00\x03")


def test_non_object_message_rejected() -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_msg(b"[1]")
