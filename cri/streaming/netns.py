"""Connect to a TCP port inside a pod's network namespace.

setns(CLONE_NEWNET) changes only the calling thread's namespace, and a socket stays in
the namespace it was created in. So a throwaway thread joins the pod's namespace, creates
and connects the socket, and exits; no thread ever leaves that namespace to do anything
else, and the caller's threads are untouched.
"""

from __future__ import annotations

import os
import socket
import threading

CLONE_NEWNET = 0x40000000


def _setns(fd: int, path: str) -> None:
    if hasattr(os, "setns"):  # Python 3.12+
        os.setns(fd, CLONE_NEWNET)
        return
    from pycri.runtime.sys import setns

    setns(fd, CLONE_NEWNET, path)


def netns_connect(
    netns_path: str, port: int, host: str = "127.0.0.1", timeout: float = 10.0
) -> socket.socket:
    """A connected, blocking TCP socket to host:port in the namespace at netns_path.
    Blocking: call it through `asyncio.to_thread` from the event loop."""
    result: list[socket.socket] = []
    error: list[BaseException] = []

    def enter_and_connect() -> None:
        try:
            fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd, netns_path)
            finally:
                os.close(fd)
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect((host, port))
                sock.settimeout(None)
            except BaseException:
                sock.close()
                raise
            result.append(sock)
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=enter_and_connect, name=f"netns-connect-{port}", daemon=True)
    thread.start()
    thread.join()
    if error:
        exc = error[0]
        if isinstance(exc, OSError):
            msg = f"connect to {host}:{port} in `{netns_path}`: {exc.strerror}"
            raise OSError(exc.errno, msg) from exc
        raise exc
    return result[0]
