from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from pycri.cri import config as configmod
from pycri.cri.config import ConfigError


def test_missing_and_empty_files_give_defaults(tmp_path: Path) -> None:
    assert configmod.load(tmp_path / "absent.toml") == configmod.Config()
    (tmp_path / "empty.toml").write_text("")
    assert configmod.load(tmp_path / "empty.toml") == configmod.Config()


def test_file_values_and_flag_overrides(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('root = "/srv/pycri"\n[cni]\nplugin_timeout = 5\nbin_dirs = ["/x"]\n')
    config = configmod.load(file, {"cni.conf_dir": "/etc/other", "root": "/flag"})
    assert config.root == "/flag"
    assert config.cni.plugin_timeout == 5.0
    assert config.cni.bin_dirs == ["/x"]
    assert config.cni.conf_dir == "/etc/other"


def test_unknown_key_names_key_and_line(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('root = "/a"\n\n[streaming]\nport = 1\nprot = 2\n')
    with pytest.raises(ConfigError, match=r"c\.toml:5: unknown key `streaming\.prot`"):
        configmod.load(file)


def test_wrong_type_names_key_and_line(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('log_level = "info"\nshutdown_timeout = "soon"\n')
    with pytest.raises(ConfigError, match=r"c\.toml:2: `shutdown_timeout` must be float"):
        configmod.load(file)


def test_bool_is_not_an_int(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text("[streaming]\nport = true\n")
    with pytest.raises(ConfigError, match="must be int"):
        configmod.load(file)


def test_bad_choice_and_syntax(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('log_format = "xml"\n')
    with pytest.raises(ConfigError, match="log_format"):
        configmod.load(file)
    file.write_text("root = \n")
    with pytest.raises(ConfigError, match=r"c\.toml"):
        configmod.load(file)


def test_rendered_default_parses_back_to_defaults(tmp_path: Path) -> None:
    text = configmod.render_default()
    assert tomllib.loads(text)
    file = tmp_path / "d.toml"
    file.write_text(text)
    assert configmod.load(file) == configmod.Config()
    assert "# CRI unix socket path" in text
