"""The requests a token stands for: the fields of CRI Exec/Attach/PortForwardRequest.

Plain dataclasses so the streaming server does not depend on generated protobuf code; the
CRI handlers copy the fields over and call `StreamingServer.url_for`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pycri.cri.errors import InvalidArgument

Kind = Literal["exec", "attach", "portforward"]


def _check_stdio(stdin: bool, stdout: bool, stderr: bool, tty: bool) -> None:
    if not (stdin or stdout or stderr):
        raise InvalidArgument(
            "validate streaming request: one of stdin, stdout or stderr must be set"
        )
    if tty and stderr:
        raise InvalidArgument("validate streaming request: tty and stderr cannot both be true")


@dataclass(frozen=True)
class ExecRequest:
    container_id: str
    cmd: list[str]
    tty: bool = False
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True

    kind: Kind = field(default="exec", init=False)

    def validate(self) -> None:
        if not self.container_id:
            raise InvalidArgument("validate exec request: container id is empty")
        if not self.cmd:
            raise InvalidArgument("validate exec request: cmd is empty")
        _check_stdio(self.stdin, self.stdout, self.stderr, self.tty)


@dataclass(frozen=True)
class AttachRequest:
    container_id: str
    tty: bool = False
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True

    kind: Kind = field(default="attach", init=False)

    def validate(self) -> None:
        if not self.container_id:
            raise InvalidArgument("validate attach request: container id is empty")
        _check_stdio(self.stdin, self.stdout, self.stderr, self.tty)


@dataclass(frozen=True)
class PortForwardRequest:
    pod_sandbox_id: str
    ports: list[int] = field(default_factory=list)

    kind: Kind = field(default="portforward", init=False)

    def validate(self) -> None:
        if not self.pod_sandbox_id:
            raise InvalidArgument("validate port-forward request: pod sandbox id is empty")
        for port in self.ports:
            if not 0 < port < 65536:
                raise InvalidArgument(f"validate port-forward request: invalid port {port}")

    def allows(self, port: int) -> bool:
        """A port the client may dial: any listed one, or any valid one if none is listed
        (kubelet's SPDY path names the port per stream, not in the request)."""
        return 0 < port < 65536 and (not self.ports or port in self.ports)


StreamRequest = ExecRequest | AttachRequest | PortForwardRequest
