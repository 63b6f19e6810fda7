"""Translating OCI mount options into mount(2) flags, propagation and fs data."""

from __future__ import annotations

from pycri.runtime.sys import constants as c

# option -> (clear?, flag)
_FLAGS: dict[str, tuple[bool, int]] = {
    "ro": (False, c.MS_RDONLY), "rw": (True, c.MS_RDONLY),
    "nosuid": (False, c.MS_NOSUID), "suid": (True, c.MS_NOSUID),
    "nodev": (False, c.MS_NODEV), "dev": (True, c.MS_NODEV),
    "noexec": (False, c.MS_NOEXEC), "exec": (True, c.MS_NOEXEC),
    "sync": (False, c.MS_SYNCHRONOUS), "async": (True, c.MS_SYNCHRONOUS),
    "dirsync": (False, c.MS_DIRSYNC),
    "mand": (False, c.MS_MANDLOCK), "nomand": (True, c.MS_MANDLOCK),
    "noatime": (False, c.MS_NOATIME), "atime": (True, c.MS_NOATIME),
    "nodiratime": (False, c.MS_NODIRATIME), "diratime": (True, c.MS_NODIRATIME),
    "relatime": (False, c.MS_RELATIME), "norelatime": (True, c.MS_RELATIME),
    "strictatime": (False, c.MS_STRICTATIME), "nostrictatime": (True, c.MS_STRICTATIME),
    "lazytime": (False, c.MS_LAZYTIME), "nolazytime": (True, c.MS_LAZYTIME),
    "nosymfollow": (False, c.MS_NOSYMFOLLOW), "symfollow": (True, c.MS_NOSYMFOLLOW),
    "bind": (False, c.MS_BIND), "rbind": (False, c.MS_BIND | c.MS_REC),
    "remount": (False, c.MS_REMOUNT),
}

PROPAGATION: dict[str, int] = {
    "private": c.MS_PRIVATE, "rprivate": c.MS_PRIVATE | c.MS_REC,
    "shared": c.MS_SHARED, "rshared": c.MS_SHARED | c.MS_REC,
    "slave": c.MS_SLAVE, "rslave": c.MS_SLAVE | c.MS_REC,
    "unbindable": c.MS_UNBINDABLE, "runbindable": c.MS_UNBINDABLE | c.MS_REC,
}

# Options handled by the runtime itself, never passed to the kernel.
_IGNORED = {"tmpcopyup", "defaults"}


class MountOptions:
    # A plain class, not a dataclass: `dataclasses` costs the CLI ~6 ms to import.
    __slots__ = ("data", "flags", "propagation")

    def __init__(self, flags: int = 0, propagation: list[int] | None = None,
                 data: list[str] | None = None) -> None:
        self.flags = flags
        self.propagation: list[int] = propagation if propagation is not None else []
        self.data: list[str] = data if data is not None else []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MountOptions) and (
            self.flags, self.propagation, self.data) == (
            other.flags, other.propagation, other.data)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        return (f"MountOptions(flags={self.flags!r}, propagation={self.propagation!r}, "
                f"data={self.data!r})")

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & c.MS_BIND)

    @property
    def data_str(self) -> str | None:
        return ",".join(self.data) or None


def parse(options: list[str] | None) -> MountOptions:
    out = MountOptions()
    for opt in options or ():
        if opt in _FLAGS:
            clear, flag = _FLAGS[opt]
            out.flags = out.flags & ~flag if clear else out.flags | flag
        elif opt in PROPAGATION:
            out.propagation.append(PROPAGATION[opt])
        elif opt not in _IGNORED:
            out.data.append(opt)
    return out


# Flags a bind remount must keep: in a user namespace the kernel refuses to clear them
# ("locked" flags), so a remount carries over what the source already has.
_LOCKED = (
    (c.ST_NOSUID, c.MS_NOSUID), (c.ST_NODEV, c.MS_NODEV), (c.ST_NOEXEC, c.MS_NOEXEC),
    (c.ST_NOATIME, c.MS_NOATIME), (c.ST_NODIRATIME, c.MS_NODIRATIME),
    (c.ST_RELATIME, c.MS_RELATIME),
)


def locked_flags(path: str) -> int:
    import os

    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return sum(ms for st_flag, ms in _LOCKED if st.f_flag & st_flag)
