"""Exec and attach over SPDY: gather the client's typed streams, then run the command."""

from __future__ import annotations

import asyncio
import logging

from pycri.cri.streaming import spdy
from pycri.cri.streaming.backend import StreamingBackend
from pycri.cri.streaming.remotecommand import CommandStreams, run_command
from pycri.cri.streaming.requests import AttachRequest, ExecRequest
from pycri.cri.streaming.spdy_session import SpdyStream

log = logging.getLogger(__name__)

# X-Stream-Protocol-Version values for exec/attach, most preferred first.
COMMAND_PROTOCOLS = (
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
)


def expected_streams(request: ExecRequest | AttachRequest, protocol: str) -> set[str]:
    """The stream types the client opens for these options under this protocol version."""
    wanted = {"error"}
    if request.stdin:
        wanted.add("stdin")
    if request.stdout:
        wanted.add("stdout")
    if request.stderr and not request.tty:
        wanted.add("stderr")
    # Resizing arrived with v3.
    if request.tty and protocol in ("v4.channel.k8s.io", "v3.channel.k8s.io"):
        wanted.add("resize")
    return wanted


class SpdyCommand:
    """Collects streams from `add` (the session's on_stream) and runs the command once all
    expected ones are open."""

    def __init__(
        self,
        backend: StreamingBackend,
        request: ExecRequest | AttachRequest,
        protocol: str,
        stream_timeout: float,
    ) -> None:
        self._backend = backend
        self._request = request
        self._protocol = protocol
        self._timeout = stream_timeout
        self._wanted = expected_streams(request, protocol)
        self._streams: dict[str, SpdyStream] = {}
        self._complete = asyncio.Event()

    def add(self, stream: SpdyStream) -> None:
        kind = stream.header("streamtype")
        if kind not in self._wanted or kind in self._streams or self._complete.is_set():
            log.debug("unexpected SPDY stream type=%r container_id=%s", kind,
                      self._request.container_id)
            stream.reset(spdy.REFUSED_STREAM)
            return
        self._streams[kind] = stream
        if set(self._streams) == self._wanted:
            self._complete.set()

    async def run(self) -> None:
        try:
            await asyncio.wait_for(self._complete.wait(), self._timeout)
        except TimeoutError:
            log.warning(
                "%s: client did not open its streams container_id=%s missing=%s",
                self._request.kind, self._request.container_id,
                sorted(self._wanted - set(self._streams)),
            )
            for stream in self._streams.values():
                stream.reset(spdy.CANCEL)
            return
        s = self._streams
        streams = CommandStreams(
            error=s["error"],
            stdin=s.get("stdin"),
            stdout=s.get("stdout"),
            stderr=s.get("stderr"),
            resize=s.get("resize"),
            status_as_json=self._protocol == "v4.channel.k8s.io",
        )
        await run_command(self._backend, self._request, streams)
