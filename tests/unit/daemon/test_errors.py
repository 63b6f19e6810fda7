from __future__ import annotations

import grpc
import pytest

from pycri.cri import errors


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.InvalidArgument("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotFound("x"), grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyExists("x"), grpc.StatusCode.ALREADY_EXISTS),
        (errors.FailedPrecondition("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.DeadlineExceeded("x"), grpc.StatusCode.DEADLINE_EXCEEDED),
        (errors.Internal("x"), grpc.StatusCode.INTERNAL),
        (TimeoutError("slow"), grpc.StatusCode.DEADLINE_EXCEEDED),
        (KeyError("boom"), grpc.StatusCode.INTERNAL),
    ],
)
def test_status_for(exc: Exception, code: grpc.StatusCode) -> None:
    got, message = errors.status_for(exc)
    assert got == code
    assert message


def test_shim_errors_keep_their_meaning() -> None:
    from pycri.runtime.task import errors as shim

    assert errors.status_for(shim.NotFound("gone"))[0] == grpc.StatusCode.NOT_FOUND
    assert errors.status_for(shim.InvalidArgument("bad"))[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert errors.status_for(shim.ShimGone("no shim"))[0] == grpc.StatusCode.UNAVAILABLE
    assert errors.status_for(shim.ShimError("boom"))[0] == grpc.StatusCode.INTERNAL
