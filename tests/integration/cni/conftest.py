from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import os
import secrets
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pycri.cni import CniManager, remove_netns

PLUGIN_DIR = "/usr/lib/cni"
SHARED_CHAINS = ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SNAT", "CNI-HOSTPORT-MASQ",
                 "CNI-HOSTPORT-SETMARK")

pytestmark = pytest.mark.root


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def iptables_save() -> str:
    return sh("iptables-save").stdout


def _free_subnet() -> str:
    routes = sh("ip", "-4", "route", "show", "table", "all").stdout
    used = [ipaddress.ip_network(w, strict=False) for line in routes.splitlines()
            for w in line.split()[:1] if "/" in w]
    for _ in range(100):
        net = ipaddress.ip_network(f"10.199.{secrets.randbelow(200) + 20}.0/24")
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise RuntimeError("no free test subnet")


def chain_hash(network: str, container_id: str) -> str:
    """The per-attachment iptables chain suffix the reference plugins derive."""
    return hashlib.sha512((network + container_id).encode()).hexdigest()


@dataclass
class NetEnv:
    root: Path
    name: str
    bridge: str
    subnet: str
    conf_dir: Path
    cache_dir: Path
    ipam_dir: Path
    netns_dir: Path
    pods: set[str] = field(default_factory=set)

    def manager(self, **over: Any) -> CniManager:
        cfg = {"conf_dir": str(self.conf_dir), "bin_dirs": [PLUGIN_DIR],
               "cache_dir": str(self.cache_dir), "plugin_timeout": 20.0, **over}
        return CniManager(cfg)

    def reservations(self) -> list[str]:
        d = self.ipam_dir / self.name
        if not d.exists():
            return []
        return sorted(n for n in os.listdir(d)
                      if n != "lock" and not n.startswith("last_reserved_ip"))

    def leftovers_in_iptables(self, container_ids: list[str]) -> list[str]:
        text = iptables_save()
        hits = [line for line in text.splitlines() if self.name in line
                or self.subnet in line]
        for cid in container_ids:
            h = chain_hash(self.name, cid)[:21]
            hits += [line for line in text.splitlines() if h in line]
        return hits


def write_network(env: NetEnv, *, portmap: bool = True) -> None:
    plugins: list[dict[str, Any]] = [{
        "type": "bridge", "bridge": env.bridge, "isGateway": True, "ipMasq": True,
        "hairpinMode": True,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": env.subnet}]],
                 "dataDir": str(env.ipam_dir)},
    }]
    if portmap:
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}})
    conf = {"cniVersion": "1.0.0", "name": env.name, "plugins": plugins}
    (env.conf_dir / "10-test.conflist").write_text(json.dumps(conf))


def _mounted(path: Path) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


def _drop_shared_chains_if_unused(existed_before: set[str]) -> None:
    # Shared portmap chains are removed only if this test made them and no other
    # attachment still jumps from them.
    text = sh("iptables-save", "-t", "nat").stdout
    ours = [c for c in SHARED_CHAINS if f":{c} " in text and c not in existed_before]
    if not ours or any(line.startswith("-A CNI-HOSTPORT-DNAT") for line in text.splitlines()):
        return
    for line in text.splitlines():
        if line.startswith("-A ") and any(f"-j {c}" in line for c in ours):
            sh("iptables", "-t", "nat", "-D", *_split_rule(line), check=False)
    for c in ours:
        sh("iptables", "-t", "nat", "-F", c, check=False)
        sh("iptables", "-t", "nat", "-X", c, check=False)


def _split_rule(line: str) -> list[str]:
    return shlex.split(line)[1:]


@pytest.fixture
def netenv(tmp_path: Path) -> Iterator[NetEnv]:
    if os.geteuid() != 0 or not os.path.exists(os.path.join(PLUGIN_DIR, "bridge")):
        pytest.skip("needs root and the reference CNI plugins")
    tag = secrets.token_hex(3)
    env = NetEnv(
        root=tmp_path, name=f"cnit-{tag}", bridge=f"pcrit{tag}", subnet=_free_subnet(),
        conf_dir=tmp_path / "net.d", cache_dir=tmp_path / "cache",
        ipam_dir=tmp_path / "ipam", netns_dir=tmp_path / "netns",
    )
    env.conf_dir.mkdir()
    nat = sh("iptables-save", "-t", "nat").stdout
    chains_before = {c for c in SHARED_CHAINS if f":{c} " in nat}
    try:
        yield env
    finally:
        # Pods a failed test left attached are DELeted the normal way first.
        for pod_id in sorted(env.pods):
            with contextlib.suppress(Exception):
                asyncio.run(env.manager().teardown_pod(pod_id, ""))
        if env.netns_dir.exists():
            for name in os.listdir(env.netns_dir):
                remove_netns(str(env.netns_dir / name))
            if _mounted(env.netns_dir):
                sh("umount", str(env.netns_dir), check=False)
        sh("ip", "link", "del", env.bridge, check=False)
        for line in iptables_save().splitlines():
            if env.name in line and line.startswith("-A "):
                sh("iptables", "-t", "nat", "-D", *_split_rule(line), check=False)
        for pod_id in env.pods:
            for chain in ("CNI-" + chain_hash(env.name, pod_id)[:24],
                          "CNI-DN-" + chain_hash(env.name, pod_id)[:21]):
                sh("iptables", "-t", "nat", "-F", chain, check=False)
                sh("iptables", "-t", "nat", "-X", chain, check=False)
        with contextlib.suppress(Exception):
            _drop_shared_chains_if_unused(chains_before)
