"""Typed errors of the OCI runtime; the CLI maps them to runc's messages and exit codes."""

from __future__ import annotations


class RuntimeError_(Exception):
    """Base of every error the runtime raises on purpose."""


class ContainerNotFound(RuntimeError_):
    def __init__(self, container_id: str) -> None:
        super().__init__(f"container `{container_id}` does not exist")
        self.container_id = container_id


class ContainerExists(RuntimeError_):
    def __init__(self, container_id: str) -> None:
        super().__init__(f"container `{container_id}` already exists")
        self.container_id = container_id


class ContainerNotRunning(RuntimeError_):
    def __init__(self, container_id: str, status: str = "stopped") -> None:
        super().__init__("container not running")
        self.container_id = container_id
        self.status = status


class InvalidState(RuntimeError_):
    """The container is in a state that does not allow the operation."""


class InvalidSpec(RuntimeError_):
    """config.json is missing, unreadable or wrong; the message names the field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"invalid spec: {field}: {reason}" if field else f"invalid spec: {reason}")
        self.field = field


class InvalidArgument(RuntimeError_):
    """A bad id, signal, flag or other caller input."""


class Unsupported(RuntimeError_):
    """The kernel or this build lacks a feature the spec asks for."""


class InitFailed(RuntimeError_):
    """The container's init reported an error before it parked on the exec fifo."""
