"""Daemon-side task manager: starts, finds and talks to the per-pod shims."""

from __future__ import annotations

from pycri.runtime.task.client import EventStream, ExecResult, ShimClient
from pycri.runtime.task.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ShimError,
    ShimGone,
)
from pycri.runtime.task.launch import ShimStartOptions
from pycri.runtime.task.manager import TaskManager
from pycri.runtime.task.streams import StdioStream

__all__ = [
    "AlreadyExists",
    "DeadlineExceeded",
    "EventStream",
    "ExecResult",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "ShimClient",
    "ShimError",
    "ShimGone",
    "ShimStartOptions",
    "StdioStream",
    "TaskManager",
]
