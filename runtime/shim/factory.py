"""The shim factory: a warm, single-threaded interpreter that forks new pod shims.

Starting a shim as a fresh interpreter costs ~60 ms of imports; forking one from a process
that already holds them costs a few. The factory never runs pods itself: each request is
handled in a forked child that detaches the shim (fork, setsid, fork) exactly as
`pycri-shim` does, so shims never depend on the factory. The factory exits when its parent
(the daemon) closes stdin, its lifeline; shims keep running.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import socket

from pycri.runtime.shim import main as shim_main

# What every shim will import: loaded once here, shared copy-on-write by all shims.
WARM_MODULES = (
    "pycri.runtime.shim.server",
    "pycri.runtime.oci.container",
    "pycri.runtime.oci.init",
    "pycri.runtime.oci.execproc",
    "pycri.runtime.oci.cgroups",
    "pycri.runtime.oci.seccomp",
    "pycri.runtime.oci.capabilities",
)
MAX_REQUEST = 64 * 1024


def _warm() -> None:
    import importlib

    for name in WARM_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _handle(conn: socket.socket, listener: socket.socket) -> None:
    """In a forked child: start one shim and report to the requester."""
    listener.close()
    try:
        request = b""
        while not request.endswith(b"\n") and len(request) < MAX_REQUEST:
            chunk = conn.recv(MAX_REQUEST)
            if not chunk:
                break
            request += chunk
        opts, args = shim_main.parse(json.loads(request))
        conn.sendall(shim_main.detach(opts, args, (conn.fileno(),)) + b"\n")
    except BaseException as exc:
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"ok": False, "error": f"shim factory: {exc}"}).encode()
                         + b"\n")
    os._exit(0)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(path: str) -> int:
    _warm()
    # Objects made so far are never collected: the collector then leaves their pages alone
    # and the forked shims keep sharing them with the factory instead of copying.
    gc.collect()
    gc.freeze()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(128)
    sys_stdout = os.fdopen(1, "w")
    sys_stdout.write("ready\n")
    sys_stdout.flush()
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(0, selectors.EVENT_READ, "lifeline")
    try:
        while True:
            for key, _ in selector.select(timeout=1.0):
                if key.data == "lifeline":
                    if not os.read(0, 4096):
                        return 0
                    continue
                conn, _ = listener.accept()
                if os.fork() == 0:
                    selector.close()
                    _handle(conn, listener)
                conn.close()
            _reap()
    finally:
        listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
