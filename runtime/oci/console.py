"""The container's terminal: a pty from the container's own devpts, master sent out.

The caller's `--console-socket` is connected before the init pivots (its path lives on the
host); the init opens the pty after the pivot so it belongs to the container's devpts, sends
the master over the socket with SCM_RIGHTS and makes the slave its controlling terminal.
"""

from __future__ import annotations

import os
import socket
import struct


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"connect console socket `{path}`: "
                      f"{os.strerror(exc.errno or 0)}", path) from exc
    return sock


def open_pty() -> tuple[int, str]:
    import fcntl

    from pycri.runtime.sys.constants import TIOCGPTN, TIOCSPTLCK

    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        num = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"))[0]
    except BaseException:
        os.close(master)
        raise
    return master, f"/dev/pts/{num}"


def send_master(sock: socket.socket, master: int, name: str) -> None:
    socket.send_fds(sock, [name.encode()], [master])


def setup_terminal(sock: socket.socket) -> None:
    """In the container: create the pty, hand the master out, slave becomes stdio."""
    import fcntl

    from pycri.runtime.sys.constants import TIOCSCTTY

    master, slave_path = open_pty()
    try:
        slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
        send_master(sock, master, slave_path)
    finally:
        os.close(master)
        sock.close()
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)
    fcntl.ioctl(0, TIOCSCTTY, 0)


def recv_master(sock: socket.socket) -> int:
    """The receiving end (tests, `pyrunc run` with a tty): the master pty fd."""
    _, fds, _, _ = socket.recv_fds(sock, 4096, 1)
    if not fds:
        raise OSError(71, "console socket: no fd received")
    return fds[0]
