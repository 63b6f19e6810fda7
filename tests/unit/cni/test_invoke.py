from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pycri.cni.config import parse_config
from pycri.cni.errors import CniPluginError, CniTimeoutError, PluginNotFoundError
from pycri.cni.exec import ExecResult, SubprocessRunner
from pycri.cni.invoke import Invoker, RuntimeConf, plugin_config
from pycri.cni.testing import FakeRunner, PluginCall, plugin_error

from .conftest import conflist

RT = RuntimeConf(
    container_id="c1",
    netns="/run/netns/c1",
    ifname="eth0",
    args=(("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", "ns"), ("K8S_POD_NAME", "p")),
    capability_args={"portMappings": [{"hostPort": 80}], "bandwidth": {"ingressRate": 1}},
)


def invoker(env: dict[str, Any], runner: Any, timeout: float = 5.0) -> Invoker:
    return Invoker(env["bin_dirs"], runner, timeout)


async def test_env_has_the_cni_parameters(env: dict[str, Any], runner: FakeRunner,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNI_IFNAME", "stale")
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin")
    net = parse_config(conflist("n", "1.0.0", {"type": "bridge"}))
    await invoker(env, runner).add_list(net, RT)
    e = runner.calls[0].env
    assert e["CNI_COMMAND"] == "ADD"
    assert e["CNI_CONTAINERID"] == "c1"
    assert e["CNI_NETNS"] == "/run/netns/c1"
    assert e["CNI_IFNAME"] == "eth0"
    assert e["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p"
    assert e["CNI_PATH"] == os.pathsep.join(env["bin_dirs"])
    assert e["PATH"] == "/usr/sbin:/usr/bin"


async def test_add_chains_prev_result(env: dict[str, Any]) -> None:
    def tuning(call: PluginCall) -> dict[str, Any]:
        out = dict(call.config["prevResult"])
        out["dns"] = {"nameservers": ["9.9.9.9"]}
        return out

    runner = FakeRunner(handlers={"tuning": tuning})
    net = parse_config(conflist("n", "1.0.0", {"type": "bridge"}, {"type": "tuning"},
                                {"type": "portmap"}))
    result = await invoker(env, runner).add_list(net, RT)
    first, second, third = (c.config for c in runner.calls)
    assert "prevResult" not in first
    assert second["prevResult"]["ips"][0]["address"] == "10.22.0.5/24"
    assert third["prevResult"]["dns"] == {"nameservers": ["9.9.9.9"]}
    assert result["dns"] == {"nameservers": ["9.9.9.9"]}
    for conf in (first, second, third):
        assert conf["name"] == "n" and conf["cniVersion"] == "1.0.0"


async def test_result_of_other_version_is_converted(env: dict[str, Any]) -> None:
    old = {"cniVersion": "0.3.1", "ips": [{"version": "4", "address": "10.0.0.9/24"}]}
    runner = FakeRunner(handlers={"bridge": lambda c: old})
    net = parse_config(conflist("n", "1.0.0", {"type": "bridge"}, {"type": "portmap"}))
    result = await invoker(env, runner).add_list(net, RT)
    assert runner.calls[1].config["prevResult"] == {
        "cniVersion": "1.0.0", "ips": [{"address": "10.0.0.9/24"}]}
    assert result["cniVersion"] == "1.0.0"


async def test_del_reverse_order_with_prev_result(env: dict[str, Any],
                                                  runner: FakeRunner) -> None:
    net = parse_config(conflist("n", "1.0.0", {"type": "bridge"}, {"type": "tuning"},
                                {"type": "portmap"}))
    prev = {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}]}
    await invoker(env, runner).del_list(net, RT, prev)
    assert runner.commands() == [("DEL", "portmap"), ("DEL", "tuning"), ("DEL", "bridge")]
    assert all(c.config["prevResult"] == prev for c in runner.calls)


async def test_del_of_pre_040_gets_no_prev_result(env: dict[str, Any],
                                                  runner: FakeRunner) -> None:
    net = parse_config(conflist("n", "0.3.1", {"type": "bridge"}))
    await invoker(env, runner).del_list(net, RT, {"cniVersion": "0.3.1"})
    assert "prevResult" not in runner.calls[0].config


def test_capabilities_only_to_plugins_that_declare_them() -> None:
    net = parse_config(conflist("n", "1.0.0", {"type": "bridge"},
                                {"type": "portmap", "capabilities": {"portMappings": True}},
                                {"type": "bandwidth",
                                 "capabilities": {"bandwidth": True, "portMappings": False}}))
    caps = RT.capability_args
    assert "runtimeConfig" not in plugin_config(net, net.plugins[0], caps)
    assert plugin_config(net, net.plugins[1], caps)["runtimeConfig"] == {
        "portMappings": [{"hostPort": 80}]}
    assert plugin_config(net, net.plugins[2], caps)["runtimeConfig"] == {
        "bandwidth": {"ingressRate": 1}}
    # Declared but not offered: no empty runtimeConfig.
    assert "runtimeConfig" not in plugin_config(net, net.plugins[1], {})


