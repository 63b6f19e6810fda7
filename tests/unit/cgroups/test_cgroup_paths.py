from __future__ import annotations

from pathlib import Path

import pytest

from pycri.runtime.oci.cgroups import (
    CgroupError,
    Layout,
    UnsupportedError,
    V1Manager,
    V2Manager,
    detect_layout,
    manager_for,
)
from pycri.runtime.oci.cgroups.paths import clean_inner, parse_self_cgroup


def test_detect_layouts(v1_root: Path, v2_root: Path) -> None:
    assert detect_layout(str(v2_root)) is Layout.V2
    assert detect_layout(str(v1_root)) is Layout.V1
    (v1_root / "unified").mkdir()
    (v1_root / "unified" / "cgroup.controllers").write_text("")
    assert detect_layout(str(v1_root)) is Layout.HYBRID


def test_clean_inner() -> None:
    assert clean_inner("/a/b/", "id") == ("a/b", True)
    assert clean_inner("a/../../b", "id") == ("b", False)
    assert clean_inner("/../../x", "id") == ("x", True)
    assert clean_inner("", "ctr1") == ("ctr1", False)
    with pytest.raises(CgroupError):
        clean_inner("/", "id")


def test_parse_self_cgroup() -> None:
    own = parse_self_cgroup("4:cpu,cpuacct:/a\n1:name=systemd:/s\n0::/u\n")
    assert own == {"cpu": "/a", "cpuacct": "/a", "name=systemd": "/s", "": "/u"}


def test_v2_absolute_and_relative(v2_root: Path, self_cgroup: Path) -> None:
    m = manager_for("/kubepods/pod1/c1", "c1", root=str(v2_root))
    assert isinstance(m, V2Manager)
    assert m.path_for("memory") == str(v2_root / "kubepods/pod1/c1")
    rel = manager_for("c1", "c1", root=str(v2_root), self_cgroup_file=str(self_cgroup))
    assert rel.path_for("") == str(v2_root / "user.slice/me/c1")
    default = manager_for("", "ctr", root=str(v2_root), self_cgroup_file=str(self_cgroup))
    assert default.path_for("") == str(v2_root / "user.slice/me/ctr")


def test_v1_paths_per_controller(v1_root: Path, self_cgroup: Path) -> None:
    m = manager_for("/pods/c1", "c1", root=str(v1_root))
    assert isinstance(m, V1Manager)
    assert m.path_for("memory") == str(v1_root / "memory/pods/c1")
    assert m.path_for("cpu") == str(v1_root / "cpu/pods/c1")
    rel = manager_for("c1", "c1", root=str(v1_root), self_cgroup_file=str(self_cgroup))
    assert rel.path_for("memory") == str(v1_root / "memory/user.slice/me/c1")
    assert rel.path_for("pids") == str(v1_root / "pids/c1")
    with pytest.raises(UnsupportedError):
        rel.path_for("rdma")


def test_hybrid_has_unified_path(v1_root: Path) -> None:
    (v1_root / "unified").mkdir()
    (v1_root / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    m = manager_for("/x", "x", root=str(v1_root))
    assert m.paths()[""] == str(v1_root / "unified/x")


def test_systemd_driver_refused(v2_root: Path) -> None:
    with pytest.raises(UnsupportedError, match="systemd cgroup driver not supported yet"):
        manager_for("system.slice:pycri:x", "x", systemd=True, root=str(v2_root))
