"""The CNI invoker against Debian's reference plugins, real netns, bridge and iptables."""

from __future__ import annotations

import asyncio
import os
import secrets
import time

import pytest

from pycri.cni import (
    CniPluginError,
    create_netns,
    install_default_config,
    interface_stats,
    is_netns,
    remove_netns,
)

from .conftest import NetEnv, chain_hash, iptables_save, sh, write_network

pytestmark = pytest.mark.root

POD = {"namespace": "default", "uid": "uid"}


def pod_id() -> str:
    return "pod" + secrets.token_hex(6)


def ping(netns: str, ip: str) -> int:
    return sh("nsenter", f"--net={netns}", "busybox", "ping", "-c1", "-W2", ip,
              check=False).returncode


def bridge_ports(bridge: str) -> set[str]:
    out = sh("ip", "-o", "link", "show", "master", bridge).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def host_links() -> set[str]:
    return {line.split(":")[1].strip().split("@")[0]
            for line in sh("ip", "-o", "link").stdout.splitlines()}


async def test_two_pods_ping_each_other(netenv: NetEnv) -> None:
    write_network(netenv)
    m = netenv.manager()
    assert m.network_ready() == (True, "")
    ns1 = create_netns("a", str(netenv.netns_dir))
    ns2 = create_netns("b", str(netenv.netns_dir))
    assert is_netns(ns1)
    p1, p2 = pod_id(), pod_id()
    netenv.pods |= {p1, p2}
    r1 = await m.setup_pod(p1, ns1, name="a", **POD)
    r2 = await m.setup_pod(p2, ns2, name="b", **POD)
    assert r1.ip != r2.ip
    assert r1.ip.startswith(netenv.subnet.rsplit(".", 1)[0])
    assert ping(ns1, r2.ip) == 0
    assert ping(ns2, r1.ip) == 0
    assert ping(ns1, "127.0.0.1") == 0  # loopback is up
    stats = interface_stats(ns1)
    assert stats["eth0"]["tx_packets"] > 0 and stats["eth0"]["rx_bytes"] > 0
    assert "lo" in stats
    host_veths = {i.name for i in r1.interfaces + r2.interfaces
                  if not i.sandbox and i.name != netenv.bridge}
    assert host_veths <= host_links()
    assert len(netenv.reservations()) == 2
    await m.teardown_pod(p1, ns1)
    await m.teardown_pod(p2, ns2)
    assert not host_veths & host_links()
    assert netenv.reservations() == []
    assert netenv.leftovers_in_iptables([p1, p2]) == []


async def test_host_port_rule_added_and_removed(netenv: NetEnv) -> None:
    write_network(netenv)
    m = netenv.manager()
    ns = create_netns("hp", str(netenv.netns_dir))
    pid = pod_id()
    netenv.pods.add(pid)
    port = 20000 + secrets.randbelow(20000)
    res = await m.setup_pod(pid, ns, name="hp", **POD,
                            port_mappings=[{"host_port": port, "container_port": 80,
                                            "protocol": 0}])
    rules = iptables_save()
    dn_chain = "CNI-DN-" + chain_hash(netenv.name, pid)[:21]
    assert f"--dport {port} -j DNAT --to-destination {res.ip}:80" in rules
    assert f":{dn_chain} " in rules
    await m.teardown_pod(pid, ns)
    rules = iptables_save()
    assert f"--dport {port}" not in rules
    assert dn_chain not in rules
    assert netenv.leftovers_in_iptables([pid]) == []


