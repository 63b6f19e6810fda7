"""terminal via --console-socket; no fd leaks; preserved fds; the runtime's interpreter
unreachable from the container while the init is parked."""

from __future__ import annotations

import os
import socket

import pytest

pytestmark = pytest.mark.root


def test_console_socket_receives_pty_master(make_bundle, spec_for, state_root, cid, tmp_path):
    from pycri.runtime.oci.console import recv_master
    from pycri.runtime.oci.container import Container

    spec = spec_for(["sh", "-c", "tty; test -t 0 && echo is-a-tty"])
    spec["process"]["terminal"] = True
    path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    try:
        c = Container.create(state_root, cid, make_bundle([], spec=spec), console_socket=path)
        conn, _ = listener.accept()
        master = recv_master(conn)
        conn.close()
        c.start()
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the slave side is closed
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        os.waitpid(c.pid, 0)
        c.delete()
    finally:
        listener.close()
    lines = out.decode().split()
    assert lines[0].startswith("/dev/pts/")
    assert lines[1] == "is-a-tty"


def test_no_fd_leaks_and_preserved_fds(make_bundle, run, tmp_path):
    leak = os.open(str(tmp_path / "leak"), os.O_CREAT | os.O_RDWR)
    os.set_inheritable(leak, True)
    try:
        code, out = run(make_bundle(["sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"]))
    finally:
        os.close(leak)
    assert code == 0, out
    # 0-2 and the fd ls itself opens for the listing.
    assert len(out.split()) == 4, out


def test_runtime_interpreter_not_reachable_from_container(make_bundle, spec_for, state_root,
                                                          cid):
    from pycri.runtime.oci.container import Container

    c = Container.create(state_root, cid, make_bundle(["true"]))
    try:
        r, w = os.pipe()
        # Default caps: no CAP_SYS_PTRACE. The parked init (pid 1) is this interpreter.
        proc = {"args": ["sh", "-c", "readlink /proc/1/exe || echo denied; "
                         "readlink /proc/1/fd/0 || echo fd-denied"],
                "cwd": "/", "env": ["PATH=/bin"],
                "capabilities": {k: ["CAP_KILL", "CAP_CHOWN", "CAP_DAC_OVERRIDE"] for k in (
                    "bounding", "effective", "permitted")}}
        pid = c.exec(proc, stdio=(0, w, w))
        os.close(w)
        os.waitpid(pid, 0)
        out = os.read(r, 4096).decode()
        os.close(r)
    finally:
        c.delete(force=True)
        os.waitpid(c.pid, 0)
    assert "python" not in out
    assert "denied" in out and "fd-denied" in out
