"""Reading, writing and parsing cgroupfs files.

Every function takes the cgroup directory, so the managers work the same on the real
cgroupfs and on a temp dir seeded with files in unit tests.
"""

from __future__ import annotations

import os

from pycri.runtime.oci.cgroups.errors import read_error, write_error
from pycri.runtime.oci.lazylog import get_logger

log = get_logger(__name__)


def write(directory: str, name: str, value: str) -> None:
    """Write one value with a single write(2), as the kernel parses each write whole."""
    path = os.path.join(directory, name)
    data = value.encode()
    try:
        # O_TRUNC keeps temp-dir fakes readable; cgroupfs ignores it.
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except OSError as exc:
        raise write_error(name, value, directory, exc) from exc
    try:
        os.write(fd, data)
    except OSError as exc:
        raise write_error(name, value, directory, exc) from exc
    finally:
        os.close(fd)
    log.debug("cgroup write file=%s value=%s dir=%s", name, value.strip(), directory)


def read(directory: str, name: str) -> str:
    try:
        with open(os.path.join(directory, name), encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError as exc:
        raise read_error(name, directory, exc) from exc


def read_optional(directory: str, name: str) -> str | None:
    """Read a file the kernel may not offer (an absent controller or an old kernel)."""
    try:
        with open(os.path.join(directory, name), encoding="ascii", errors="replace") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        # ENODEV/EOPNOTSUPP: the file exists but the feature is off (e.g. PSI disabled).
        log.debug("cgroup read skipped file=%s dir=%s err=%s", name, directory, exc)
        return None


def exists(directory: str, name: str) -> bool:
    return os.path.exists(os.path.join(directory, name))


def parse_int(text: str) -> int | None:
    """Parse a single number; `max` (v2) means no limit and maps to None."""
    value = text.strip()
    if value in ("", "max"):
        return None
    return int(value)


def read_int(directory: str, name: str) -> int | None:
    text = read_optional(directory, name)
    if text is None:
        return None
    try:
        return parse_int(text)
    except ValueError:
        return None


def parse_flat_keyed(text: str) -> dict[str, int]:
    """Parse `key value` lines (memory.stat, cpu.stat, memory.events, oom_control)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        try:
            out[parts[0]] = int(parts[1])
        except ValueError:
            continue
    return out


def parse_nested_keyed(text: str) -> dict[str, dict[str, str]]:
    """Parse `name k=v k=v` lines (io.stat, *.pressure, io.max)."""
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        fields: dict[str, str] = {}
        for item in parts[1:]:
            key, sep, val = item.partition("=")
            if sep:
                fields[key] = val
        out[parts[0]] = fields
    return out


def parse_psi(text: str) -> dict[str, dict[str, float | int]]:
    """Parse a PSI file into {"some": {...}, "full": {...}}."""
    out: dict[str, dict[str, float | int]] = {}
    for kind, fields in parse_nested_keyed(text).items():
        if kind not in ("some", "full"):
            continue
        entry: dict[str, float | int] = {}
        for key in ("avg10", "avg60", "avg300"):
            if key in fields:
                entry[key] = float(fields[key])
        if "total" in fields:
            entry["total"] = int(fields["total"])
        out[kind] = entry
    return out


def read_pids(directory: str, name: str = "cgroup.procs") -> list[int]:
    text = read_optional(directory, name)
    if text is None:
        return []
    return [int(tok) for tok in text.split()]


def all_pids(directory: str) -> list[int]:
    """Pids of a cgroup and of every cgroup below it (a container may nest cgroups)."""
    seen: list[int] = []
    if not os.path.isdir(directory):
        return seen
    for dirpath, _dirs, _files in os.walk(directory):
        for pid in read_pids(dirpath):
            if pid not in seen:
                seen.append(pid)
    return seen
