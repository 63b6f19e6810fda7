"""The pod's network namespace, made and pinned by the daemon itself.

Owning the pin (rather than leaving it to the shim) lets CNI ADD run while the shim starts,
and keeps the namespace alive until the pod is removed even if its shim dies, so CNI DEL
always finds it. The namespace is made on a thread of its own: unshare(CLONE_NEWNET) moves
only the calling thread, which then ends; no process is forked from the daemon.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading

from pycri.runtime import sys as kernel
from pycri.runtime.sys import constants as c


def create(path: str) -> str:
    """Create a network namespace pinned at `path`; returns `path`."""
    os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)
    with open(path, "x"):
        pass
    failure: list[BaseException] = []

    def make() -> None:
        try:
            kernel.unshare(c.CLONE_NEWNET)
            own = f"/proc/self/task/{threading.get_native_id()}/ns/net"
            kernel.mount(own, path, None, c.MS_BIND)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=make, name="netns-pin")
    worker.start()
    worker.join()
    if failure:
        remove(path)
        raise failure[0]
    return path


def remove(path: str) -> None:
    """Unpin and delete; idempotent."""
    with contextlib.suppress(OSError):
        kernel.umount2(path, c.MNT_DETACH)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
