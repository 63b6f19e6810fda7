"""A stand-in for `pycri.runtime.oci.container.Container` that runs bundles on the host.

Same surface as the real library (create parks the init until start; exec forks a child
of the caller), but no namespaces, mounts or cgroups: the process is `process.args` of
the bundle's config.json run as a plain host process. Lets the shim and the task manager
be tested without the runtime and without root.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

_STATE = "fake-state.json"


def _proc_start_time(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return -1
    return int(stat.rsplit(b")", 1)[1].split()[19])


def _alive(pid: int, start_time: int) -> bool:
    return pid > 0 and _proc_start_time(pid) == start_time


def _child_exec(
    process: dict[str, Any], stdio: tuple[int, int, int] | None, console: str | None,
    gate: int | None,
) -> None:
    """Runs in the forked child; never returns."""
    try:
        if console is None:
            os.setpgid(0, 0)  # kill(all=True) signals the group
        if console is not None:
            _wire_console(console)
        elif stdio is not None:
            for target, fd in enumerate(stdio):
                if fd != target:
                    os.dup2(fd, target)
                else:
                    os.set_inheritable(fd, True)
        if gate is not None:
            os.read(gate, 1)  # parked until start() writes or closes the other end
        env = dict(e.split("=", 1) for e in process.get("env", []) if "=" in e)
        env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        cwd = process.get("cwd") or "/"
        os.chdir(cwd if os.path.isdir(cwd) else "/")
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        args = process["args"]
        os.execvpe(args[0], args, env)
    except BaseException:
        os._exit(127)


def _wire_console(console_socket: str) -> None:
    import pty
    import socket

    master, slave = pty.openpty()
    os.setsid()
    # Opening the slave after setsid makes it our controlling terminal.
    import fcntl
    import termios

    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(console_socket)
        socket.send_fds(s, [b"pty"], [master])
    os.close(master)
    for target in range(3):
        os.dup2(slave, target)
    if slave > 2:
        os.close(slave)


class Container:
    def __init__(self, root: str, container_id: str, state: dict[str, Any]) -> None:
        self.root = root
        self.id = container_id
        self._state = state
        self.pid: int = state["pid"]
        self.bundle: str = state["bundle"]
        self._gate: int | None = None

    @property
    def _dir(self) -> str:
        return os.path.join(self.root, self.id)

    def _save(self) -> None:
        tmp = os.path.join(self._dir, _STATE + ".tmp")
        with open(tmp, "w") as f:
            json.dump(self._state, f)
        os.rename(tmp, os.path.join(self._dir, _STATE))

    @classmethod
    def create(
        cls, root: str, container_id: str, bundle: str, *,
        stdio: tuple[int, int, int] | None = None, console_socket: str | None = None,
        pid_file: str | None = None, no_pivot: bool = False, preserve_fds: int = 0,
    ) -> Container:
        cdir = os.path.join(root, container_id)
        os.makedirs(cdir)
        with open(os.path.join(bundle, "config.json")) as f:
            spec = json.load(f)
        gate_r, gate_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(gate_w)
            _child_exec(spec["process"], stdio, console_socket, gate_r)
        os.close(gate_r)
        state = {"pid": pid, "bundle": bundle, "status": "created",
                 "start_time": _proc_start_time(pid)}
        c = cls(root, container_id, state)
        c._gate = gate_w
        c._save()
        if pid_file:
            with open(pid_file, "w") as f:
                f.write(str(pid))
        return c

    @classmethod
    def load(cls, root: str, container_id: str) -> Container:
        try:
            with open(os.path.join(root, container_id, _STATE)) as f:
                state = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"load container `{container_id}`: not found") from None
        return cls(root, container_id, state)

    def start(self) -> None:
        gate = getattr(self, "_gate", None)
        if gate is None:
            raise RuntimeError(f"start container `{self.id}`: not created by this process")
        os.write(gate, b"x")
        os.close(gate)
        self._gate = None
        self._state["status"] = "running"
        self._save()

    def state(self) -> dict[str, Any]:
        alive = _alive(self.pid, self._state["start_time"])
        status = self._state["status"] if alive else "stopped"
        return {"ociVersion": "1.0.2", "id": self.id, "pid": self.pid, "status": status,
                "bundle": self.bundle}

    def kill(self, sig: int, all: bool = False) -> None:
        if not _alive(self.pid, self._state["start_time"]):
            return
        if all:
            os.killpg(self.pid, sig)
        else:
            os.kill(self.pid, sig)

    def delete(self, force: bool = False) -> None:
        if _alive(self.pid, self._state["start_time"]):
            if not force:
                raise RuntimeError(f"delete container `{self.id}`: still running")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        import shutil

        shutil.rmtree(self._dir, ignore_errors=True)

    def exec(
        self, process: dict[str, Any], *, stdio: tuple[int, int, int] | None = None,
        console_socket: str | None = None, pid_file: str | None = None,
    ) -> int:
        pid = os.fork()
        if pid == 0:
            _child_exec(process, stdio, console_socket, None)
        return pid

    def pause(self) -> None:
        os.killpg(self.pid, signal.SIGSTOP)
        self._state["status"] = "paused"
        self._save()

    def resume(self) -> None:
        os.killpg(self.pid, signal.SIGCONT)
        self._state["status"] = "running"
        self._save()

    def update(self, resources: dict[str, Any]) -> None:
        self._state["resources"] = resources
        self._save()

    def pids(self) -> list[int]:
        return [self.pid] if _alive(self.pid, self._state["start_time"]) else []
