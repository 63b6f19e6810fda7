"""The one place CNI plugins are executed: a runner seam and its subprocess implementation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass
from typing import Protocol

from pycri.cni.errors import PluginNotFoundError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExecResult:
    returncode: int
    stdout: bytes
    stderr: bytes


class PluginRunner(Protocol):
    """Runs one plugin binary to completion. Raises TimeoutError after killing a
    plugin that ran past `timeout`, and OSError when it cannot be started."""

    async def run(
        self, path: str, env: dict[str, str], stdin: bytes, timeout: float
    ) -> ExecResult: ...


def _kill_group(pid: int) -> None:
    # Plugins fork helpers (iptables, IPAM plugins) that inherit stdout; killing the
    # whole group keeps a stuck helper from holding the pipe open.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class SubprocessRunner:
    """Runs plugins with asyncio subprocesses, each in its own process group."""

    async def run(
        self, path: str, env: dict[str, str], stdin: bytes, timeout: float
    ) -> ExecResult:
        proc = await asyncio.create_subprocess_exec(
            path,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
        except BaseException:
            # Timeout or cancellation: never leave the plugin running behind us.
            _kill_group(proc.pid)
            with contextlib.suppress(Exception):
                await asyncio.shield(proc.wait())
            raise
        assert proc.returncode is not None
        return ExecResult(proc.returncode, out, err)


def find_plugin(plugin_type: str, bin_dirs: list[str], network: str = "") -> str:
    """Path of the first executable named `plugin_type` on `bin_dirs`."""
    for directory in bin_dirs:
        path = os.path.join(directory, plugin_type)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise PluginNotFoundError(plugin_type, bin_dirs, network)
