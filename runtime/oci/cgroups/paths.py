"""cgroupsPath resolution and cgroupfs layout detection.

The OCI spec (and runc's cgroupfs driver) read `linux.cgroupsPath` so:
an absolute path is relative to each hierarchy's root; a relative path is relative
to the cgroup of the calling process in that hierarchy; an empty one defaults to the
container id, relative like the above.
"""

from __future__ import annotations

import os
import posixpath

from pycri.runtime.oci.cgroups.errors import CgroupError

SELF_CGROUP = "/proc/self/cgroup"


class Layout:
    """The three layouts, as interned strings (`is` compares them): `enum` costs each
    pyrunc call that opens a cgroup manager ~1-3 ms to import."""

    V1 = "v1"  # per-controller hierarchies only
    HYBRID = "hybrid"  # v1 controllers plus cgroup2 at <root>/unified
    V2 = "v2"  # cgroup2 mounted at <root>


def detect_layout(root: str) -> str:
    """Tell the layout from the files the kernel puts at each hierarchy's root."""
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        return Layout.V2
    if not os.path.isdir(root):
        raise CgroupError(f"detect cgroup layout in `{root}`: no such directory")
    if os.path.exists(os.path.join(root, "unified", "cgroup.controllers")):
        return Layout.HYBRID
    return Layout.V1


def clean_inner(cgroups_path: str, container_id: str) -> tuple[str, bool]:
    """Normalise cgroupsPath; returns (path, is_absolute).

    `..` can never climb above the hierarchy root (or the caller's cgroup), because
    the path is cleaned as if it hung below `/` before being made relative again.
    """
    if not cgroups_path:
        if not container_id:
            raise CgroupError("resolve cgroupsPath: empty path and empty container id")
        cgroups_path = container_id
    absolute = cgroups_path.startswith("/")
    cleaned = posixpath.normpath("/" + cgroups_path).lstrip("/")
    if not cleaned:
        raise CgroupError(f"resolve cgroupsPath `{cgroups_path}`: names the hierarchy root")
    return cleaned, absolute


def parse_self_cgroup(text: str) -> dict[str, str]:
    """Map each controller (and `name=...` group, and "" for cgroup2) to its path."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _hid, controllers, path = parts
        if not controllers:
            out[""] = path
            continue
        for ctrl in controllers.split(","):
            out[ctrl] = path
    return out


def own_cgroups(self_cgroup_file: str = SELF_CGROUP) -> dict[str, str]:
    try:
        with open(self_cgroup_file, encoding="ascii") as f:
            return parse_self_cgroup(f.read())
    except OSError as exc:
        raise CgroupError(f"read `{self_cgroup_file}`: {exc.strerror}") from exc


def join_under(mount: str, parent: str, inner: str) -> str:
    """Join the pieces and keep the result below `mount`."""
    rel = posixpath.normpath("/" + posixpath.join(parent.lstrip("/"), inner)).lstrip("/")
    return os.path.join(mount, rel)