async def test_del_after_restart_uses_cache(netenv: NetEnv) -> None:
    write_network(netenv)
    ns = create_netns("rs", str(netenv.netns_dir))
    pid = pod_id()
    netenv.pods.add(pid)
    res = await netenv.manager().setup_pod(pid, ns, name="rs", **POD,
                                           port_mappings=[{"hostPort": 20001,
                                                           "containerPort": 80}])
    assert netenv.reservations() == [res.ip]
    # The config disappears while the daemon is down: DEL must still work from cache.
    os.unlink(netenv.conf_dir / "10-test.conflist")
    restarted = netenv.manager()
    assert restarted.network_ready()[0] is False
    assert restarted.cached_result(pid) is not None
    assert restarted.cached_result(pid).ip == res.ip  # type: ignore[union-attr]
    await restarted.teardown_pod(pid, ns)
    assert netenv.reservations() == []
    assert netenv.leftovers_in_iptables([pid]) == []
    assert not (netenv.cache_dir / pid).exists()
    assert sh("nsenter", f"--net={ns}", "ip", "-o", "link", "show", "eth0",
              check=False).returncode != 0


async def test_del_is_idempotent_and_survives_a_gone_netns(netenv: NetEnv) -> None:
    write_network(netenv)
    m = netenv.manager()
    await m.teardown_pod(pod_id(), "/nonexistent/netns", name="x", **POD)
    ns = create_netns("gone", str(netenv.netns_dir))
    pid = pod_id()
    netenv.pods.add(pid)
    res = await m.setup_pod(pid, ns, name="gone", **POD,
                            port_mappings=[{"hostPort": 20002, "containerPort": 80}])
    veths = {i.name for i in res.interfaces if not i.sandbox and i.name != netenv.bridge}
    remove_netns(ns)
    remove_netns(ns)
    await m.teardown_pod(pid, ns)
    await m.teardown_pod(pid, ns)
    assert netenv.reservations() == []
    assert not veths & host_links()
    # portmap needs no netns to undo its rules. The bridge plugin (1.1.x) finds the
    # addresses to un-masquerade inside the netns, so with the netns gone its
    # ipMasq rules stay: the daemon must DEL before it unpins the namespace.
    leftovers = netenv.leftovers_in_iptables([pid])
    assert not [line for line in leftovers if "CNI-DN-" in line or "dport" in line]
    assert not (netenv.cache_dir / pid).exists()


async def test_check_detects_a_broken_attachment(netenv: NetEnv) -> None:
    write_network(netenv, portmap=False)
    m = netenv.manager()
    ns = create_netns("chk", str(netenv.netns_dir))
    pid = pod_id()
    netenv.pods.add(pid)
    await m.setup_pod(pid, ns, name="chk", **POD)
    await m.check_pod(pid, ns)
    sh("nsenter", f"--net={ns}", "ip", "link", "del", "eth0")
    with pytest.raises(CniPluginError, match="bridge"):
        await m.check_pod(pid, ns)
    await m.teardown_pod(pid, ns)


@pytest.mark.slow
async def test_add_del_cycles_leave_nothing_behind(netenv: NetEnv) -> None:
    write_network(netenv)
    m = netenv.manager()
    ids = []
    for i in range(20):
        ns = create_netns(f"c{i}", str(netenv.netns_dir))
        pid = pod_id()
        ids.append(pid)
        netenv.pods.add(pid)
        await m.setup_pod(pid, ns, name=f"c{i}", **POD,
                          port_mappings=[{"hostPort": 21000 + i, "containerPort": 80}])
        await m.teardown_pod(pid, ns)
        remove_netns(ns)
    assert os.listdir(netenv.netns_dir) == []
    # Only veths on our bridge count (other tests may run beside us), and a destroyed
    # namespace's veth peers go away in the kernel's own time.
    deadline = time.monotonic() + 10
    while bridge_ports(netenv.bridge) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert bridge_ports(netenv.bridge) == set()
    assert netenv.reservations() == []
    assert netenv.leftovers_in_iptables(ids) == []
    assert os.listdir(netenv.cache_dir) == []
    with open("/proc/self/mountinfo") as f:
        assert not [line for line in f if str(netenv.netns_dir) + "/" in line]


def test_default_config_installs_and_is_ready(netenv: NetEnv) -> None:
    assert install_default_config(str(netenv.conf_dir)) is True
    ready, why = netenv.manager().network_ready()
    assert ready, why
    assert install_default_config(str(netenv.conf_dir)) is False
