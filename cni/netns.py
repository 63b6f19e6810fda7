"""Network namespaces: create/pin, remove, and look inside one without moving the process.

Namespaces are pinned by bind-mounting them on a file in a run dir (as `ip netns`
does). Entering one happens on a short-lived thread of its own: setns(CLONE_NEWNET)
changes only the calling thread, and a thread that failed to switch back simply
ends instead of going back into a pool in the wrong namespace.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pyroute2 import IPRoute
from pyroute2 import netns as pr_netns

log = logging.getLogger(__name__)

DEFAULT_NETNS_DIR = "/run/pycri/netns"
T = TypeVar("T")

_STAT_KEYS = (
    "rx_bytes", "tx_bytes", "rx_packets", "tx_packets",
    "rx_errors", "tx_errors", "rx_dropped", "tx_dropped",
)


def create_netns(name: str, directory: str = DEFAULT_NETNS_DIR) -> str:
    """Create a network namespace pinned at `<directory>/<name>`; returns the path."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"create netns: bad name {name!r}")
    os.makedirs(directory, mode=0o755, exist_ok=True)
    path = os.path.join(directory, name)
    if os.path.exists(path):
        raise FileExistsError(f"create netns `{path}`: already exists")
    try:
        pr_netns.create(path)
    except Exception:
        # A half-made pin (file without mount) must not look like a namespace later.
        remove_netns(path)
        raise
    log.debug("created netns path=%s", path)
    return path


def remove_netns(path: str) -> None:
    """Unpin and delete a namespace file; a missing or unmounted path is fine."""
    if not os.path.lexists(path):
        return
    with contextlib.suppress(FileNotFoundError):
        pr_netns.remove(path)
    log.debug("removed netns path=%s", path)


def is_netns(path: str) -> bool:
    """True when `path` is a live pinned network namespace (an nsfs mount)."""
    try:
        st = os.stat(path)
        parent = os.stat(os.path.dirname(os.path.abspath(path)) or "/")
    except OSError:
        return False
    # A pin is a bind mount of nsfs: its device differs from its directory's.
    return st.st_dev != parent.st_dev


def run_in_netns(path: str, fn: Callable[[], T]) -> T:
    """Run `fn` on a fresh thread that has joined the network namespace at `path`."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            target_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            box["error"] = exc
            return
        own_fd = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
        try:
            pr_netns.setns(target_fd, fork=False)
            try:
                box["value"] = fn()
            finally:
                pr_netns.setns(own_fd, fork=False)
        except BaseException as exc:
            box["error"] = exc
        finally:
            os.close(target_fd)
            os.close(own_fd)

    thread = threading.Thread(target=target, name="pycri-netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _read_link_stats() -> dict[str, dict[str, int]]:
    stats: dict[str, dict[str, int]] = {}
    with IPRoute() as ipr:
        for link in ipr.get_links():
            name = link.get_attr("IFLA_IFNAME")
            counters = link.get_attr("IFLA_STATS64") or link.get_attr("IFLA_STATS")
            if not name or counters is None:
                continue
            stats[name] = {key: int(counters.get(key, 0)) for key in _STAT_KEYS}
    return stats


def interface_stats(netns_path: str) -> dict[str, dict[str, int]]:
    """Per-interface counters (rx/tx bytes, packets, errors, drops) inside a netns."""
    return run_in_netns(netns_path, _read_link_stats)
