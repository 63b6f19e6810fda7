"""Errors the task manager raises; each shim error code maps to one class."""

from __future__ import annotations

from pycri.runtime.shim import protocol


class ShimError(Exception):
    code = protocol.INTERNAL

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class NotFound(ShimError):
    code = protocol.NOT_FOUND


class AlreadyExists(ShimError):
    code = protocol.ALREADY_EXISTS


class InvalidArgument(ShimError):
    code = protocol.INVALID


class FailedPrecondition(ShimError):
    code = protocol.FAILED_PRECONDITION


class DeadlineExceeded(ShimError):
    code = protocol.DEADLINE_EXCEEDED


class ShimGone(ShimError):
    """The shim is not there (never started, crashed, or shut down)."""

    code = "unavailable"


_BY_CODE: dict[str, type[ShimError]] = {
    c.code: c for c in (NotFound, AlreadyExists, InvalidArgument, FailedPrecondition,
                        DeadlineExceeded)
}


def from_response(err: dict[str, str]) -> ShimError:
    code = err.get("code", protocol.INTERNAL)
    return _BY_CODE.get(code, ShimError)(err.get("message", "shim error"), code)
