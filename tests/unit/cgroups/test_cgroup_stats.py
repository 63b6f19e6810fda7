from __future__ import annotations

from pathlib import Path

from pycri.runtime.oci.cgroups import manager_for
from pycri.runtime.oci.cgroups.fsio import parse_psi

PSI = (
    "some avg10=1.50 avg60=0.25 avg300=0.00 total=12345\n"
    "full avg10=0.00 avg60=0.00 avg300=0.00 total=678\n"
)


def test_parse_psi() -> None:
    got = parse_psi(PSI)
    assert got["some"] == {"avg10": 1.5, "avg60": 0.25, "avg300": 0.0, "total": 12345}
    assert got["full"]["total"] == 678


def test_v2_stats(v2_root: Path, seed) -> None:
    m = manager_for("/c", "c", root=str(v2_root))
    m.create()
    seed(
        Path(m.path_for("")),
        {
            "cpu.stat": "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\n"
            "nr_periods 10\nnr_throttled 2\nthrottled_usec 30\n",
            "memory.current": "1000000\n",
            "memory.max": "max\n",
            "memory.stat": "anon 400000\nfile 500000\ninactive_file 300000\n"
            "pgfault 77\npgmajfault 3\n",
            "memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 2\n",
            "memory.swap.current": "4096\n",
            "pids.current": "3\n",
            "pids.max": "100\n",
            "io.stat": "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n"
            "8:16 rbytes=1 wbytes=2 rios=3 wios=4\n",
            "cpu.pressure": PSI,
            "memory.pressure": PSI,
            "hugetlb.2MB.current": "0\n",
            "hugetlb.2MB.max": "max\n",
        },
    )
    st = m.stats()
    assert st["cpu"] == {
        "usage_ns": 2_000_000,
        "user_ns": 1_500_000,
        "system_ns": 500_000,
        "nr_periods": 10,
        "nr_throttled": 2,
        "throttled_ns": 30_000,
    }
    mem = st["memory"]
    assert mem["usage"] == 1000000 and mem["limit"] is None
    assert mem["working_set"] == 700000
    assert mem["rss"] == 400000 and mem["pgfault"] == 77 and mem["swap_usage"] == 4096
    assert st["pids"] == {"current": 3, "limit": 100}
    assert st["io"]["read_bytes"] == 101 and st["io"]["write_ios"] == 6
    assert st["psi"]["cpu"]["some"]["avg10"] == 1.5
    assert "io" not in st["psi"]
    assert st["hugetlb"]["2MB"]["usage"] == 0
    assert m.oom_kill_count() == 2


def test_v1_stats_with_hybrid_psi(v1_root: Path, seed) -> None:
    seed(v1_root / "unified", {"cgroup.controllers": ""})
    m = manager_for("/c", "c", root=str(v1_root))
    m.create()
    seed(
        Path(m.path_for("cpuacct")),
        {"cpuacct.usage": "5000\n", "cpuacct.usage_user": "3000\n", "cpuacct.usage_sys": "2000\n"},
    )
    seed(Path(m.path_for("cpu")), {"cpu.stat": "nr_periods 5\nnr_throttled 1\nthrottled_time 99\n"})
    seed(
        Path(m.path_for("memory")),
        {
            "memory.usage_in_bytes": "1000\n",
            "memory.limit_in_bytes": "9223372036854771712\n",
            "memory.memsw.usage_in_bytes": "1500\n",
            "memory.stat": "cache 1\nrss 2\ntotal_cache 600\ntotal_rss 300\n"
            "total_inactive_file 250\ntotal_pgfault 9\ntotal_pgmajfault 1\n",
            "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n",
            "memory.failcnt": "0\n",
        },
    )
    seed(Path(m.path_for("pids")), {"pids.current": "2\n", "pids.max": "max\n"})
    seed(
        Path(m.path_for("blkio")),
        {
            "blkio.throttle.io_service_bytes_recursive": "8:0 Read 10\n8:0 Write 20\n"
            "8:0 Sync 30\n8:0 Async 0\n8:0 Total 30\nTotal 30\n",
            "blkio.throttle.io_serviced_recursive": "8:0 Read 1\n8:0 Write 2\n",
        },
    )
    seed(Path(m.path_for("unified")), {"memory.pressure": PSI})
    st = m.stats()
    assert st["cpu"]["usage_ns"] == 5000 and st["cpu"]["user_ns"] == 3000
    assert st["cpu"]["throttled_ns"] == 99
    mem = st["memory"]
    assert mem["limit"] is None and mem["working_set"] == 750 and mem["rss"] == 300
    assert mem["swap_usage"] == 500 and mem["oom_kill"] == 4
    assert st["pids"] == {"current": 2, "limit": None}
    assert st["io"]["read_bytes"] == 10 and st["io"]["write_bytes"] == 20
    assert st["io"]["write_ios"] == 2
    assert st["psi"]["memory"]["full"]["total"] == 678
    assert m.oom_kill_count() == 4


def test_v1_cpuacct_tick_fallback(v1_root: Path, seed) -> None:
    m = manager_for("/c", "c", root=str(v1_root))
    m.create()
    seed(
        Path(m.path_for("cpuacct")), {"cpuacct.usage": "1\n", "cpuacct.stat": "user 2\nsystem 3\n"}
    )
    st = m.stats()
    assert st["cpu"]["user_ns"] > 0 and st["cpu"]["system_ns"] > st["cpu"]["user_ns"]
    assert "memory" not in st
