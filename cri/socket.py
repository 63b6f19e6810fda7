"""The CRI unix socket: refuse to steal a live one, replace a stale one."""

from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path


class SocketInUse(Exception):
    """Another process is serving on the socket path."""


def claim(path: str) -> None:
    """Make `path` free to bind: create its directory, remove a stale socket file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise SocketInUse(f"bind `{path}`: a file that is not a socket is in the way")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            target.unlink(missing_ok=True)
            return
        raise
    finally:
        probe.close()
    raise SocketInUse(f"bind `{path}`: another pycri is already serving on this socket")


def restrict(path: str) -> None:
    """Owner and group only: the CRI socket gives root-equivalent power."""
    os.chmod(path, 0o660)
