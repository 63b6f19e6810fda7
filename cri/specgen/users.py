"""Who the container process runs as: CRI security context, else the image's USER.

Names are resolved through the image's /etc/passwd and /etc/group, read from its layers
(topmost layer first) without mounting anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pycri.cri.errors import InvalidArgument


@dataclass(frozen=True)
class ProcessUser:
    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)
    username: str = ""


def read_image_file(layers: Sequence[str], relative: str) -> str | None:
    """The file as the merged rootfs would show it; `layers` are ordered lowest first."""
    parts = Path(relative.lstrip("/"))
    for layer in reversed(layers):
        candidate = Path(layer) / parts
        whiteout = candidate.parent / f".wh.{candidate.name}"
        if candidate.is_file():
            try:
                return candidate.read_text(errors="replace")
            except OSError:
                return None
        if whiteout.exists() or (candidate.parent.is_dir() and candidate.parent.is_symlink()):
            return None
    return None


def _parse_colon_file(text: str | None) -> list[list[str]]:
    if not text:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _passwd_entry(layers: Sequence[str], name: str | None = None,
                  uid: int | None = None) -> tuple[str, int, int] | None:
    for fields in _parse_colon_file(read_image_file(layers, "etc/passwd")):
        if len(fields) < 4 or not fields[2].isdigit() or not fields[3].isdigit():
            continue
        if (name is not None and fields[0] == name) or (uid is not None and int(fields[2]) == uid):
            return fields[0], int(fields[2]), int(fields[3])
    return None


def _group_id(layers: Sequence[str], name: str) -> int | None:
    for fields in _parse_colon_file(read_image_file(layers, "etc/group")):
        if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    return None


def _member_gids(layers: Sequence[str], username: str) -> list[int]:
    gids = []
    for fields in _parse_colon_file(read_image_file(layers, "etc/group")):
        if len(fields) >= 4 and fields[2].isdigit() and username in fields[3].split(","):
            gids.append(int(fields[2]))
    return gids


def resolve_user(
    *,
    image_user: str,
    layers: Sequence[str],
    run_as_user: int | None,
    run_as_username: str,
    run_as_group: int | None,
    supplemental_groups: Sequence[int],
    strict_groups: bool,
) -> ProcessUser:
    """Pick uid/gid/groups by the Kubernetes rules; names must exist in the image."""
    if run_as_group is not None and run_as_user is None and not run_as_username:
        # A group alone would silently pair with the image's user; kubelet never sends it.
        raise InvalidArgument(
            f"resolve user: run_as_group {run_as_group} is set without run_as_user")
    username = ""
    gid: int | None = None
    if run_as_user is not None:
        uid = run_as_user
        entry = _passwd_entry(layers, uid=uid)
        if entry:
            username, _, gid = entry
    elif run_as_username:
        entry = _passwd_entry(layers, name=run_as_username)
        if entry is None:
            raise InvalidArgument(
                f"resolve user `{run_as_username}`: no such user in the image's /etc/passwd"
            )
        username, uid, gid = entry
    else:
        uid, gid, username = _from_image_user(image_user, layers)
    if run_as_group is not None:
        gid = run_as_group
    primary = gid if gid is not None else 0
    # The primary group leads the list: setgroups() must keep it, and ContainerStatus
    # reports it among the supplemental groups as kubelet and critest expect.
    groups: list[int] = [primary]
    if username and not strict_groups:
        groups += _member_gids(layers, username)
    groups += list(supplemental_groups)
    deduped = [g for i, g in enumerate(groups) if g not in groups[:i]]
    return ProcessUser(uid=uid, gid=primary, additional_gids=deduped, username=username)


def _from_image_user(spec: str, layers: Sequence[str]) -> tuple[int, int | None, str]:
    if not spec:
        return 0, 0, "root"
    user, _, group = spec.partition(":")
    username = ""
    gid: int | None = None
    if user.isdigit():
        uid = int(user)
        entry = _passwd_entry(layers, uid=uid)
        if entry:
            username, _, gid = entry
    else:
        entry = _passwd_entry(layers, name=user)
        if entry is None:
            raise InvalidArgument(f"resolve image user `{user}`: no such user in /etc/passwd")
        username, uid, gid = entry
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            found = _group_id(layers, group)
            if found is None:
                raise InvalidArgument(f"resolve image group `{group}`: no such group in /etc/group")
            gid = found
    return uid, gid, username
