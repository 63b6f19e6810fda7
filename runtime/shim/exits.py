"""Durable exit records: `<run root>/exits/<container-id>`, written before any report.

The record outlives the shim, so a daemon that finds the shim dead still learns the
real exit code. Written temp → fsync → rename → fsync(dir).
"""

from __future__ import annotations

import contextlib
import json
import os

REASON_COMPLETED = "Completed"
REASON_ERROR = "Error"
REASON_OOM = "OOMKilled"
REASON_SHIM_DIED = "ShimDied"


_FIELDS = ("container_id", "pid", "exit_code", "exited_at", "reason", "message")


class ExitRecord:
    """How a container ended. A plain class: dataclasses costs the shim 1.4 MB."""

    __slots__ = _FIELDS

    def __init__(self, container_id: str, pid: int, exit_code: int, exited_at: int,
                 reason: str, message: str = "") -> None:
        self.container_id = container_id
        self.pid = pid
        self.exit_code = exit_code
        self.exited_at = exited_at  # ns since the epoch
        self.reason = reason
        self.message = message

    def to_dict(self) -> dict[str, object]:
        return {f: getattr(self, f) for f in _FIELDS}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExitRecord) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ExitRecord({self.to_dict()!r})"

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> ExitRecord:
        return cls(
            container_id=str(d["container_id"]),
            pid=int(d["pid"]),  # type: ignore[call-overload]
            exit_code=int(d["exit_code"]),  # type: ignore[call-overload]
            exited_at=int(d["exited_at"]),  # type: ignore[call-overload]
            reason=str(d.get("reason", "")),
            message=str(d.get("message", "")),
        )


def reason_for(exit_code: int, oom: bool) -> str:
    if oom:
        return REASON_OOM
    return REASON_COMPLETED if exit_code == 0 else REASON_ERROR


def exits_dir(run_root: str) -> str:
    return os.path.join(run_root, "exits")


def write(run_root: str, rec: ExitRecord) -> None:
    d = exits_dir(run_root)
    os.makedirs(d, mode=0o700, exist_ok=True)
    final = os.path.join(d, rec.container_id)
    tmp = os.path.join(d, f".{rec.container_id}.tmp")
    data = json.dumps(rec.to_dict()).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, final)
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read(run_root: str, container_id: str) -> ExitRecord | None:
    try:
        with open(os.path.join(exits_dir(run_root), container_id), "rb") as f:
            return ExitRecord.from_dict(json.loads(f.read()))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        # A torn record cannot exist (rename is atomic); a garbled one is not ours to trust.
        return None


def remove(run_root: str, container_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(exits_dir(run_root), container_id))
