from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pycri.api.cri import pb
from pycri.cri import stats as stats_mod
from pycri.cri.records import ContainerState
from pycri.cri.stats import StatsCollector, container_matches, pod_matches
from pycri.cri.stats_cgroup import Sample
from tests.unit.stats.conftest import V2_FILES, container, sandbox, seed


def _running(rt: Any, v2_root: Path, cid: str = "c1", sid: str = "p1") -> None:
    rt.state.add(sandbox(sid), container(cid, sid, pid=0))
    seed(v2_root / "pycri" / sid / cid, V2_FILES)
    seed(v2_root / "pycri" / sid, V2_FILES)


def test_nano_cores_needs_a_window_of_a_second(rt: Any) -> None:
    c = StatsCollector(rt)
    assert c.nano_cores("k", Sample(0, cpu_ns=0)) is None
    assert c.nano_cores("k", Sample(500_000_000, cpu_ns=400_000_000)) is None
    # 1.5 s after the first point, 1.2 s of CPU: 0.8 cores.
    assert c.nano_cores("k", Sample(1_500_000_000, cpu_ns=1_200_000_000)) == 800_000_000
    # Too soon after: the last rate again, and the base point stays.
    assert c.nano_cores("k", Sample(1_600_000_000, cpu_ns=1_300_000_000)) == 800_000_000
    assert c.nano_cores("k", Sample(2_500_000_000, cpu_ns=1_450_000_000)) == 250_000_000


def test_nano_cores_restarts_after_counter_reset(rt: Any) -> None:
    c = StatsCollector(rt)
    c.nano_cores("k", Sample(0, cpu_ns=5_000_000_000))
    assert c.nano_cores("k", Sample(2_000_000_000, cpu_ns=10)) is None
    assert c.nano_cores("k", Sample(3_000_000_000, cpu_ns=500_000_010)) == 500_000_000


def test_container_stats_from_cgroup_and_layer(rt: Any, v2_root: Path) -> None:
    _running(rt, v2_root)
    rt.images.snapshotter.usages["c1"] = (4096, 3)
    got = StatsCollector(rt).container_stats(rt.state.containers["c1"])
    assert got.attributes.id == "c1" and got.attributes.metadata.name == "app"
    assert got.cpu.usage_core_nano_seconds.value == 2_000_000_000
    assert not got.cpu.HasField("usage_nano_cores")
    assert got.cpu.psi.Some.Total == 4_000_000  # microseconds → nanoseconds
    assert got.memory.working_set_bytes.value == 10485760 - 2097152
    assert got.memory.rss_bytes.value == 4194304
    assert got.memory.page_faults.value == 300 and got.memory.major_page_faults.value == 7
    assert not got.memory.HasField("available_bytes")  # no limit
    assert got.swap.swap_usage_bytes.value == 0
    assert got.io.psi.Full.Total == 2_000_000
    assert got.writable_layer.used_bytes.value == 4096
    assert got.writable_layer.inodes_used.value == 3
    assert got.writable_layer.fs_id.mountpoint == str(rt.images.config.snapshots_root)


def test_available_bytes_with_a_limit(rt: Any, v2_root: Path) -> None:
    _running(rt, v2_root)
    seed(v2_root / "pycri/p1/c1", {"memory.max": "20971520\n"})
    got = StatsCollector(rt).container_stats(rt.state.containers["c1"])
    assert got.memory.available_bytes.value == 20971520 - (10485760 - 2097152)


def test_cgroups_path_comes_from_the_bundle(rt: Any, v2_root: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"linux": {"cgroupsPath": "/kube/pod9/c9"}}))
    rt.state.add(sandbox("p9"), container("c9", "p9", bundle=str(bundle)))
    seed(v2_root / "kube/pod9/c9", {**V2_FILES, "cpu.stat": "usage_usec 7\n"})
    got = StatsCollector(rt).container_stats(rt.state.containers["c9"])
    assert got.cpu.usage_core_nano_seconds.value == 7000


