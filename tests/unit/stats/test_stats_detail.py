from __future__ import annotations

import os
from pathlib import Path

from pycri.cri import stats_detail, stats_proc
from pycri.cri.stats_cgroup import CgroupDirs
from pycri.cri.stats_detail import DeviceIo, DeviceNames
from pycri.runtime.oci.cgroups.convert import cpu_shares_to_weight
from tests.unit.stats.conftest import V2_FILES, seed

V2_DETAIL = {
    **V2_FILES,
    "cpu.stat": "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\nnr_periods 40\n"
                "nr_throttled 12\nthrottled_usec 3500000\n",
    "cpu.max": "20000 100000\n",
    "cpu.weight": "100\n",
    "memory.max": "67108864\n",
    "memory.swap.max": "33554432\n",
    "memory.peak": "20971520\n",
    "memory.events": "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n",
    "memory.stat": V2_FILES["memory.stat"] + "kernel 409600\nfile_mapped 8192\n",
    "pids.max": "max\n",
    "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
               "253:1 rbytes=10 wbytes=20 rios=3 wios=4\n",
}
V1_CPU = {"cpu.stat": "nr_periods 7\nnr_throttled 3\nthrottled_time 2500000000\n",
          "cpu.cfs_period_us": "100000\n", "cpu.shares": "512\n"}
V1_MEMORY = {"memory.failcnt": "9\n", "memory.kmem.usage_in_bytes": "65536\n",
             "memory.max_usage_in_bytes": "1048576\n",
             "memory.stat": "mapped_file 1\ntotal_mapped_file 4096\n",
             "memory.memsw.limit_in_bytes": "100663296\n"}
V1_BLKIO = {
    "blkio.throttle.io_service_bytes_recursive":
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 1\n8:0 Async 2\n8:0 Total 12288\nTotal 12288\n",
    "blkio.throttle.io_serviced_recursive": "8:0 Read 1\n8:0 Write 2\n8:0 Total 3\nTotal 3\n",
}


def test_v2_detail(tmp_path: Path) -> None:
    d = tmp_path / "c"
    seed(d, V2_DETAIL)
    got = stats_detail.detail(CgroupDirs(2, str(d), str(d), str(d), str(d), str(d), str(d)))
    assert (got.cfs_periods, got.cfs_throttled_periods, got.cfs_throttled_ns) == \
        (40, 12, 3_500_000_000)
    assert (got.spec_cpu_period, got.spec_cpu_shares) == (100000, 1024)
    assert (got.memory_failcnt, got.memory_kernel, got.memory_mapped_file,
            got.memory_max_usage) == (5, 409600, 8192, 20971520)
    assert got.spec_swap_limit == 96 << 20  # memory plus swap, as CRI and v1 count it
    assert got.threads_max == 0
    assert got.io == {(8, 0): DeviceIo(4096, 8192, 1, 2), (253, 1): DeviceIo(10, 20, 3, 4)}


def test_v2_detail_without_limits_or_newer_files(tmp_path: Path) -> None:
    d = tmp_path / "c"
    stat = "anon 1\nkernel_stack 16384\nslab 32768\n"
    seed(d, {**V2_FILES, "cpu.max": "max 100000\n", "memory.stat": stat, "pids.max": "64\n"})
    got = stats_detail.detail(CgroupDirs(2, unified=str(d), pids=str(d)))
    assert got.spec_cpu_period == 100000 and got.spec_swap_limit == 0
    assert got.memory_kernel == 16384 + 32768
    assert got.memory_max_usage is None and got.cfs_periods is None
    assert got.threads_max == 64 and got.io == {}


def test_v1_detail(tmp_path: Path) -> None:
    cpu, mem, pids, blkio = (tmp_path / n for n in ("cpu", "memory", "pids", "blkio"))
    seed(cpu, V1_CPU)
    seed(mem, V1_MEMORY)
    seed(pids, {"pids.max": "128\n"})
    seed(blkio, V1_BLKIO)
    dirs = CgroupDirs(1, memory=str(mem), pids=str(pids), cpu_ctl=str(cpu), blkio=str(blkio))
    got = stats_detail.detail(dirs)
    assert (got.cfs_periods, got.cfs_throttled_periods, got.cfs_throttled_ns) == \
        (7, 3, 2_500_000_000)
    assert (got.spec_cpu_period, got.spec_cpu_shares) == (100000, 512)
    assert (got.memory_failcnt, got.memory_kernel, got.memory_mapped_file,
            got.memory_max_usage) == (9, 65536, 4096, 1048576)
    assert got.spec_swap_limit == 96 << 20 and got.threads_max == 128
    assert got.io == {(8, 0): DeviceIo(4096, 8192, 1, 2)}


