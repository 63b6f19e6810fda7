"""Fixtures and busybox-static bundles for the runtime's integration tests."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pycri.runtime.oci.defaultspec import default_spec

BUSYBOX = "/usr/bin/busybox"


def make_rootfs(path: str) -> str:
    """A rootfs holding busybox and a link per applet in /bin."""
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp", "root"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin/busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, check=True,
                             text=True).stdout.split()
    for a in applets:
        link = os.path.join(path, "bin", a)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(path, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n")
    with open(os.path.join(path, "etc/group"), "w") as f:
        f.write("root:x:0:\nnobody:x:65534:\n")
    return path


def spec_for(args: list[str], **overrides: Any) -> dict[str, Any]:
    spec = default_spec(args)
    spec["process"]["terminal"] = False
    spec["root"]["readonly"] = False
    spec["linux"].pop("resources", None)
    spec["linux"]["cgroupsPath"] = ""
    for key, value in overrides.items():
        spec[key] = value
    return copy.deepcopy(spec)


def write_bundle(bundle: str, rootfs: str, spec: dict[str, Any]) -> str:
    os.makedirs(bundle, exist_ok=True)
    target = os.path.join(bundle, "rootfs")
    if not os.path.exists(target):
        shutil.copytree(rootfs, target, symlinks=True)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f)
    return bundle


def run_to_exit(root: str, cid: str, bundle: str, **kw: Any) -> tuple[int, str]:
    """create + start + wait + delete through the library; (exit status, output)."""
    from pycri.runtime.oci.container import Container

    r, w = os.pipe()
    try:
        c = Container.create(root, cid, bundle, stdio=(0, w, w), **kw)
    finally:
        os.close(w)
    try:
        c.start()
        out = b""
        while chunk := os.read(r, 65536):
            out += chunk
        _, status = os.waitpid(c.pid, 0)
    finally:
        os.close(r)
        c.delete(force=True)
    return os.waitstatus_to_exitcode(status), out.decode()


@pytest.fixture(scope="session")
def busybox_rootfs() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="pyrunc-rootfs-")
    yield make_rootfs(os.path.join(d, "rootfs"))
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def state_root(tmp_path) -> Iterator[str]:
    root = str(tmp_path / "state")
    yield root
    # Anything a failed test left running is killed and deleted.
    from pycri.runtime.oci.container import Container
    from pycri.runtime.oci.state import list_ids

    for cid in list_ids(root):
        with contextlib.suppress(Exception):
            Container.load(root, cid).delete(force=True)


@pytest.fixture
def make_bundle(busybox_rootfs, tmp_path) -> Callable[..., str]:
    """make_bundle(args, name="b", **spec_overrides) -> bundle path."""
    def make(args: list[str], name: str = "b", spec: dict[str, Any] | None = None,
             **overrides: Any) -> str:
        return write_bundle(str(tmp_path / name), busybox_rootfs,
                            spec if spec is not None else spec_for(args, **overrides))
    return make


@pytest.fixture
def cid() -> str:
    """A container id no other test (or engineer) uses: cgroups hang below it."""
    import uuid

    return f"pyrunc-it-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def run(state_root, cid) -> Callable[..., tuple[int, str]]:
    """run(bundle, **create_kw) -> (exit code, output) via the library."""
    def go(bundle: str, container_id: str | None = None, **kw: Any) -> tuple[int, str]:
        return run_to_exit(state_root, container_id or cid, bundle, **kw)
    return go


@pytest.fixture(name="spec_for")
def spec_for_fixture() -> Callable[..., dict[str, Any]]:
    return spec_for
