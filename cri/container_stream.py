"""Exec, Attach and PortForward: check the request, hand out a streaming URL."""

from __future__ import annotations

from typing import Any

from pycri.api.cri import pb
from pycri.cri.container_exec import require_running
from pycri.cri.errors import FailedPrecondition, InvalidArgument
from pycri.cri.records import SandboxState
from pycri.cri.streaming import AttachRequest, ExecRequest, PortForwardRequest


class StreamingService:
    def __init__(self, rt: Any, server: Any) -> None:
        self.rt = rt
        self.server = server

    async def Exec(self, request: Any, context: Any) -> Any:
        record = require_running(self.rt, request.container_id)
        if not request.cmd:
            raise InvalidArgument(f"exec in container `{record.id}`: cmd is required")
        url = self.server.url_for("exec", ExecRequest(
            container_id=record.id, cmd=list(request.cmd), tty=request.tty,
            stdin=request.stdin, stdout=request.stdout, stderr=request.stderr))
        return pb.ExecResponse(url=url)

    async def Attach(self, request: Any, context: Any) -> Any:
        record = require_running(self.rt, request.container_id)
        url = self.server.url_for("attach", AttachRequest(
            container_id=record.id, tty=request.tty, stdin=request.stdin,
            stdout=request.stdout, stderr=request.stderr))
        return pb.AttachResponse(url=url)

    async def PortForward(self, request: Any, context: Any) -> Any:
        sandbox = self.rt.state.sandbox(request.pod_sandbox_id)
        if sandbox.state != SandboxState.READY:
            raise FailedPrecondition(f"port-forward to pod `{sandbox.id}`: it is not ready")
        for port in request.port:
            if not 0 < port < 65536:
                raise InvalidArgument(f"port-forward to pod `{sandbox.id}`: bad port {port}")
        url = self.server.url_for("portforward", PortForwardRequest(
            pod_sandbox_id=sandbox.id, ports=list(request.port)))
        return pb.PortForwardResponse(url=url)
