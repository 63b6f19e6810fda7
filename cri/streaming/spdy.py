"""SPDY/3.1 framing, sans-IO: bytes in → frames out, and builders for frames to send.

Only what the kubelet streaming protocols use: the eight control frames of SPDY/3 and
DATA. Header blocks are zlib-compressed with the SPDY/3 dictionary through one zlib
stream per direction for the whole connection, so blocks must be compressed and
decompressed in wire order (the builders and `FrameParser` keep that order as long as
each direction has a single owner).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from pycri.cri.streaming.spdy_dictionary import SPDY3_DICTIONARY

VERSION = 3

SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
FLAG_SETTINGS_CLEAR = 0x01

# RST_STREAM status codes.
PROTOCOL_ERROR = 1
INVALID_STREAM = 2
REFUSED_STREAM = 3
UNSUPPORTED_VERSION = 4
CANCEL = 5
INTERNAL_ERROR = 6
FLOW_CONTROL_ERROR = 7
STREAM_IN_USE = 8
STREAM_ALREADY_CLOSED = 9

# GOAWAY status codes.
GOAWAY_OK = 0
GOAWAY_PROTOCOL_ERROR = 1
GOAWAY_INTERNAL_ERROR = 2

SETTINGS_INITIAL_WINDOW_SIZE = 7
DEFAULT_WINDOW = 64 * 1024
MAX_DATA_LENGTH = (1 << 24) - 1
# A decompressed header block larger than this is refused (zip-bomb guard).
MAX_HEADER_BLOCK = 256 * 1024

_HEAD = struct.Struct(">II")
_U32 = struct.Struct(">I")

HeaderBlock = dict[str, list[str]]


class SpdyProtocolError(Exception):
    """The peer sent bytes that are not valid SPDY/3; the session must end (GOAWAY)."""


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: HeaderBlock
    associated_id: int = 0
    priority: int = 0
    fin: bool = False
    unidirectional: bool = False


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: HeaderBlock
    fin: bool = False


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Settings:
    entries: list[tuple[int, int, int]] = field(default_factory=list)  # (flags, id, value)
    clear: bool = False


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_good_stream_id: int
    status: int = GOAWAY_OK


@dataclass(frozen=True)
class Headers:
    stream_id: int
    headers: HeaderBlock
    fin: bool = False


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes
    fin: bool = False


@dataclass(frozen=True)
class UnknownControl:
    """A control frame of a type this module does not know; the spec says ignore it."""

    frame_type: int
    flags: int
    payload: bytes


Frame = (
    SynStream | SynReply | RstStream | Settings | Ping | GoAway | Headers | WindowUpdate
    | Data | UnknownControl
)


# --- header blocks ---------------------------------------------------------------------


def encode_header_block(headers: HeaderBlock) -> bytes:
    """The uncompressed SPDY/3 name/value block: 32-bit counts and lengths, lowercase
    names, several values of one name joined by NUL (one entry per name)."""
    out = bytearray(_U32.pack(len(headers)))
    for name, values in headers.items():
        raw_name = name.lower().encode("latin-1")
        raw_value = b"\x00".join(v.encode("latin-1") for v in values)
        out += _U32.pack(len(raw_name)) + raw_name + _U32.pack(len(raw_value)) + raw_value
    return bytes(out)


def decode_header_block(raw: bytes) -> HeaderBlock:
    """Parse an uncompressed name/value block; names are folded to lowercase and a name
    repeated in the block has its values merged rather than failing the session."""
    try:
        (count,) = _U32.unpack_from(raw, 0)
        pos = 4
        headers: HeaderBlock = {}
        for _ in range(count):
            (nlen,) = _U32.unpack_from(raw, pos)
            name = raw[pos + 4 : pos + 4 + nlen]
            pos += 4 + nlen
            (vlen,) = _U32.unpack_from(raw, pos)
            value = raw[pos + 4 : pos + 4 + vlen]
            pos += 4 + vlen
            if len(name) != nlen or len(value) != vlen or not name:
                raise SpdyProtocolError("decode header block: truncated entry")
            key = name.decode("latin-1").lower()
            headers.setdefault(key, []).extend(value.decode("latin-1").split("\x00"))
    except struct.error as exc:
        raise SpdyProtocolError(f"decode header block: {exc}") from exc
    if pos != len(raw):
        raise SpdyProtocolError("decode header block: trailing bytes")
    return headers


class HeaderCompressor:
    """The sending side's zlib stream, shared by every header block of the connection."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(
            zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
            zdict=SPDY3_DICTIONARY,
        )

    def compress(self, headers: HeaderBlock) -> bytes:
        # A sync flush ends each block on a byte boundary so the peer can decode it
        # without waiting for the next one.
        return self._z.compress(encode_header_block(headers)) + self._z.flush(zlib.Z_SYNC_FLUSH)


