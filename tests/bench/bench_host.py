"""Host hygiene for the comparison benches: snapshot, sweep and leftover checks.

Other engineers' tests share the machine, so every sweep and check is limited to what
names the run's own tags (temp dir, bridge, network name, subnet, cgroup parent).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PORTMAP_SHARED = ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SNAT", "CNI-HOSTPORT-MASQ",
                  "CNI-HOSTPORT-SETMARK")

def run_text(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True).stdout


def iptables_lines() -> list[str]:
    return run_text("iptables-save").splitlines()


def link_names() -> set[str]:
    return {json_link["ifname"] for json_link in json.loads(run_text("ip", "-j", "link") or "[]")}


def mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]


@dataclass
class HostSnapshot:
    """What a run may leave behind: links, mounts, iptables lines and processes."""

    links: set[str]
    mounts: list[str]
    iptables: list[str]

    @classmethod
    def take(cls) -> HostSnapshot:
        return cls(link_names(), mount_points(), iptables_lines())

    def leftovers(self, tags: tuple[str, ...]) -> list[str]:
        """Things present now that were not before and name one of `tags`.

        Other engineers' tests run beside the bench, so only what carries the run's tags
        (its temp dir, bridge, network name, subnet) is counted. A leaked netns shows as a
        mount under the temp dir, a leaked veth as a link whose master is the bridge.
        """
        now = HostSnapshot.take()
        found = [f"link {name}" for name in sorted(now.links - self.links)
                 if any(t in name for t in tags)]
        before_mounts = set(self.mounts)
        found += [f"mount {m}" for m in now.mounts
                  if m not in before_mounts and any(t in m for t in tags)]
        before_rules = set(self.iptables)
        found += [f"iptables {r}" for r in now.iptables
                  if r not in before_rules and any(t in r for t in tags)]
        found += [f"process {p}" for p in processes_matching(tags)]
        return found


def processes_matching(tags: tuple[str, ...]) -> list[str]:
    """`pid cmdline` of live processes whose command line names one of `tags`."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace").strip()
        except OSError:
            continue
        if cmdline and any(t in cmdline for t in tags):
            found.append(f"{entry.name} {cmdline}")
    return found


def unmount_under(prefix: str) -> None:
    """Lazily unmount everything mounted below `prefix`, deepest first."""
    for point in sorted({m for m in mount_points() if m.startswith(prefix)},
                        key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def remove_cgroups(parent: str) -> None:
    """rmdir the cgroup `parent` (and its children) in every hierarchy, deepest first."""
    rel = parent.strip("/")
    for hierarchy in CGROUP_ROOT.iterdir():
        top = hierarchy / rel
        if not top.is_dir():
            continue
        dirs = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                      reverse=True)
        for directory in [*dirs, top]:
            _rmdir_cgroup(directory)


def _rmdir_cgroup(directory: Path) -> None:
    for _ in range(50):
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            # a process still exiting keeps the cgroup busy for a moment
            procs = directory / "cgroup.procs"
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.05)
    log.warning("cgroup left behind path=%s", directory)


def drop_iptables(tags: tuple[str, ...], created_shared: list[str]) -> None:
    """Delete rules naming `tags`, chains only they jumped to, and portmap's shared chains
    when this run created them and nothing else uses them."""
    table = ""
    chains: set[str] = set()
    for line in iptables_lines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A ") and any(t in line for t in tags):
            argv = shlex.split(line)
            if "-j" in argv:
                target = argv[argv.index("-j") + 1]
                if target.startswith("CNI-") and target not in PORTMAP_SHARED:
                    chains.add(f"{table} {target}")
            subprocess.run(["iptables", "-t", table, "-D", *argv[1:]], capture_output=True)
    for entry in chains:
        table, chain = entry.split()
        subprocess.run(["iptables", "-t", table, "-F", chain], capture_output=True)
        subprocess.run(["iptables", "-t", table, "-X", chain], capture_output=True)
    rules = iptables_lines()
    if any(line.startswith("-A CNI-HOSTPORT-DNAT") for line in rules):
        return
    for line in rules:
        if line.startswith("-A ") and any(f"-j {c}" in line for c in created_shared):
            subprocess.run(["iptables", "-t", "nat", "-D", *shlex.split(line)[1:]],
                           capture_output=True)
    for chain in created_shared:
        subprocess.run(["iptables", "-t", "nat", "-F", chain], capture_output=True)
        subprocess.run(["iptables", "-t", "nat", "-X", chain], capture_output=True)
