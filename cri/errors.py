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


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and client-facing message for any exception a handler let escape."""
    if isinstance(exc, CriError):
        return exc.code, str(exc)
    if isinstance(exc, TimeoutError):
        return grpc.StatusCode.DEADLINE_EXCEEDED, str(exc) or "operation timed out"
    return grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}"
