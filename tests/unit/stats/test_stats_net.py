from __future__ import annotations

from pathlib import Path

import pytest

from pycri.cri import stats_net

NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     840      10    0    0    0     0          0         0      840      10    0    0    0     0       0          0
  eth0:   12345      20    1    2    0     0          0         0     6789      15    3    4    0     0       0          0
"""


def test_parse_net_dev() -> None:
    got = stats_net.parse_net_dev(NET_DEV)
    assert got["eth0"] == {"rx_bytes": 12345, "rx_packets": 20, "rx_errors": 1,
                           "rx_dropped": 2, "tx_bytes": 6789, "tx_packets": 15,
                           "tx_errors": 3, "tx_dropped": 4}
    assert got["lo"]["rx_bytes"] == 840


def test_from_pids_takes_first_live_pid(tmp_path: Path) -> None:
    (tmp_path / "7" / "net").mkdir(parents=True)
    (tmp_path / "7" / "net" / "dev").write_text(NET_DEV)
    got = stats_net.from_pids([0, 5, 7], proc=str(tmp_path))
    assert got is not None and got["eth0"]["tx_bytes"] == 6789


def test_pod_counters_drop_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats_net, "from_pids", lambda pids: stats_net.parse_net_dev(NET_DEV))
    got = stats_net.pod_counters([1], "")
    assert got is not None and set(got) == {"eth0"}
    assert stats_net.default_interface(got) == "eth0"
    assert stats_net.default_interface({"net1": {}, "net0": {}}) == "net0"


def test_pod_counters_without_process_or_netns() -> None:
    assert stats_net.pod_counters([], "") is None
