from __future__ import annotations

import json
import os
from typing import Any

import pytest

from pycri.cni import CniManager, CniNotReadyError, CniPluginError
from pycri.cni.testing import FakeRunner, PluginCall, bridge_like_result, plugin_error

from .conftest import conflist, write_conf

POD = {"name": "web", "namespace": "default", "uid": "uid-1"}


def manager(env: dict[str, Any], runner: FakeRunner) -> CniManager:
    return CniManager({k: env[k] for k in ("conf_dir", "bin_dirs", "cache_dir",
                                           "plugin_timeout")}, runner=runner)


def portmap_conflist(name: str = "net1") -> dict[str, Any]:
    return conflist(name, "1.0.0", {"type": "bridge", "bridge": "br0"},
                    {"type": "portmap", "capabilities": {"portMappings": True}})


async def test_setup_adds_loopback_and_default_network(env: dict[str, Any],
                                                       runner: FakeRunner) -> None:
    write_conf(env["root"] / "net.d", "10-a.conflist", portmap_conflist())
    m = manager(env, runner)
    res = await m.setup_pod("pod1", "/run/netns/p1", **POD,
                            port_mappings=[{"container_port": 80, "host_port": 8080,
                                            "protocol": 1, "host_ip": "127.0.0.1"},
                                           {"container_port": 81}])
    assert res.ip == "10.22.0.5" and res.additional_ips == ()
    assert any(i.sandbox == "/run/netns/p1" and i.name == "eth0" for i in res.interfaces)
    assert res.raw["net1"]["ips"][0]["address"] == "10.22.0.5/24"
    assert res.dns.nameservers == ("10.22.0.1",)
    assert sorted(runner.commands()) == [("ADD", "bridge"), ("ADD", "loopback"),
                                         ("ADD", "portmap")]
    lo = next(c for c in runner.calls if c.plugin == "loopback")
    assert lo.env["CNI_IFNAME"] == "lo"
    portmap = next(c for c in runner.calls if c.plugin == "portmap")
    assert portmap.config["runtimeConfig"] == {"portMappings": [
        {"hostPort": 8080, "containerPort": 80, "protocol": "udp", "hostIP": "127.0.0.1"}]}
    assert portmap.env["CNI_ARGS"] == ("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;"
                                       "K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=pod1;"
                                       "K8S_POD_UID=uid-1")
    cached = json.loads((env["root"] / "cache" / "pod1" / "net1:eth0.json").read_text())
    assert cached["result"]["ips"][0]["address"] == "10.22.0.5/24"
    assert m.cached_result("pod1") == res


async def test_teardown_after_restart_replays_cache(env: dict[str, Any],
                                                    runner: FakeRunner) -> None:
    conf = env["root"] / "net.d"
    write_conf(conf, "10-a.conflist", portmap_conflist())
    await manager(env, runner).setup_pod("pod1", "/nonexistent/netns", **POD,
                                         port_mappings=[{"hostPort": 1, "containerPort": 2}])
    # The admin changes the config before the pod goes away.
    os.unlink(conf / "10-a.conflist")
    write_conf(conf, "20-b.conflist", conflist("other", "1.0.0", {"type": "tuning"}))
    runner.calls.clear()
    restarted = manager(env, FakeRunner())
    await restarted.teardown_pod("pod1", "/nonexistent/netns")
    calls = restarted.invoker.runner.calls  # type: ignore[attr-defined]
    assert [(c.command, c.plugin) for c in calls] == [("DEL", "portmap"), ("DEL", "bridge")]
    for c in calls:
        assert c.config["name"] == "net1"
        assert c.config["prevResult"]["ips"][0]["address"] == "10.22.0.5/24"
        assert c.env["CNI_NETNS"] == ""  # the netns is gone
        assert "K8S_POD_NAME=web" in c.env["CNI_ARGS"]
    assert calls[0].config["runtimeConfig"]["portMappings"][0]["hostPort"] == 1
    assert not (env["root"] / "cache" / "pod1").exists()


async def test_teardown_without_cache_uses_current_config(env: dict[str, Any],
                                                          runner: FakeRunner) -> None:
    write_conf(env["root"] / "net.d", "10-a.conflist", portmap_conflist())
    m = manager(env, runner)
    await m.teardown_pod("never-added", "", **POD)
    assert runner.commands() == [("DEL", "portmap"), ("DEL", "bridge")]
    assert "prevResult" not in runner.calls[0].config


async def test_teardown_without_cache_or_config_is_a_noop(env: dict[str, Any],
                                                           runner: FakeRunner) -> None:
    await manager(env, runner).teardown_pod("x", "")
    assert runner.calls == []


