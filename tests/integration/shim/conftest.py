"""Shim integration tests: the real runtime library, real namespaces and cgroups (root)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from pycri.runtime.task import TaskManager

TOOLS = ("sh", "echo", "sleep", "cat", "true", "hostname", "head", "tr", "tty", "stty", "ls",
         "printf", "exit")


@pytest.fixture(scope="session")
def rootfs() -> Iterator[str]:
    """One busybox rootfs shared (read-only) by every container of the session."""
    d = tempfile.mkdtemp(prefix="pcr-", dir="/tmp")
    os.makedirs(f"{d}/bin")
    shutil.copy("/usr/bin/busybox", f"{d}/bin/busybox")
    for t in TOOLS:
        os.symlink("busybox", f"{d}/bin/{t}")
    for sub in ("proc", "dev", "sys", "tmp", "etc", "gates"):
        os.makedirs(f"{d}/{sub}", exist_ok=True)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def run_root(rootfs: str, cgroup_parent: str) -> Iterator[str]:
    root = tempfile.mkdtemp(prefix="pci-", dir="/tmp")
    yield root
    _cleanup(root)


def _cleanup(root: str) -> None:
    for pid in _pids_with_arg(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if root in line]
    from pycri.runtime import sys as ksys

    for m in reversed(mounts):  # only a failed test leaves any
        with contextlib.suppress(OSError):
            ksys.umount2(m, 2)  # MNT_DETACH
    shutil.rmtree(root, ignore_errors=True)


def _pids_with_arg(arg: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if arg.encode() in f.read():
                        out.append(int(d))
            except OSError:
                pass
    return out


@pytest.fixture
def cgroup_parent() -> Iterator[str]:
    name = f"pycri-shim-it-{uuid.uuid4().hex[:8]}"
    yield name
    for base in os.listdir("/sys/fs/cgroup"):
        p = os.path.join("/sys/fs/cgroup", base, name)
        if os.path.isdir(p):
            for child in os.listdir(p):
                if os.path.isdir(os.path.join(p, child)):
                    with contextlib.suppress(OSError):
                        os.rmdir(os.path.join(p, child))
            with contextlib.suppress(OSError):
                os.rmdir(p)


def cgroups_left(parent: str) -> list[str]:
    out = []
    for base in os.listdir("/sys/fs/cgroup"):
        p = os.path.join("/sys/fs/cgroup", base, parent)
        if os.path.isdir(p):
            out += [os.path.join(p, c) for c in os.listdir(p)
                    if os.path.isdir(os.path.join(p, c))]
    return out


def mounts_under(root: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if root in line.split()[4]]


@pytest.fixture
def bundle(run_root: str, rootfs: str, cgroup_parent: str) -> Callable[..., str]:
    from pycri.runtime.oci.defaultspec import default_spec

    def make(cid: str, args: list[str], ns: dict[str, str] | None = None,
             tty: bool = False) -> str:
        b = os.path.join(run_root, "bundles", cid)
        os.makedirs(b)
        spec = default_spec(args)
        spec["process"]["terminal"] = tty
        spec["root"] = {"path": rootfs, "readonly": True}
        spec.pop("hostname", None)
        nss = [{"type": "mount"}]
        ns = ns or {}
        nss.append({"type": "pid", "path": ns["pid"]} if "pid" in ns else {"type": "pid"})
        for k, t in (("net", "network"), ("ipc", "ipc"), ("uts", "uts")):
            nss.append({"type": t, "path": ns[k]} if k in ns else {"type": t})
        spec["linux"]["namespaces"] = nss
        spec["linux"]["cgroupsPath"] = f"/{cgroup_parent}/{cid}"
        if tty:  # ptmx and the pts the runtime allocates; runc would add them by itself
            spec["linux"]["resources"]["devices"] += [
                {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
                {"allow": True, "type": "c", "major": 136, "access": "rwm"}]
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(spec, f)
        return b

    return make


@pytest.fixture
async def tm(cgroup_parent: str, run_root: str) -> AsyncIterator[TaskManager]:
    # Depends on cgroup_parent so the cgroups are removed after the containers.
    m = TaskManager(run_root, runtime="oci")
    yield m
    for sid in list(m.shims):
        with contextlib.suppress(Exception):
            await m.shutdown_shim(sid, force=True)
    await m.close()
