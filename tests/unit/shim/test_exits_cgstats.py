from __future__ import annotations

from pathlib import Path

from pycri.runtime.shim import cgstats, exits


def test_exit_record_roundtrip(tmp_path: Path) -> None:
    rec = exits.ExitRecord("c1", 42, 137, 123, exits.reason_for(137, True))
    exits.write(str(tmp_path), rec)
    assert exits.read(str(tmp_path), "c1") == rec
    assert rec.reason == "OOMKilled"
    assert [p.name for p in (tmp_path / "exits").iterdir()] == ["c1"]
    exits.remove(str(tmp_path), "c1")
    assert exits.read(str(tmp_path), "c1") is None


def test_garbled_record_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "exits").mkdir()
    (tmp_path / "exits" / "c1").write_text("{")
    assert exits.read(str(tmp_path), "c1") is None


def test_stats_v1_and_oom(tmp_path: Path) -> None:
    proc = tmp_path / "proc" / "7"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text("5:memory:/pod/c\n4:cpu,cpuacct:/pod/c\n0::/pod/c\n")
    paths = cgstats.cgroup_paths(7, str(tmp_path / "proc"))
    mem = tmp_path / "cg" / "memory" / "pod" / "c"
    mem.mkdir(parents=True)
    (mem / "memory.usage_in_bytes").write_text("1000\n")
    (mem / "memory.stat").write_text("total_inactive_file 300\ntotal_rss 500\n")
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    cpu = tmp_path / "cg" / "cpu,cpuacct" / "pod" / "c"
    cpu.mkdir(parents=True)
    (cpu / "cpuacct.usage").write_text("999\n")
    st = cgstats.stats(paths, str(tmp_path / "cg"))
    assert st["memory"] == {"usage_bytes": 1000, "working_set_bytes": 700, "rss_bytes": 500,
                            "oom_kills": 2}
    assert st["cpu"] == {"usage_core_nanoseconds": 999}


def test_stats_v2(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    d = root / "pod" / "c"
    d.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory\n")
    (d / "memory.current").write_text("2048\n")
    (d / "memory.stat").write_text("anon 1024\ninactive_file 48\n")
    (d / "memory.events").write_text("oom 1\noom_kill 1\n")
    (d / "cpu.stat").write_text("usage_usec 5\n")
    st = cgstats.stats({"": "/pod/c"}, str(root))
    assert st["memory"]["working_set_bytes"] == 2000
    assert st["memory"]["oom_kills"] == 1
    assert st["cpu"]["usage_core_nanoseconds"] == 5000