async def test_failed_teardown_keeps_cache(env: dict[str, Any]) -> None:
    write_conf(env["root"] / "net.d", "10-a.conflist", portmap_conflist())
    runner = FakeRunner()
    m = manager(env, runner)
    await m.setup_pod("pod1", "", **POD)
    runner.handlers["bridge"] = lambda c: plugin_error(11, "busy")
    with pytest.raises(CniPluginError, match="busy"):
        await m.teardown_pod("pod1", "")
    assert (env["root"] / "cache" / "pod1" / "net1:eth0.json").exists()
    del runner.handlers["bridge"]
    await m.teardown_pod("pod1", "")
    assert not (env["root"] / "cache" / "pod1").exists()


async def test_failed_add_is_rolled_back(env: dict[str, Any]) -> None:
    write_conf(env["root"] / "net.d", "10-a.conflist", portmap_conflist())
    runner = FakeRunner(handlers={"portmap": lambda c: plugin_error(
        999, "iptables failed") if c.command == "ADD" else None})
    m = manager(env, runner)
    with pytest.raises(CniPluginError, match="iptables failed"):
        await m.setup_pod("pod1", "", **POD)
    dels = [c for c in runner.calls if c.command == "DEL"]
    assert [c.plugin for c in dels] == ["portmap", "bridge"]
    assert not (env["root"] / "cache" / "pod1").exists()


async def test_not_ready_until_config_and_plugins(env: dict[str, Any],
                                                  runner: FakeRunner) -> None:
    m = manager(env, runner)
    ready, why = m.network_ready()
    assert not ready and "no valid CNI network config" in why
    with pytest.raises(CniNotReadyError):
        await m.setup_pod("pod1", "", **POD)
    write_conf(env["root"] / "net.d", "05-broken.conflist", "{")
    assert "05-broken.conflist" in m.network_ready()[1]
    write_conf(env["root"] / "net.d", "10-a.conflist",
               conflist("n", "1.0.0", {"type": "bridge"}, {"type": "flannel"}))
    ready, why = m.network_ready()
    assert not ready and "flannel" in why
    write_conf(env["root"] / "net.d", "09-b.conflist", portmap_conflist("b"))
    assert m.network_ready() == (True, "")
    assert await m.status() == (True, "")


async def test_status_reports_plugin_status_errors(env: dict[str, Any]) -> None:
    write_conf(env["root"] / "net.d", "10-a.conflist", conflist("n", "1.1.0",
                                                               {"type": "bridge"}))
    runner = FakeRunner(handlers={"bridge": lambda c: plugin_error(50, "not ready yet")})
    ready, why = await manager(env, runner).status()
    assert not ready and "not ready yet" in why


async def test_check_pod_uses_cached_result(env: dict[str, Any], runner: FakeRunner) -> None:
    write_conf(env["root"] / "net.d", "10-a.conflist", portmap_conflist())
    m = manager(env, runner)
    await m.setup_pod("pod1", "/n", **POD)
    runner.calls.clear()
    await m.check_pod("pod1", "/n")
    assert runner.commands() == [("CHECK", "bridge"), ("CHECK", "portmap")]
    assert runner.calls[0].config["prevResult"]["ips"]


async def test_multiple_networks_and_ips(env: dict[str, Any]) -> None:
    def dual(call: PluginCall) -> dict[str, Any]:
        r = bridge_like_result(call, "10.1.0.4/24")
        r["ips"].insert(0, {"address": "fd00::4/64", "interface": 2})
        return r

    runner = FakeRunner(handlers={"bridge": dual})
    write_conf(env["root"] / "net.d", "10-a.conflist", conflist("a", "1.0.0",
                                                               {"type": "bridge"}))
    write_conf(env["root"] / "net.d", "20-b.conflist", conflist("b", "1.0.0",
                                                               {"type": "tuning"}))
    m = CniManager({"conf_dir": env["conf_dir"], "bin_dirs": env["bin_dirs"],
                    "cache_dir": env["cache_dir"], "max_networks": 2, "loopback": False},
                   runner=runner)
    res = await m.setup_pod("pod1", "/n", **POD)
    assert res.ip == "10.1.0.4" and res.additional_ips == ("fd00::4",)
    assert {c.env["CNI_IFNAME"] for c in runner.calls} == {"eth0", "net1"}
    assert set(res.raw) == {"a", "b"}


async def test_gc_deletes_stale_attachments(env: dict[str, Any], runner: FakeRunner) -> None:
    write_conf(env["root"] / "net.d", "10-a.conflist", conflist("n", "1.1.0",
                                                               {"type": "bridge"}))
    m = manager(env, runner)
    await m.setup_pod("live", "", **POD)
    await m.setup_pod("stale", "", **POD)
    runner.calls.clear()
    await m.gc(["live"])
    assert runner.commands() == [("DEL", "bridge"), ("GC", "bridge")]
    assert runner.calls[0].env["CNI_CONTAINERID"] == "stale"
    assert runner.calls[1].config["cni.dev/valid-attachments"] == [
        {"containerID": "live", "ifname": "eth0"}]
    assert m.cache.container_ids() == ["live"]