def test_exited_container_has_only_attributes(rt: Any, v2_root: Path) -> None:
    _running(rt, v2_root)
    rt.state.containers["c1"].state = ContainerState.EXITED
    got = StatsCollector(rt).container_stats(rt.state.containers["c1"])
    assert got.attributes.id == "c1"
    assert not got.HasField("cpu") and not got.HasField("memory")


def test_writable_layer_is_cached(rt: Any, v2_root: Path) -> None:
    _running(rt, v2_root)
    rt.images.snapshotter.usages["c1"] = (1, 1)
    c = StatsCollector(rt, layer_cache_s=60)
    c.container_stats(rt.state.containers["c1"])
    c.container_stats(rt.state.containers["c1"])
    assert rt.images.snapshotter.calls == 1
    c = StatsCollector(rt, layer_cache_s=0)
    c.container_stats(rt.state.containers["c1"])
    c.container_stats(rt.state.containers["c1"])
    assert rt.images.snapshotter.calls == 3


def test_pod_stats_has_cgroup_processes_network_and_containers(
    rt: Any, v2_root: Path, monkeypatch: Any
) -> None:
    _running(rt, v2_root)
    counters = {"eth0": {"rx_bytes": 10, "tx_bytes": 20, "rx_errors": 1, "tx_errors": 2},
                "net1": {"rx_bytes": 1, "tx_bytes": 2}}
    monkeypatch.setattr(stats_mod.stats_net, "pod_counters", lambda pids, netns: dict(counters))
    got = StatsCollector(rt).pod_stats(rt.state.sandboxes["p1"])
    assert got.attributes.id == "p1" and got.attributes.metadata.name == "web"
    linux = got.linux
    assert linux.cpu.usage_core_nano_seconds.value == 2_000_000_000
    assert linux.memory.working_set_bytes.value == 10485760 - 2097152
    assert linux.process.process_count.value == 3
    assert linux.network.default_interface.name == "eth0"
    assert linux.network.default_interface.rx_bytes.value == 10
    assert linux.network.default_interface.tx_errors.value == 2
    assert [i.name for i in linux.network.interfaces] == ["eth0", "net1"]
    assert [c.attributes.id for c in linux.containers] == ["c1"]


def test_host_network_pod_has_no_network(rt: Any, v2_root: Path, monkeypatch: Any) -> None:
    rt.state.add(sandbox("p2", host_network=True))
    monkeypatch.setattr(stats_mod.stats_net, "pod_counters",
                        lambda *a: (_ for _ in ()).throw(AssertionError("read network")))
    got = StatsCollector(rt).pod_stats(rt.state.sandboxes["p2"])
    assert not got.linux.HasField("network")


def test_forget_drops_gone_objects(rt: Any, v2_root: Path) -> None:
    _running(rt, v2_root)
    c = StatsCollector(rt)
    c.container_stats(rt.state.containers["c1"])
    c.pod_stats(rt.state.sandboxes["p1"])
    assert "c1" in c.cgroup_paths and "pod/p1" in c.cgroup_paths
    c.forget({"p1"})
    assert "c1" not in c.cgroup_paths and "pod/p1" in c.cgroup_paths


def test_filters() -> None:
    rec = container("abc", "pod1", labels={"app": "x"})
    assert container_matches(rec, None)
    assert container_matches(rec, pb.ContainerStatsFilter(id="ab", pod_sandbox_id="pod"))
    assert not container_matches(rec, pb.ContainerStatsFilter(id="b"))
    assert not container_matches(rec, pb.ContainerStatsFilter(pod_sandbox_id="x"))
    assert container_matches(rec, pb.ContainerStatsFilter(label_selector={"app": "x"}))
    assert not container_matches(rec, pb.ContainerStatsFilter(label_selector={"app": "y"}))
    pod = sandbox("pod1", labels={"tier": "web"})
    assert pod_matches(pod, pb.PodSandboxStatsFilter(id="pod", label_selector={"tier": "web"}))
    assert not pod_matches(pod, pb.PodSandboxStatsFilter(label_selector={"tier": "db"}))
