"""Typed errors raised by CRI handlers; one interceptor maps them to gRPC status codes."""

from __future__ import annotations

import grpc


class CriError(Exception):
    """Base of every error a handler raises on purpose; the message goes to the client."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(CriError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(CriError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(CriError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(CriError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class DeadlineExceeded(CriError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Unimplemented(CriError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Unauthenticated(CriError):
    code = grpc.StatusCode.UNAUTHENTICATED


class Unavailable(CriError):
    code = grpc.StatusCode.UNAVAILABLE


class Internal(CriError):
    code = grpc.StatusCode.INTERNAL


# The shim protocol's error codes (pycri.runtime.shim.protocol) as gRPC codes.
_SHIM_CODES = {
    "not_found": grpc.StatusCode.NOT_FOUND,
    "already_exists": grpc.StatusCode.ALREADY_EXISTS,
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "failed_precondition": grpc.StatusCode.FAILED_PRECONDITION,
    "deadline_exceeded": grpc.StatusCode.DEADLINE_EXCEEDED,
    "unavailable": grpc.StatusCode.UNAVAILABLE,
}


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and client-facing message for any exception a handler let escape."""
    if isinstance(exc, CriError):
        return exc.code, str(exc)
    if isinstance(exc, TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, str(exc) or "operation timed out"
    shim_code = getattr(exc, "code", None)
    if type(exc).__module__ == "pycri.runtime.task.errors" and shim_code in _SHIM_CODES:
        return _SHIM_CODES[shim_code], str(exc)
    return grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}"
