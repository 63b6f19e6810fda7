from __future__ import annotations

import json
from pathlib import Path

from pycri.cni.config import load_dir, parse_config
from pycri.cni.defaults import (
    SHIPPED_FILE,
    default_network,
    install_default_config,
    render,
)


def test_shipped_file_matches_code() -> None:
    with open(SHIPPED_FILE) as f:
        assert f.read() == render(default_network()), "regenerate cni/default-net.conflist"


def test_default_network_shape() -> None:
    net = parse_config(default_network())
    assert net.cni_version == "1.0.0"
    assert net.plugin_types == ["bridge", "portmap"]
    bridge = net.plugins[0]
    assert bridge["bridge"] == "pycri0" and bridge["isGateway"] and bridge["ipMasq"]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.89.0.0/16"}]]
    assert net.plugins[1]["capabilities"] == {"portMappings": True}


def test_install_only_when_no_valid_config(tmp_path: Path) -> None:
    conf = tmp_path / "net.d"
    assert install_default_config(str(conf)) is True
    assert [n.name for n in load_dir(str(conf)).networks] == ["pycri"]
    assert install_default_config(str(conf)) is False
    assert len(list(conf.iterdir())) == 1


def test_install_next_to_invalid_config(tmp_path: Path) -> None:
    (tmp_path / "00-broken.conf").write_text("{")
    assert install_default_config(str(tmp_path)) is True
    other = tmp_path / "other"
    other.mkdir()
    (other / "99-x.conflist").write_text(json.dumps(default_network(name="mine")))
    assert install_default_config(str(other)) is False
