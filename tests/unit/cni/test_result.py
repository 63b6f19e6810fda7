from __future__ import annotations

import pytest

from pycri.cni.result import ResultError, convert, parse_result, to_dict

RESULT_040 = {
    "cniVersion": "0.4.0",
    "interfaces": [{"name": "cni0", "mac": "aa"}, {"name": "eth0", "mac": "bb",
                                                   "sandbox": "/run/netns/x"}],
    "ips": [
        {"version": "4", "address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 1},
        {"version": "6", "address": "fd00::5/64", "gateway": "fd00::1", "interface": 1},
    ],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1"}],
    "dns": {"nameservers": ["10.1.0.1"], "search": ["svc"]},
}


def test_parse_040() -> None:
    r = parse_result(RESULT_040)
    assert r.cni_version == "0.4.0"
    assert [i.ip for i in r.ips] == ["10.1.0.5", "fd00::5"]
    assert str(r.ips[0].gateway) == "10.1.0.1"
    assert r.ips[0].interface == 1
    assert r.interfaces[1].sandbox == "/run/netns/x"
    assert r.dns.nameservers == ("10.1.0.1",)
    assert [ip.ip for ip in r.ips_for("eth0")] == ["10.1.0.5", "fd00::5"]


def test_legacy_020() -> None:
    raw = {
        "cniVersion": "0.2.0",
        "ip4": {"ip": "10.2.0.7/24", "gateway": "10.2.0.1",
                "routes": [{"dst": "0.0.0.0/0"}]},
        "ip6": {"ip": "fd01::7/64"},
        "dns": {"nameservers": ["1.1.1.1"]},
    }
    r = parse_result(raw)
    assert [i.ip for i in r.ips] == ["10.2.0.7", "fd01::7"]
    assert r.ips[0].interface is None
    assert len(r.routes) == 1
    # Results without interface links give all their IPs to any interface name.
    assert len(r.ips_for("eth0")) == 2
    back = to_dict(r)
    assert back["ip4"]["ip"] == "10.2.0.7/24"
    assert back["ip4"]["routes"] == [{"dst": "0.0.0.0/0"}]
    assert "routes" not in back["ip6"]


def test_convert_040_to_100_drops_version_field() -> None:
    out = convert(RESULT_040, "1.0.0")
    assert out["cniVersion"] == "1.0.0"
    assert all("version" not in ip for ip in out["ips"])
    assert out["ips"][0] == {"address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 1}


def test_convert_100_to_031_adds_version_field() -> None:
    out = convert(convert(RESULT_040, "1.0.0"), "0.3.1")
    assert [ip["version"] for ip in out["ips"]] == ["4", "6"]


def test_110_fields_kept_only_in_110() -> None:
    raw = {
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "eth0", "sandbox": "/n", "mtu": 1400, "socketPath": "/s",
                        "pciID": "0000:00:01.0"}],
        "ips": [{"address": "10.3.0.2/24", "interface": 0}],
        "routes": [{"dst": "10.0.0.0/8", "gw": "10.3.0.1", "mtu": 1300, "advmss": 1200,
                    "priority": 5, "table": 100, "scope": 0}],
    }
    r = parse_result(raw)
    assert r.interfaces[0].mtu == 1400 and r.routes[0].table == 100
    assert to_dict(r) == raw
    older = to_dict(r, "1.0.0")
    assert "mtu" not in older["interfaces"][0]
    assert older["routes"][0] == {"dst": "10.0.0.0/8", "gw": "10.3.0.1"}


def test_ips_for_picks_the_sandbox_interface() -> None:
    raw = {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": "/a"}, {"name": "net1", "sandbox": "/a"}],
        "ips": [{"address": "10.0.0.2/24", "interface": 0},
                {"address": "10.9.0.2/24", "interface": 1}],
    }
    r = parse_result(raw)
    assert [i.ip for i in r.ips_for("net1")] == ["10.9.0.2"]


@pytest.mark.parametrize(
    "raw",
    [
        {"cniVersion": "1.0.0", "ips": [{"address": "nope"}]},
        {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.1/8", "interface": 3}]},
        {"cniVersion": "5.0.0"},
        {"ips": []},
    ],
)
def test_bad_results(raw: dict) -> None:
    with pytest.raises(ResultError):
        parse_result(raw)


def test_default_version_for_results_without_one() -> None:
    assert parse_result({"ips": []}, "1.0.0").cni_version == "1.0.0"
