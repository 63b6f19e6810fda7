from __future__ import annotations

import os
from pathlib import Path

from pycri.cni.cache import CacheEntry, ResultCache


def entry(cid: str = "pod1", net: str = "n1", ifname: str = "eth0") -> CacheEntry:
    return CacheEntry(
        network=net, container_id=cid, ifname=ifname, netns="/run/netns/x",
        config={"cniVersion": "1.0.0", "name": net, "plugins": [{"type": "bridge"}]},
        cni_args=(("IgnoreUnknown", "1"), ("K8S_POD_NAME", "p")),
        capability_args={"portMappings": [{"hostPort": 80, "containerPort": 8080,
                                           "protocol": "tcp"}]},
        result={"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]},
    )


def test_round_trip(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    cache.save(entry())
    assert cache.load("n1", "pod1", "eth0") == entry()
    assert cache.entries("pod1") == [entry()]
    assert cache.container_ids() == ["pod1"]
    # No temporaries left next to the entry.
    assert os.listdir(tmp_path / "pod1") == ["n1:eth0.json"]


def test_overwrite_and_delete(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    cache.save(entry(), durable=False)
    updated = CacheEntry(**{**entry().__dict__, "result": None})
    cache.save(updated)
    assert cache.load("n1", "pod1", "eth0") == updated
    cache.save(entry(net="n2", ifname="net1"))
    cache.delete("n1", "pod1", "eth0")
    assert [e.network for e in cache.entries("pod1")] == ["n2"]
    cache.delete("n2", "pod1", "net1")
    cache.delete("n2", "pod1", "net1")
    assert not (tmp_path / "pod1").exists()
    assert cache.entries("pod1") == []


def test_unreadable_entries_are_skipped(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path))
    cache.save(entry())
    (tmp_path / "pod1" / "junk:eth1.json").write_text("{")
    (tmp_path / "pod1" / "other:eth2.json").write_text('{"kind": "someone-else"}')
    assert [e.network for e in cache.entries("pod1")] == ["n1"]


def test_missing_root(tmp_path: Path) -> None:
    cache = ResultCache(str(tmp_path / "none"))
    assert cache.load("n", "c", "eth0") is None
    assert cache.container_ids() == []
