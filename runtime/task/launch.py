"""Starting a shim process: a fresh interpreter that detaches and reports readiness."""

from __future__ import annotations

import asyncio
import json
import os
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


# Without `site` (-S) the shim saves ~2.3 MB for its whole life (site-packages .pth
# hooks import pathlib, urllib, ...). It then finds pycri through the package root the
# daemon itself imported: the shim needs nothing outside pycri and the standard library.
_BOOT = ("import sys;m=type(sys)('pycri');m.__path__=[sys.argv.pop(1)];"
         "sys.modules['pycri']=m;from pycri.runtime.shim.main import main;sys.exit(main())")


def default_command() -> list[str]:
    """The same interpreter as the daemon, never the daemon itself: a process with
    gRPC threads must not fork containers."""
    import pycri.runtime

    pkg_root = os.path.dirname(os.path.abspath(next(iter(pycri.runtime.__path__))))
    return [sys.executable, "-S", "-c", _BOOT, pkg_root]


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
