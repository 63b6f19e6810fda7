from __future__ import annotations

from pathlib import Path

from pycri.cri import stats_cgroup
from pycri.cri.stats_cgroup import CgroupDirs, PsiSwitch
from tests.unit.stats.conftest import V2_FILES, seed

V1_MEMORY = {
    "memory.usage_in_bytes": "8388608\n",
    "memory.limit_in_bytes": "9223372036854771712\n",
    "memory.memsw.usage_in_bytes": "9437184\n",
    "memory.memsw.limit_in_bytes": "9223372036854771712\n",
    "memory.stat": "cache 1\nrss 2\ninactive_file 3\ntotal_cache 5242880\ntotal_rss 2097152\n"
                   "total_inactive_file 1048576\ntotal_pgfault 40\ntotal_pgmajfault 2\n",
    "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
}


def test_v2_sample_reads_cpu_memory_swap_and_psi(tmp_path: Path) -> None:
    d = tmp_path / "c"
    seed(d, V2_FILES)
    s = stats_cgroup.sample(CgroupDirs(2, str(d), str(d), str(d), str(d)), PsiSwitch(),
                            full=True)
    assert s.cpu_ns == 2_000_000_000
    assert (s.cpu_user_ns, s.cpu_system_ns) == (1_500_000_000, 500_000_000)
    assert s.memory_usage == 10485760
    assert s.working_set == 10485760 - 2097152
    assert (s.rss, s.cache, s.pgfault, s.pgmajfault) == (4194304, 6291456, 300, 7)
    assert s.memory_limit is None and s.swap_usage == 0 and s.swap_limit is None
    assert s.oom_kills == 1 and s.pids == 3
    assert s.psi["cpu"]["some"].total_us == 4000 and s.psi["cpu"]["some"].avg10 == 1.5
    assert s.psi["io"]["full"].total_us == 2000


def test_v1_sample_uses_hierarchical_totals_and_memsw(tmp_path: Path) -> None:
    mem, cpu = tmp_path / "memory", tmp_path / "cpuacct"
    seed(mem, V1_MEMORY)
    seed(cpu, {"cpuacct.usage": "123456789\n", "cpuacct.usage_user": "100\n",
               "cpuacct.usage_sys": "23\n"})
    s = stats_cgroup.sample(CgroupDirs(1, cpu=str(cpu), memory=str(mem)), full=True)
    assert s.cpu_ns == 123456789 and (s.cpu_user_ns, s.cpu_system_ns) == (100, 23)
    assert s.working_set == 8388608 - 1048576
    assert (s.rss, s.cache, s.pgfault, s.pgmajfault) == (2097152, 5242880, 40, 2)
    assert s.memory_limit is None  # the v1 "unlimited" number
    assert s.swap_usage == 9437184 - 8388608 and s.swap_limit is None
    assert s.oom_kills == 2


def test_v1_limit_gives_swap_limit(tmp_path: Path) -> None:
    mem = tmp_path / "memory"
    seed(mem, {**V1_MEMORY, "memory.limit_in_bytes": "67108864\n",
               "memory.memsw.limit_in_bytes": "134217728\n"})
    s = stats_cgroup.sample(CgroupDirs(1, memory=str(mem)))
    assert s.memory_limit == 64 << 20 and s.swap_limit == 64 << 20


def test_working_set_never_negative(tmp_path: Path) -> None:
    d = tmp_path / "c"
    seed(d, {**V2_FILES, "memory.current": "100\n"})
    assert stats_cgroup.sample(CgroupDirs(2, unified=str(d))).working_set == 0


def test_missing_cgroup_gives_empty_sample(tmp_path: Path) -> None:
    gone = str(tmp_path / "gone")
    s = stats_cgroup.sample(CgroupDirs(2, gone, gone, gone, gone), PsiSwitch(), full=True)
    assert s.cpu_ns is None and s.memory_usage is None and s.pids is None and s.psi == {}


def test_psi_switch_turns_off_when_kernel_lacks_psi(tmp_path: Path) -> None:
    d = tmp_path / "c"
    seed(d, {k: v for k, v in V2_FILES.items() if not k.endswith(".pressure")})
    switch = PsiSwitch()
    assert switch.read(str(d)) == {}
    assert switch.enabled is False
    seed(d, V2_FILES)
    assert switch.read(str(d)) == {}


def test_psi_switch_stays_on_for_a_removed_cgroup(tmp_path: Path) -> None:
    switch = PsiSwitch()
    assert switch.read(str(tmp_path / "gone")) == {}
    assert switch.enabled is True


def test_resolve_v2_and_hybrid(tmp_path: Path, v2_root: Path) -> None:
    dirs = stats_cgroup.resolve("/pycri/pod/ctr", "ctr", str(v2_root))
    assert dirs.version == 2 and dirs.unified == str(v2_root / "pycri/pod/ctr")
    hybrid = tmp_path / "hybrid"
    for sub in ("memory", "cpuacct", "pids"):
        (hybrid / sub).mkdir(parents=True)
    seed(hybrid / "unified", {"cgroup.controllers": ""})
    dirs = stats_cgroup.resolve("/pycri/pod/ctr", "ctr", str(hybrid))
    assert dirs.version == 1
    assert dirs.memory == str(hybrid / "memory/pycri/pod/ctr")
    assert dirs.cpu == str(hybrid / "cpuacct/pycri/pod/ctr")
    assert dirs.unified == str(hybrid / "unified/pycri/pod/ctr")


def test_parse_keyed_skips_junk() -> None:
    assert stats_cgroup.parse_keyed(b"a 1\nbad\nb x\nc 3\n") == {b"a": 1, b"c": 3}
