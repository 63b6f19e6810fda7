"""Namespaces of a container: which to create, which to join by path, in what order."""

from __future__ import annotations

import os

from pycri.runtime.sys import Syscalls
from pycri.runtime.sys import constants as c

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

FLAGS = {
    "pid": c.CLONE_NEWPID, "network": c.CLONE_NEWNET, "mount": c.CLONE_NEWNS,
    "ipc": c.CLONE_NEWIPC, "uts": c.CLONE_NEWUTS, "user": c.CLONE_NEWUSER,
    "cgroup": c.CLONE_NEWCGROUP, "time": c.CLONE_NEWTIME,
}
PROC_NAMES = {
    "pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
    "user": "user", "cgroup": "cgroup", "time": "time",
}
# pid and time namespaces apply to children only: the parent switches its
# *_for_children namespace around the fork so the init is born inside them.
FOR_CHILDREN = ("pid", "time")
# Joining order: user first (it grants the rights for the rest), mount last (it changes
# the paths the others are opened from; they are opened before anyway).
JOIN_ORDER = ("user", "cgroup", "ipc", "uts", "network", "pid", "time", "mount")


class Plan:
    """Namespaces to create (`new`) and to join by path (`join`), in joining order."""

    __slots__ = ("join", "new")

    def __init__(self, new: list[str] | None = None,
                 join: list[tuple[str, str]] | None = None) -> None:
        self.new: list[str] = new if new is not None else []
        self.join: list[tuple[str, str]] = join if join is not None else []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Plan) and (self.new, self.join) == (other.new, other.join)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Plan(new={self.new!r}, join={self.join!r})"

    def has(self, kind: str) -> bool:
        return kind in self.new or any(k == kind for k, _ in self.join)

    def unshare_flags(self, skip: tuple[str, ...] = ()) -> int:
        flags = 0
        for kind in self.new:
            if kind not in skip:
                flags |= FLAGS[kind]
        return flags


def plan(spec: dict[str, Any]) -> Plan:
    out = Plan()
    for ns in (spec.get("linux") or {}).get("namespaces") or ():
        if ns.get("path"):
            out.join.append((ns["type"], ns["path"]))
        else:
            out.new.append(ns["type"])
    out.join.sort(key=lambda kp: JOIN_ORDER.index(kp[0]))
    return out


def open_joins(joins: list[tuple[str, str]]) -> list[tuple[str, int, str]]:
    """Open every namespace path up front (before any setns changes what paths mean)."""
    fds: list[tuple[str, int, str]] = []
    try:
        for kind, path in joins:
            fds.append((kind, os.open(path, os.O_RDONLY | os.O_CLOEXEC), path))
    except OSError as exc:
        for _, fd, _ in fds:
            os.close(fd)
        raise OSError(exc.errno, f"open namespace `{exc.filename}`: "
                      f"{os.strerror(exc.errno or 0)}", exc.filename) from exc
    return fds


def join(sc: Syscalls, fds: list[tuple[str, int, str]], skip: tuple[str, ...] = ()) -> None:
    for kind, fd, path in fds:
        if kind not in skip:
            sc.setns(fd, FLAGS[kind], path)
        os.close(fd)


class ForChildren:
    """Switch this process's pid/time namespace for children around a fork, then back."""

    def __init__(self, sc: Syscalls, targets: Sequence[tuple[str, str | None]]) -> None:
        self.sc = sc
        self.targets = targets
        self.saved: list[tuple[str, int]] = []

    def __enter__(self) -> ForChildren:
        try:
            for kind, path in self.targets:
                own = os.open(f"/proc/self/ns/{PROC_NAMES[kind]}", os.O_RDONLY | os.O_CLOEXEC)
                self.saved.append((kind, own))
                if path is None:
                    self.sc.unshare(FLAGS[kind])
                else:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                    try:
                        self.sc.setns(fd, FLAGS[kind], path)
                    finally:
                        os.close(fd)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for kind, fd in reversed(self.saved):
            try:
                self.sc.setns(fd, FLAGS[kind], f"/proc/self/ns/{PROC_NAMES[kind]}")
            finally:
                os.close(fd)
        self.saved.clear()


def write_id_maps(pid: int, linux: dict[str, Any]) -> None:
    """Write the user namespace's uid/gid maps of `pid` (done by the parent, which is
    privileged in the parent namespace)."""
    for key, name in (("uidMappings", "uid_map"), ("gidMappings", "gid_map")):
        maps = linux.get(key) or []
        if not maps:
            continue
        text = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in maps)
        path = f"/proc/{pid}/{name}"
        try:
            with open(path, "w") as f:
                f.write(text)
        except OSError as exc:
            raise OSError(exc.errno, f"write `{path}`: {os.strerror(exc.errno or 0)}",
                          path) from exc