async def test_plugin_error_json(env: dict[str, Any]) -> None:
    runner = FakeRunner(handlers={"portmap": lambda c: plugin_error(7, "bad config",
                                                                    "no such chain")})
    net = parse_config(conflist("mynet", "1.0.0", {"type": "bridge"}, {"type": "portmap"}))
    with pytest.raises(CniPluginError) as info:
        await invoker(env, runner).add_list(net, RT)
    err = info.value
    assert (err.code, err.msg, err.details, err.plugin, err.network, err.command) == (
        7, "bad config", "no such chain", "portmap", "mynet", "ADD")
    assert str(err) == ("CNI ADD network `mynet` plugin `portmap`: bad config: no such chain "
                        "(code 7)")


async def test_plugin_error_without_json_uses_stderr(env: dict[str, Any]) -> None:
    runner = FakeRunner(handlers={"bridge": lambda c: ExecResult(2, b"", b"panic: boom\n")})
    net = parse_config(conflist("n", "1.0.0", {"type": "bridge"}))
    with pytest.raises(CniPluginError, match="panic: boom") as info:
        await invoker(env, runner).add_list(net, RT)
    assert info.value.details == "exit status 2"


async def test_undecodable_result(env: dict[str, Any]) -> None:
    runner = FakeRunner(handlers={"bridge": lambda c: ExecResult(0, b"garbage", b"")})
    net = parse_config(conflist("n", "1.0.0", {"type": "bridge"}))
    with pytest.raises(CniPluginError, match="decode result"):
        await invoker(env, runner).add_list(net, RT)


async def test_missing_plugin(env: dict[str, Any], runner: FakeRunner) -> None:
    net = parse_config(conflist("n", "1.0.0", {"type": "nosuch"}))
    with pytest.raises(PluginNotFoundError, match="nosuch"):
        await invoker(env, runner).add_list(net, RT)
    assert runner.calls == []


async def test_check_status_gc_follow_versions(env: dict[str, Any],
                                               runner: FakeRunner) -> None:
    inv = invoker(env, runner)
    prev = {"cniVersion": "1.0.0"}
    await inv.check_list(parse_config(conflist("n", "0.3.1", {"type": "bridge"})), RT, prev)
    await inv.check_list(parse_config({**conflist("n", "1.0.0", {"type": "bridge"}),
                                       "disableCheck": True}), RT, prev)
    await inv.status_list(parse_config(conflist("n", "1.0.0", {"type": "bridge"})))
    await inv.gc_list(parse_config(conflist("n", "1.0.0", {"type": "bridge"})), [("c", "eth0")])
    assert runner.calls == []
    new = parse_config(conflist("n", "1.1.0", {"type": "bridge"}))
    await inv.check_list(new, RT, prev)
    await inv.status_list(new)
    await inv.gc_list(new, [("c1", "eth0")])
    assert runner.commands() == [("CHECK", "bridge"), ("STATUS", "bridge"), ("GC", "bridge")]
    assert runner.calls[0].config["prevResult"] == prev
    assert "CNI_CONTAINERID" not in runner.calls[1].env
    assert runner.calls[2].config["cni.dev/valid-attachments"] == [
        {"containerID": "c1", "ifname": "eth0"}]


async def test_version_info(env: dict[str, Any], runner: FakeRunner) -> None:
    net = parse_config(conflist("n", "1.0.0", {"type": "bridge"}))
    assert "1.1.0" in await invoker(env, runner).version_info(net, "bridge")
    assert runner.calls[0].env["CNI_COMMAND"] == "VERSION"


def _script(bin_dir: str, name: str, body: str) -> None:
    path = os.path.join(bin_dir, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)


async def test_real_subprocess_roundtrip(env: dict[str, Any]) -> None:
    bin_dir = env["bin_dirs"][1]
    _script(bin_dir, "echoer",
            'cat >/dev/null\necho "{\\"cniVersion\\":\\"1.0.0\\",\\"ips\\":'
            '[{\\"address\\":\\"10.5.0.2/24\\"}],\\"dns\\":{\\"domain\\":\\"$CNI_IFNAME\\"}}"\n')
    net = parse_config(conflist("n", "1.0.0", {"type": "echoer"}))
    result = await invoker(env, SubprocessRunner()).add_list(net, RT)
    assert result["dns"] == {"domain": "eth0"}


async def test_timeout_kills_the_plugin(env: dict[str, Any], tmp_path: Path) -> None:
    bin_dir = env["bin_dirs"][1]
    pidfile = tmp_path / "pid"
    _script(bin_dir, "sleeper", f"echo $$ > {pidfile}\nexec sleep 60\n")
    net = parse_config(conflist("n", "1.0.0", {"type": "sleeper"}))
    with pytest.raises(CniTimeoutError, match="sleeper") as info:
        await invoker(env, SubprocessRunner(), timeout=0.5).add_list(net, RT)
    assert info.value.network == "n"
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
