"""The files a pod's containers share: hostname, hosts, resolv.conf, and its /dev/shm."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from pycri.runtime import sys as kernel

SHM_SIZE = "65536k"
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MNT_DETACH = 2

HOSTS_TEMPLATE = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def resolv_conf(dns: Any, host_resolv: str = "/etc/resolv.conf") -> str:
    """DNSConfig as given; without one, the host's resolv.conf."""
    if not (dns.servers or dns.searches or dns.options):
        try:
            return Path(host_resolv).read_text()
        except OSError:
            return ""
    lines = [f"nameserver {server}" for server in dns.servers]
    if dns.searches:
        lines.append("search " + " ".join(dns.searches))
    if dns.options:
        lines.append("options " + " ".join(dns.options))
    return "\n".join(lines) + "\n"


def write_pod_files(directory: Path, config: Any, host_network: bool) -> dict[str, str]:
    """Create the pod's directory and files; returns their paths by name."""
    directory.mkdir(parents=True, exist_ok=True)
    hostname = socket.gethostname() if host_network else (config.hostname or config.metadata.name)
    paths = {"hostname": directory / "hostname", "hosts": directory / "hosts",
             "resolv": directory / "resolv.conf"}
    _write(paths["hostname"], hostname + "\n")
    if host_network:
        shutil.copyfile("/etc/hosts", paths["hosts"])
    else:
        _write(paths["hosts"], HOSTS_TEMPLATE)
    _write(paths["resolv"], resolv_conf(config.dns_config))
    return {k: str(v) for k, v in paths.items()}


def mount_shm(directory: Path) -> str:
    """A private tmpfs for the pod's /dev/shm, shared by its containers."""
    target = directory / "shm"
    target.mkdir(parents=True, exist_ok=True)
    kernel.mount("shm", str(target), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 f"mode=1777,size={SHM_SIZE}")
    return str(target)


def remove_pod_files(directory: Path, shm_mounted: bool) -> None:
    """Idempotent: unmount /dev/shm, then remove the directory."""
    shm = directory / "shm"
    if shm_mounted or os.path.ismount(shm):
        try:
            kernel.umount2(str(shm), MNT_DETACH)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOENT):
                raise
    if os.path.ismount(shm):
        raise OSError(errno.EBUSY, f"unmount `{shm}`: still mounted", str(shm))
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(directory)
