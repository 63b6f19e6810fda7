from __future__ import annotations

import os
from pathlib import Path

import pytest

V1_CTRLS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "freezer", "hugetlb")


def seed(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_text(content)


@pytest.fixture
def v2_root(tmp_path: Path) -> Path:
    root = tmp_path / "cg2"
    seed(
        root,
        {
            "cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
            "cgroup.subtree_control": "",
            "cgroup.procs": "",
        },
    )
    return root


@pytest.fixture
def v1_root(tmp_path: Path) -> Path:
    root = tmp_path / "cg1"
    for ctrl in V1_CTRLS:
        seed(root / ctrl, {"cgroup.procs": ""})
    seed(root / "cpuset", {"cpuset.cpus": "0-3\n", "cpuset.mems": "0\n"})
    return root


@pytest.fixture
def self_cgroup(tmp_path: Path) -> Path:
    f = tmp_path / "self_cgroup"
    f.write_text(
        "9:name=systemd:/\n8:pids:/\n4:memory:/user.slice/me\n3:cpuset:/\n"
        "2:cpuacct:/\n1:cpu:/\n0::/user.slice/me\n"
    )
    return f


@pytest.fixture
def fake_rmdir(monkeypatch: pytest.MonkeyPatch):
    """Temp dirs hold real files, unlike cgroupfs; remove them whole."""

    def rmdir(path: str) -> None:
        if not os.path.isdir(path):
            raise FileNotFoundError(path)
        for entry in os.listdir(path):
            if os.path.isfile(os.path.join(path, entry)):
                os.unlink(os.path.join(path, entry))
        os.rmdir(path)

    return rmdir


@pytest.fixture(name="seed")
def seed_fixture():
    return seed
