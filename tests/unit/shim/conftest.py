from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from pycri.runtime.task import TaskManager


@pytest.fixture
def run_root() -> Iterator[str]:
    # Short and under /tmp: unix socket paths are limited to 107 bytes.
    root = tempfile.mkdtemp(prefix="pcs-", dir="/tmp")
    yield root
    _kill_shims(root)
    shutil.rmtree(root, ignore_errors=True)


def _kill_shims(root: str) -> None:
    """Whatever a failed test left: shims of this root and their process groups."""
    shims = os.path.join(root, "shims")
    for pid in _pids_with_arg(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if os.path.isdir(shims):
        for name in os.listdir(shims):
            if name.endswith(".sock"):
                os.unlink(os.path.join(shims, name))


def _pids_with_arg(arg: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if arg.encode() in f.read():
                    out.append(int(d))
        except OSError:
            pass
    return out


@pytest.fixture
def bundle(run_root: str) -> Callable[..., str]:
    n = iter(range(10**6))

    def make(*args: str) -> str:
        d = os.path.join(run_root, "bundles", f"b{next(n)}")
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"process": {"args": list(args), "cwd": "/", "env": ["A=1"]}}, f)
        return d

    return make


@pytest.fixture
async def tm(run_root: str) -> AsyncIterator[TaskManager]:
    m = TaskManager(run_root, runtime="fake")
    yield m
    for sid in list(m.shims):
        with contextlib.suppress(Exception):
            await m.shutdown_shim(sid, force=True)
    await m.close()
