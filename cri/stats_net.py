"""Pod network counters: /proc/<pid>/net/dev of a process in the pod, else from the netns.

Reading /proc/<pid>/net/dev of any process inside the pod's network namespace costs one
small file read; entering the pinned netns (a thread and a netlink socket) is kept for pods
without a running process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)

Counters = dict[str, dict[str, int]]

# Column order of /proc/net/dev after the interface name.
_RX = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped")
_TX_AT = 8  # the transmit block starts at the ninth number
_TX = ("tx_bytes", "tx_packets", "tx_errors", "tx_dropped")
DEFAULT_INTERFACE = "eth0"


def parse_net_dev(text: str) -> Counters:
    out: Counters = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        try:
            numbers = [int(x) for x in rest.split()]
        except ValueError:
            continue
        if len(numbers) < _TX_AT + len(_TX):
            continue
        entry = dict(zip(_RX, numbers, strict=False))
        entry.update(zip(_TX, numbers[_TX_AT:], strict=False))
        out[name.strip()] = entry
    return out


def from_pids(pids: Iterable[int], proc: str = "/proc") -> Counters | None:
    """Counters seen by the first of `pids` that is still alive."""
    for pid in pids:
        if pid <= 0:
            continue
        try:
            with open(f"{proc}/{pid}/net/dev", encoding="ascii", errors="replace") as f:
                return parse_net_dev(f.read())
        except OSError:
            continue
    return None


def from_netns(netns_path: str) -> Counters | None:
    if not netns_path:
        return None
    from pycri.cni.netns import interface_stats

    try:
        return interface_stats(netns_path)
    except OSError as exc:
        log.debug("read interface counters netns=%s: %s", netns_path, exc)
        return None


def pod_counters(pids: Iterable[int], netns_path: str) -> Counters | None:
    counters = from_pids(pids)
    if counters is None:
        counters = from_netns(netns_path)
    if counters is None:
        return None
    # Loopback traffic never leaves the pod: kubelet and cAdvisor leave it out.
    counters.pop("lo", None)
    return counters


def default_interface(counters: Counters) -> str:
    if DEFAULT_INTERFACE in counters:
        return DEFAULT_INTERFACE
    return min(counters) if counters else ""