class HeaderDecompressor:
    """The receiving side's zlib stream, shared by every header block of the connection."""

    def __init__(self) -> None:
        self._z = zlib.decompressobj(zdict=SPDY3_DICTIONARY)

    def decompress(self, data: bytes) -> HeaderBlock:
        try:
            raw = self._z.decompress(data, MAX_HEADER_BLOCK)
        except zlib.error as exc:
            raise SpdyProtocolError(f"decompress header block: {exc}") from exc
        if self._z.unconsumed_tail:
            raise SpdyProtocolError("decompress header block: larger than limit")
        return decode_header_block(raw)


# --- builders --------------------------------------------------------------------------


def _control(frame_type: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_DATA_LENGTH:
        raise ValueError(f"build control frame: payload of {len(payload)} bytes is too large")
    return _HEAD.pack(0x80000000 | VERSION << 16 | frame_type, flags << 24 | len(payload)) + payload


def build_data(stream_id: int, data: bytes = b"", *, fin: bool = False) -> bytes:
    if len(data) > MAX_DATA_LENGTH:
        raise ValueError(f"build data frame: {len(data)} bytes is too large")
    flags = FLAG_FIN if fin else 0
    return _HEAD.pack(stream_id & 0x7FFFFFFF, flags << 24 | len(data)) + data


def build_syn_stream(
    comp: HeaderCompressor,
    stream_id: int,
    headers: HeaderBlock,
    *,
    associated_id: int = 0,
    priority: int = 0,
    fin: bool = False,
    unidirectional: bool = False,
) -> bytes:
    flags = (FLAG_FIN if fin else 0) | (FLAG_UNIDIRECTIONAL if unidirectional else 0)
    head = struct.pack(">IIBB", stream_id, associated_id, (priority & 7) << 5, 0)
    return _control(SYN_STREAM, flags, head + comp.compress(headers))


def build_syn_reply(
    comp: HeaderCompressor, stream_id: int, headers: HeaderBlock | None = None, *, fin: bool = False
) -> bytes:
    payload = _U32.pack(stream_id) + comp.compress(headers or {})
    return _control(SYN_REPLY, FLAG_FIN if fin else 0, payload)


def build_headers(
    comp: HeaderCompressor, stream_id: int, headers: HeaderBlock, *, fin: bool = False
) -> bytes:
    return _control(HEADERS, FLAG_FIN if fin else 0, _U32.pack(stream_id) + comp.compress(headers))


def build_rst_stream(stream_id: int, status: int) -> bytes:
    return _control(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def build_settings(entries: list[tuple[int, int, int]], *, clear: bool = False) -> bytes:
    payload = bytearray(_U32.pack(len(entries)))
    for flags, ident, value in entries:
        payload += struct.pack(">II", (flags & 0xFF) << 24 | (ident & 0xFFFFFF), value)
    return _control(SETTINGS, FLAG_SETTINGS_CLEAR if clear else 0, bytes(payload))


def build_ping(ping_id: int) -> bytes:
    return _control(PING, 0, _U32.pack(ping_id))


def build_goaway(last_good_stream_id: int, status: int = GOAWAY_OK) -> bytes:
    return _control(GOAWAY, 0, struct.pack(">II", last_good_stream_id, status))


def build_window_update(stream_id: int, delta: int) -> bytes:
    return _control(WINDOW_UPDATE, 0, struct.pack(">II", stream_id, delta & 0x7FFFFFFF))


# --- parser ----------------------------------------------------------------------------


class FrameParser:
    """Feed it the bytes read from the connection; it returns the complete frames."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._headers = HeaderDecompressor()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            first, flags_len = _HEAD.unpack_from(self._buf, 0)
            length = flags_len & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            payload = bytes(self._buf[8 : 8 + length])
            del self._buf[: 8 + length]
            flags = flags_len >> 24
            if first & 0x80000000:
                frames.append(self._control(first, flags, payload))
            else:
                stream_id = first & 0x7FFFFFFF
                if stream_id == 0:
                    raise SpdyProtocolError("parse data frame: stream id 0")
                frames.append(Data(stream_id, payload, fin=bool(flags & FLAG_FIN)))
        return frames

    def _control(self, first: int, flags: int, payload: bytes) -> Frame:
        version = (first >> 16) & 0x7FFF
        frame_type = first & 0xFFFF
        if version != VERSION:
            raise SpdyProtocolError(f"parse control frame: unsupported version {version}")
        fin = bool(flags & FLAG_FIN)
        try:
            if frame_type == SYN_STREAM:
                sid, assoc, pri, _slot = struct.unpack_from(">IIBB", payload, 0)
                sid &= 0x7FFFFFFF
                if sid == 0:
                    raise SpdyProtocolError("parse SYN_STREAM: stream id 0")
                headers = self._headers.decompress(payload[10:])
                return SynStream(
                    sid, headers, assoc & 0x7FFFFFFF, pri >> 5, fin,
                    bool(flags & FLAG_UNIDIRECTIONAL),
                )
            if frame_type in (SYN_REPLY, HEADERS):
                (sid,) = _U32.unpack_from(payload, 0)
                headers = self._headers.decompress(payload[4:])
                cls = SynReply if frame_type == SYN_REPLY else Headers
                return cls(sid & 0x7FFFFFFF, headers, fin)
            if frame_type == RST_STREAM:
                sid, status = self._pair(payload)
                return RstStream(sid, status)
            if frame_type == SETTINGS:
                return self._settings(flags, payload)
            if frame_type == PING:
                self._exact(payload, 4)
                return Ping(_U32.unpack_from(payload, 0)[0])
            if frame_type == GOAWAY:
                sid, status = self._pair(payload)
                return GoAway(sid, status)
            if frame_type == WINDOW_UPDATE:
                sid, delta = self._pair(payload)
                return WindowUpdate(sid, delta & 0x7FFFFFFF)
        except struct.error as exc:
            raise SpdyProtocolError(f"parse control frame {frame_type}: {exc}") from exc
        return UnknownControl(frame_type, flags, payload)

    @staticmethod
    def _exact(payload: bytes, size: int) -> None:
        if len(payload) != size:
            raise SpdyProtocolError(f"parse control frame: length {len(payload)} != {size}")

    def _pair(self, payload: bytes) -> tuple[int, int]:
        self._exact(payload, 8)
        a, b = struct.unpack(">II", payload)
        return a & 0x7FFFFFFF, b

    @staticmethod
    def _settings(flags: int, payload: bytes) -> Settings:
        (count,) = _U32.unpack_from(payload, 0)
        if len(payload) != 4 + 8 * count:
            raise SpdyProtocolError("parse SETTINGS: length does not match entry count")
        entries = []
        for i in range(count):
            flag_id, value = struct.unpack_from(">II", payload, 4 + 8 * i)
            entries.append((flag_id >> 24, flag_id & 0xFFFFFF, value))
        return Settings(entries, bool(flags & FLAG_SETTINGS_CLEAR))