def test_v1_unlimited_swap_reads_zero_and_plain_blkio_files_are_a_fallback(
        tmp_path: Path) -> None:
    mem, blkio = tmp_path / "memory", tmp_path / "blkio"
    seed(mem, {**V1_MEMORY, "memory.memsw.limit_in_bytes": "9223372036854771712\n"})
    seed(blkio, {"blkio.throttle.io_service_bytes": "8:16 Read 7\nTotal 7\n"})
    got = stats_detail.detail(CgroupDirs(1, memory=str(mem), blkio=str(blkio)))
    assert got.spec_swap_limit == 0
    assert got.io == {(8, 16): DeviceIo(read_bytes=7)}


def test_missing_cgroup_gives_an_empty_detail(tmp_path: Path) -> None:
    gone = str(tmp_path / "gone")
    got = stats_detail.detail(CgroupDirs(2, gone, gone, gone, gone, gone, gone))
    assert got == stats_detail.Detail()


def test_weight_to_shares_inverts_the_runtime_mapping() -> None:
    for shares in (2, 1024, 262144):
        assert stats_detail.weight_to_shares(cpu_shares_to_weight(shares)) == shares
    for shares in (300, 512, 4096, 100000):
        back = stats_detail.weight_to_shares(cpu_shares_to_weight(shares))
        assert abs(back - shares) <= shares * 0.02


def test_device_names_come_from_sysfs_and_are_remembered(tmp_path: Path) -> None:
    seed(tmp_path / "dev/block/8:0", {"uevent": "MAJOR=8\nMINOR=0\nDEVNAME=sda\n"})
    names = DeviceNames(str(tmp_path))
    assert names.name((8, 0)) == "/dev/sda"
    assert names.name((9, 9)) == "9:9"  # unknown: the numbers themselves
    (tmp_path / "dev/block/8:0/uevent").write_text("DEVNAME=sdz\n")
    assert names.name((8, 0)) == "/dev/sda"


def _fake_process(proc: Path, pid: int, threads: int, fds: dict[str, str]) -> None:
    for tid in range(threads):
        (proc / str(pid) / "task" / str(pid + tid)).mkdir(parents=True)
    (proc / str(pid) / "fd").mkdir()
    for fd, target in fds.items():
        os.symlink(target, proc / str(pid) / "fd" / fd)


def test_process_counts_walk_the_cgroup_tree(tmp_path: Path) -> None:
    cgroup, proc = tmp_path / "cgroup", tmp_path / "proc"
    seed(cgroup, {"cgroup.procs": ""})
    seed(cgroup / "ctr1", {"cgroup.procs": "10\n11\n"})
    seed(cgroup / "ctr2", {"cgroup.procs": "20\n99\n"})  # 99 exited meanwhile
    _fake_process(proc, 10, 1, {"0": "/dev/null", "1": "pipe:[5]", "2": "socket:[7]"})
    _fake_process(proc, 11, 3, {"0": "socket:[8]"})
    _fake_process(proc, 20, 2, {"0": "/dev/null", "1": "/x"})
    got = stats_proc.sample(CgroupDirs(2, unified=str(cgroup)), str(proc))
    assert got == stats_proc.ProcessCounts(processes=3, threads=6, file_descriptors=6,
                                           sockets=2)


def test_process_counts_of_v1_use_the_pids_hierarchy(tmp_path: Path) -> None:
    pids, mem = tmp_path / "pids", tmp_path / "memory"
    seed(pids, {"cgroup.procs": "10\n"})
    seed(mem, {"cgroup.procs": ""})
    assert stats_proc.procs_dir(CgroupDirs(1, memory=str(mem), pids=str(pids))) == str(pids)
    assert stats_proc.procs_dir(CgroupDirs(1, memory=str(mem))) == str(mem)
    assert stats_proc.cgroup_pids(str(pids)) == [10]
    assert stats_proc.cgroup_pids("") == []
