"""The container's on-disk record (`<root>/<id>/state.json`) and its lifecycle status."""

from __future__ import annotations

import os
import time

from pycri.runtime.oci.errors import ContainerNotFound, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

STATE_FILE = "state.json"
EXEC_FIFO = "exec.fifo"
_ID_EXTRA = frozenset("_+.-")


class Status:
    """Lifecycle status: one shared instance per value, compared with `is`.

    Not an enum.Enum: `enum` costs every pyrunc call ~3 ms to import.
    """

    __slots__ = ("value",)
    CREATING: ClassVar[Status]
    CREATED: ClassVar[Status]
    RUNNING: ClassVar[Status]
    PAUSED: ClassVar[Status]
    STOPPED: ClassVar[Status]

    def __init__(self, value: str) -> None:
        self.value = value

    @property
    def name(self) -> str:
        return self.value.upper()

    def __repr__(self) -> str:
        return f"<Status.{self.name}: {self.value!r}>"

    def can_start(self) -> bool:
        return self is Status.CREATED

    def can_kill(self) -> bool:
        return self in (Status.CREATED, Status.RUNNING, Status.PAUSED)

    def can_delete(self) -> bool:
        return self in (Status.CREATED, Status.STOPPED)

    def can_exec(self) -> bool:
        return self in (Status.CREATED, Status.RUNNING)


for _value in ("creating", "created", "running", "paused", "stopped"):
    setattr(Status, _value.upper(), Status(_value))


def _valid_id(container_id: str) -> bool:
    return all(ch.isalnum() or ch in _ID_EXTRA for ch in container_id)


def check_id(container_id: str) -> None:
    if not container_id or not _valid_id(container_id) or container_id in (".", ".."):
        raise InvalidArgument(f"invalid container id `{container_id}`")


def container_dir(root: str, container_id: str) -> str:
    check_id(container_id)
    return os.path.join(root, container_id)


def rfc3339_now() -> str:
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """temp → rename, so a reader sees the old or the new file, never half.

    No fsync: these files describe live processes, which a crash or reboot takes with
    them, so they never need to outlive the kernel's page cache (and /run is tmpfs).
    """
    tmp = f"{os.path.dirname(path)}/.{os.path.basename(path)}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def save(cdir: str, record: dict[str, Any]) -> None:
    from pycri.runtime.oci import fastjson

    write_atomic(os.path.join(cdir, STATE_FILE), fastjson.dumps(record).encode())


def read(root: str, container_id: str) -> dict[str, Any]:
    from pycri.runtime.oci import fastjson

    cdir = container_dir(root, container_id)
    try:
        with open(os.path.join(cdir, STATE_FILE), "rb") as f:
            record: dict[str, Any] = fastjson.loads(f.read())
    except (FileNotFoundError, NotADirectoryError):
        raise ContainerNotFound(container_id) from None
    except ValueError as exc:
        raise ContainerNotFound(container_id) from exc
    return record


def list_ids(root: str) -> list[str]:
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    # Hidden entries are deletes in progress.
    return sorted(n for n in names if not n.startswith(".")
                  and os.path.exists(os.path.join(root, n, STATE_FILE)))


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in ticks), None if gone or a zombie.

    Comparing it with the recorded value tells our process from a reuse of its pid.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rfind(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def process_alive(record: dict[str, Any]) -> bool:
    pid = record.get("pid") or 0
    if pid <= 0:
        return False
    start = proc_start_time(pid)
    return start is not None and start == record.get("pid_start")
