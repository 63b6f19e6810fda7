"""The streaming server behind CRI Exec, Attach and PortForward (SPDY/3.1 and WebSocket)."""

from __future__ import annotations

from pycri.cri.streaming.backend import ByteSink, ByteSource, StreamingBackend, TerminalSize
from pycri.cri.streaming.netns import netns_connect
from pycri.cri.streaming.requests import AttachRequest, ExecRequest, PortForwardRequest
from pycri.cri.streaming.server import StreamingConfig, StreamingServer
from pycri.cri.streaming.tokens import TokenCache

__all__ = [
    "AttachRequest",
    "ByteSink",
    "ByteSource",
    "ExecRequest",
    "PortForwardRequest",
    "StreamingBackend",
    "StreamingConfig",
    "StreamingServer",
    "TerminalSize",
    "TokenCache",
    "netns_connect",
]
