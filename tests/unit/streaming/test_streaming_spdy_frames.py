from __future__ import annotations

import struct
import zlib

import pytest

from pycri.cri.streaming import spdy
from pycri.cri.streaming.spdy_dictionary import SPDY3_DICTIONARY


def test_dictionary_shape() -> None:
    # Go's zlib reader checks the dictionary id (adler32) in the stream header, so a single
    # wrong byte here breaks every kubelet/crictl session.
    assert len(SPDY3_DICTIONARY) == 1423
    assert SPDY3_DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert SPDY3_DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")
    assert zlib.adler32(SPDY3_DICTIONARY) == 3821447106


def test_header_block_roundtrip() -> None:
    block = {"streamtype": ["stdout"], "multi": ["a", "b"]}
    raw = spdy.encode_header_block(block)
    assert raw[:4] == struct.pack(">I", 2)
    assert spdy.decode_header_block(raw) == block


def test_header_block_lowercases_and_merges() -> None:
    raw = struct.pack(">I", 2)
    for name, value in ((b"StreamType", b"x"), (b"streamtype", b"y")):
        raw += struct.pack(">I", len(name)) + name + struct.pack(">I", len(value)) + value
    assert spdy.decode_header_block(raw) == {"streamtype": ["x", "y"]}


@pytest.mark.parametrize("raw", [b"\x00\x00", struct.pack(">II", 1, 10) + b"abc",
                                 struct.pack(">I", 0) + b"junk"])
def test_header_block_malformed(raw: bytes) -> None:
    with pytest.raises(spdy.SpdyProtocolError):
        spdy.decode_header_block(raw)


def test_compressed_header_blocks_share_one_context() -> None:
    comp, parser = spdy.HeaderCompressor(), spdy.FrameParser()
    blocks = [spdy.build_syn_stream(comp, sid, {"streamtype": [t], "port": ["80"]})
              for sid, t in ((1, "error"), (3, "data"), (5, "error"))]
    frames = parser.feed(b"".join(blocks))
    assert [f.headers["streamtype"] for f in frames] == [["error"], ["data"], ["error"]]
    # A repeated block costs fewer bytes: it refers back into the shared zlib window.
    assert len(blocks[2]) < len(blocks[0])


def test_all_frames_roundtrip_byte_by_byte() -> None:
    comp = spdy.HeaderCompressor()
    wire = b"".join([
        spdy.build_syn_stream(comp, 1, {"streamtype": ["stdin"]}, priority=3, fin=True,
                              unidirectional=True, associated_id=0),
        spdy.build_syn_reply(comp, 1, {"x": ["y"]}, fin=True),
        spdy.build_headers(comp, 1, {"h": ["v"]}),
        spdy.build_rst_stream(1, spdy.CANCEL),
        spdy.build_settings([(0, spdy.SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20)], clear=True),
        spdy.build_ping(7),
        spdy.build_goaway(5, spdy.GOAWAY_PROTOCOL_ERROR),
        spdy.build_window_update(3, 4096),
        spdy.build_data(3, b"payload", fin=True),
        spdy.build_data(3),
    ])
    parser = spdy.FrameParser()
    frames: list[spdy.Frame] = []
    for i in range(len(wire)):  # one byte at a time: partial frames must wait
        frames += parser.feed(wire[i : i + 1])
    assert frames == [
        spdy.SynStream(1, {"streamtype": ["stdin"]}, 0, 3, True, True),
        spdy.SynReply(1, {"x": ["y"]}, True),
        spdy.Headers(1, {"h": ["v"]}, False),
        spdy.RstStream(1, spdy.CANCEL),
        spdy.Settings([(0, spdy.SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20)], True),
        spdy.Ping(7),
        spdy.GoAway(5, spdy.GOAWAY_PROTOCOL_ERROR),
        spdy.WindowUpdate(3, 4096),
        spdy.Data(3, b"payload", True),
        spdy.Data(3, b"", False),
    ]


def test_frame_layout_matches_spec() -> None:
    # Control: C=1, version 3, type; flags + 24-bit length. Data: stream id; flags + length.
    assert spdy.build_ping(1) == bytes.fromhex("80030006 00000004 00000001")
    assert spdy.build_data(5, b"ab", fin=True) == bytes.fromhex("00000005 01000002 6162")
    assert spdy.build_rst_stream(3, 5) == bytes.fromhex("80030003 00000008 00000003 00000005")
    assert spdy.build_goaway(9) == bytes.fromhex("80030007 00000008 00000009 00000000")
    assert spdy.build_window_update(1, 10) == bytes.fromhex("80030009 00000008 00000001 0000000a")


def test_unknown_control_frame_is_passed_through() -> None:
    wire = struct.pack(">HHI", 0x8003, 0x0A, 3) + b"abc"
    assert spdy.FrameParser().feed(wire) == [spdy.UnknownControl(0x0A, 0, b"abc")]


@pytest.mark.parametrize("wire", [
    struct.pack(">HHI", 0x8002, 6, 4) + b"\x00\x00\x00\x01",  # SPDY/2
    struct.pack(">II", 0, 0),  # data on stream 0
    struct.pack(">HHI", 0x8003, 6, 3) + b"abc",  # short PING
    struct.pack(">HHI", 0x8003, 1, 12) + struct.pack(">IIBB", 1, 0, 0, 0) + b"zz",  # bad zlib
])
def test_protocol_errors(wire: bytes) -> None:
    with pytest.raises(spdy.SpdyProtocolError):
        spdy.FrameParser().feed(wire)


def test_header_bomb_is_refused() -> None:
    z = zlib.compressobj(zdict=SPDY3_DICTIONARY)
    big = spdy.encode_header_block({"x": ["a" * (spdy.MAX_HEADER_BLOCK + 10)]})
    block = z.compress(big) + z.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(spdy.SpdyProtocolError, match="larger than limit"):
        spdy.HeaderDecompressor().decompress(block)
