from __future__ import annotations

import os
from pathlib import Path

import pytest

from pycri.cni.config import ConfigWatcher, load_dir, parse_config
from pycri.cni.errors import CniConfigError

from .conftest import conflist, write_conf


def test_lexical_order_and_default(tmp_path: Path) -> None:
    write_conf(tmp_path, "20-b.conflist", conflist("b"))
    write_conf(tmp_path, "10-a.conf", {"cniVersion": "0.4.0", "name": "a", "type": "bridge"})
    write_conf(tmp_path, "30-c.json", conflist("c"))
    loaded = load_dir(str(tmp_path))
    assert [n.name for n in loaded.networks] == ["a", "b", "c"]
    assert loaded.default is not None and loaded.default.name == "a"


def test_single_conf_is_wrapped() -> None:
    net = parse_config(
        {"cniVersion": "0.3.1", "name": "x", "type": "bridge", "bridge": "br9"}, "x.conf"
    )
    assert net.cni_version == "0.3.1"
    assert net.plugin_types == ["bridge"]
    assert net.plugins[0]["bridge"] == "br9"
    assert net.to_dict()["plugins"][0]["type"] == "bridge"


def test_invalid_files_skipped_with_reason(tmp_path: Path) -> None:
    write_conf(tmp_path, "00-bad.conflist", "{not json")
    write_conf(tmp_path, "01-noversion.conflist", {"name": "n", "plugins": [{"type": "a"}]})
    write_conf(tmp_path, "02-noplugins.conflist", {"cniVersion": "1.0.0", "name": "n",
                                                   "plugins": []})
    write_conf(tmp_path, "03-badname.conflist", conflist("-bad"))
    write_conf(tmp_path, "04-version.conflist", conflist("v", "9.9.9"))
    write_conf(tmp_path, "05-notype.conf", {"cniVersion": "1.0.0", "name": "n"})
    write_conf(tmp_path, "06-pathtype.conflist", conflist("p", "1.0.0", {"type": "../sh"}))
    write_conf(tmp_path, "50-good.conflist", conflist("good"))
    write_conf(tmp_path, ".hidden.conflist", conflist("hidden"))
    write_conf(tmp_path, "README.txt", "not a config")
    loaded = load_dir(str(tmp_path))
    assert [n.name for n in loaded.networks] == ["good"]
    assert len(loaded.errors) == 7
    reasons = " ".join(loaded.errors.values())
    for text in ("invalid JSON", "cniVersion", "plugins", "name", "9.9.9", "type"):
        assert text in reasons


def test_cni_versions_negotiation() -> None:
    net = parse_config({"cniVersion": "1.0.0", "cniVersions": ["1.0.0", "1.1.0", "7.0.0"],
                        "name": "n", "plugins": [{"type": "a"}]})
    assert net.cni_version == "1.1.0"


def test_disable_flags_accept_strings() -> None:
    net = parse_config({"cniVersion": "1.0.0", "name": "n", "disableCheck": "true",
                        "disableGC": True, "plugins": [{"type": "a"}]})
    assert net.disable_check and net.disable_gc


def test_parse_error_names_source() -> None:
    with pytest.raises(CniConfigError, match=r"my\.conf"):
        parse_config("[]", "my.conf")


def test_watcher_reload_picks_up_changes(tmp_path: Path) -> None:
    w = ConfigWatcher(str(tmp_path))
    assert w.reload() is True
    assert w.current.networks == []
    assert w.reload() is False
    path = write_conf(tmp_path, "10-a.conflist", conflist("a"))
    assert w.reload() is True
    assert [n.name for n in w.current.networks] == ["a"]
    assert w.reload() is False
    write_conf(tmp_path, "10-a.conflist", conflist("renamed"))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert w.reload() is True
    assert [n.name for n in w.current.networks] == ["renamed"]
    path.unlink()
    assert w.reload() is True
    assert w.current.networks == []


def test_missing_conf_dir_is_empty(tmp_path: Path) -> None:
    assert load_dir(str(tmp_path / "nope")).networks == []
