"""CNI pod network setup + teardown latency with the reference plugins (root).

Usage: .venv/bin/python tests/bench/bench_cni.py [cycles] [in_flight]
Creates its own bridge, subnet, conf/cache/IPAM dirs and netns, and removes them.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

from pycri.cni import CniManager, create_netns, remove_netns

SHARED = ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK")


def nat_rules() -> str:
    return subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout


def drop_shared_chains(before: str) -> None:
    """Remove portmap's shared chains if this run created them and nothing uses them."""
    now = nat_rules()
    ours = [c for c in SHARED if f":{c} " in now and f":{c} " not in before]
    if not ours or "-A CNI-HOSTPORT-DNAT" in now:
        return
    for line in now.splitlines():
        if line.startswith("-A ") and any(f"-j {c}" in line for c in ours):
            subprocess.run(["iptables", "-t", "nat", "-D", *shlex.split(line)[1:]])
    for c in ours:
        subprocess.run(["iptables", "-t", "nat", "-F", c])
        subprocess.run(["iptables", "-t", "nat", "-X", c])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def cycle(m: CniManager, netns_dir: str, i: int) -> tuple[float, float]:
    ns = create_netns(f"b{i}", netns_dir)
    try:
        pod = f"bench{i}-{secrets.token_hex(4)}"
        t0 = time.perf_counter()
        await m.setup_pod(pod, ns, name=f"p{i}", namespace="bench", uid=pod,
                          port_mappings=[{"hostPort": 30000 + i, "containerPort": 80}])
        t1 = time.perf_counter()
        await m.teardown_pod(pod, ns)
        t2 = time.perf_counter()
        return (t1 - t0) * 1000, (t2 - t1) * 1000
    finally:
        remove_netns(ns)


async def run(cycles: int, in_flight: int, root: str, m: CniManager) -> None:
    netns_dir = os.path.join(root, "netns")
    seq = [await cycle(m, netns_dir, i) for i in range(cycles)]
    sem = asyncio.Semaphore(in_flight)

    async def limited(i: int) -> tuple[float, float]:
        async with sem:
            return await cycle(m, netns_dir, i)

    t0 = time.perf_counter()
    par = await asyncio.gather(*(limited(cycles + i) for i in range(cycles)))
    wall = time.perf_counter() - t0
    print(f"{'mode':<16}{'op':<10}{'median ms':>10}{'p95 ms':>10}")
    for mode, rows in (("sequential", seq), (f"{in_flight} in flight", par)):
        for idx, op in ((0, "ADD"), (1, "DEL")):
            vals = [r[idx] for r in rows]
            print(f"{mode:<16}{op:<10}{statistics.median(vals):>10.1f}{pct(vals, 0.95):>10.1f}")
    print(f"{in_flight} in flight: {cycles} pods in {wall:.2f}s ({cycles / wall:.1f} pods/s)")


def main() -> None:
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    in_flight = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    tag = secrets.token_hex(3)
    bridge, name = f"pcrib{tag}", f"cnib-{tag}"
    root = tempfile.mkdtemp(prefix="pycri-cni-bench-")
    conf_dir = os.path.join(root, "net.d")
    os.makedirs(conf_dir)
    conf = {"cniVersion": "1.0.0", "name": name, "plugins": [
        {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": True,
         "hairpinMode": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.198.0.0/22"}]],
                  "dataDir": os.path.join(root, "ipam")}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ]}
    with open(os.path.join(conf_dir, "10-bench.conflist"), "w") as f:
        json.dump(conf, f)
    m = CniManager({"conf_dir": conf_dir, "bin_dirs": ["/usr/lib/cni"],
                    "cache_dir": os.path.join(root, "cache")})
    before = nat_rules()
    try:
        asyncio.run(run(cycles, in_flight, root, m))
    finally:
        drop_shared_chains(before)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        subprocess.run(["umount", os.path.join(root, "netns")], capture_output=True)
        subprocess.run(["rm", "-rf", root])


if __name__ == "__main__":
    main()
