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

# What shims import, now or when they first create or exec a container: loaded once here
# and shared copy-on-write by every shim. Command-line-only modules stay out.
WARM_PACKAGES = ("pycri.runtime.shim", "pycri.runtime.oci", "pycri.runtime.sys")
COLD_MODULES = frozenset({
    "pycri.runtime.shim.fake_runtime", "pycri.runtime.shim.factory", "pycri.runtime.oci.cli",
    "pycri.runtime.oci.cli_commands", "pycri.runtime.oci.clilog", "pycri.runtime.sys.fake",
})
WARM_STDLIB = ("json", "fcntl", "time", "subprocess", "shutil", "resource", "termios", "pty",
               "select", "tempfile", "ctypes", "ctypes.util")
MAX_REQUEST = 64 * 1024


def _warm() -> None:
    import importlib
    import pkgutil

    for name in WARM_STDLIB:
        importlib.import_module(name)
    for package_name in WARM_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            if info.name not in COLD_MODULES:
                with contextlib.suppress(ImportError):
                    importlib.import_module(info.name)


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
