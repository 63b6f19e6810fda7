from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pycri.cni.testing import FakeRunner


def write_conf(conf_dir: Path, filename: str, obj: Any) -> Path:
    path = conf_dir / filename
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def make_bin(bin_dir: Path, *names: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        p = bin_dir / name
        p.write_text("#!/bin/sh\nexit 0\n")
        os.chmod(p, 0o755)


def conflist(name: str = "net1", version: str = "1.0.0", *plugins: dict[str, Any]) -> dict[str, Any]:
    return {
        "cniVersion": version,
        "name": name,
        "plugins": list(plugins) or [{"type": "bridge"}, {"type": "portmap"}],
    }


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    conf = tmp_path / "net.d"
    conf.mkdir()
    bins = tmp_path / "bin"
    make_bin(bins, "bridge", "portmap", "loopback", "tuning", "bandwidth")
    return {
        "conf_dir": str(conf),
        "bin_dirs": [str(tmp_path / "missing"), str(bins)],
        "cache_dir": str(tmp_path / "cache"),
        "plugin_timeout": 5.0,
        "root": tmp_path,
    }


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()
