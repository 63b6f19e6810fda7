from __future__ import annotations

import json

import pytest

from pycri.runtime.oci import spec as speclib
from pycri.runtime.oci.defaultspec import default_spec
from pycri.runtime.oci.errors import InvalidSpec


def test_default_spec_is_valid():
    speclib.validate(default_spec())


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda s: s.pop("ociVersion"), "ociVersion"),
    (lambda s: s["root"].pop("path"), "root.path"),
    (lambda s: s["process"].update(args=[]), "process.args"),
    (lambda s: s["process"].update(cwd="rel"), "process.cwd"),
    (lambda s: s["process"]["user"].update(uid="0"), "process.user.uid"),
    (lambda s: s["process"]["rlimits"].append({"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}),
     "process.rlimits[1].type"),
    (lambda s: s["mounts"][2].update(destination="dev/pts"), "mounts[2].destination"),
    (lambda s: s["linux"]["namespaces"].append({"type": "pid"}), "linux.namespaces[6].type"),
    (lambda s: s["linux"]["namespaces"].append({"type": "bogus"}), "linux.namespaces[6].type"),
    (lambda s: s.update(hooks={"prestart": [{"path": "x"}]}), "hooks.prestart[0].path"),
    (lambda s: s["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]),
     "linux.uidMappings"),
    (lambda s: s["linux"].update(devices=[{"path": "/dev/x", "type": "q"}]),
     "linux.devices[0].type"),
    (lambda s: s["linux"].update(namespaces=[{"type": "mount"}]), "hostname"),
])
def test_errors_name_the_field(mutate, field):
    spec = default_spec()
    mutate(spec)
    with pytest.raises(InvalidSpec) as info:
        speclib.validate(spec)
    assert info.value.field == field


def test_load_resolves_root_relative_to_bundle(tmp_path):
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps(default_spec()))
    spec = speclib.load(str(tmp_path))
    assert spec["root"]["path"] == str(tmp_path / "rootfs")


def test_load_missing_config_and_rootfs(tmp_path):
    with pytest.raises(InvalidSpec, match=r"config\.json"):
        speclib.load(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(default_spec()))
    with pytest.raises(InvalidSpec) as info:
        speclib.load(str(tmp_path))
    assert info.value.field == "root.path"
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InvalidSpec, match="read"):
        speclib.load(str(tmp_path))
