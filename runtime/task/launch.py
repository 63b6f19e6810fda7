"""Starting a shim process: a fresh interpreter that detaches and reports readiness."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from pycri.runtime.task.errors import ShimError


@dataclass
class ShimStartOptions:
    """What the pod asks of its shim. `namespaces`: the ones the pod owns (net, ipc,
    uts), created and pinned by the shim; the others stay the host's."""

    namespaces: list[str] = field(default_factory=list)
    hostname: str = ""
    pid_ns: bool = False
    log_level: str = "INFO"


def shim_argv(command: list[str], sandbox_id: str, run_root: str, runtime_root: str,
              runtime: str, opts: ShimStartOptions) -> list[str]:
    argv = [*command, "--id", sandbox_id, "--run-root", run_root, "--runtime", runtime,
            "--log-level", opts.log_level]
    if runtime_root:
        argv += ["--runtime-root", runtime_root]
    if opts.namespaces:
        argv += ["--namespaces", ",".join(opts.namespaces)]
    if opts.hostname:
        argv += ["--hostname", opts.hostname]
    if opts.pid_ns:
        argv.append("--pid-ns")
    return argv


def default_command() -> list[str]:
    # The same interpreter as the daemon: its venv has pycri. Never the daemon itself:
    # a process with gRPC threads must not fork containers.
    return [sys.executable, "-m", "pycri.runtime.shim.main"]


async def spawn(argv: list[str], timeout: float) -> dict[str, Any]:
    """Run the launcher; it returns once the detached shim serves. Returns its info."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ShimError(f"start shim: not ready after {timeout}s") from None
    try:
        info: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ShimError(f"start shim: exit {proc.returncode}: "
                        f"{err.decode(errors='replace').strip()[-2000:]}") from None
    if not info.get("ok"):
        raise ShimError(f"start shim: {info.get('error', 'failed')}")
    return info
