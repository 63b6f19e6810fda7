"""Errors raised by the cgroup managers."""

from __future__ import annotations

import errno
import os


class CgroupError(Exception):
    """A cgroup operation failed; the message names the file, value and directory."""


class UnsupportedError(CgroupError):
    """The requested feature is not available with this cgroup layout or driver."""


def describe_errno(err: int | None) -> str:
    if err is None:
        return "unknown error"
    return os.strerror(err).lower()


def write_error(name: str, value: str, directory: str, exc: OSError) -> CgroupError:
    err = CgroupError(
        f"write `{name}`=`{value.strip()}` in `{directory}`: {describe_errno(exc.errno)}"
    )
    err.errno = exc.errno  # type: ignore[attr-defined]
    return err


def read_error(name: str, directory: str, exc: OSError) -> CgroupError:
    err = CgroupError(f"read `{name}` in `{directory}`: {describe_errno(exc.errno)}")
    err.errno = exc.errno  # type: ignore[attr-defined]
    return err


def is_busy(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.EBUSY
