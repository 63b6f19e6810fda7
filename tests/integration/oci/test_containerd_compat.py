"""pyrunc as the BinaryName of containerd-shim-runc-v2: Debian's containerd, started on
its own socket and dirs, runs an OCI image built here from the busybox rootfs."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid

import pytest

pytestmark = [pytest.mark.root, pytest.mark.slow]

CONTAINERD = shutil.which("containerd")
CTR = shutil.which("ctr")
IMAGE = "docker.io/library/pyrunc-busybox:latest"


def _blob(layout: tarfile.TarFile, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size = len(data)
    layout.addfile(info, io.BytesIO(data))
    return f"sha256:{digest}"


def write_oci_archive(rootfs: str, path: str) -> None:
    """An OCI image layout tar: one uncompressed layer holding `rootfs`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as layer:
        layer.add(rootfs, arcname=".")
    layer_bytes = buf.getvalue()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    with tarfile.open(path, "w") as out:
        layer_digest = _blob(out, layer_bytes)
        config = json.dumps({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }).encode()
        config_digest = _blob(out, config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest, "size": len(layer_bytes)}],
        }).encode()
        manifest_digest = _blob(out, manifest)
        index = json.dumps({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": len(manifest),
            "platform": {"architecture": arch, "os": "linux"},
            "annotations": {"io.containerd.image.name": IMAGE,
                            "org.opencontainers.image.ref.name": "latest"},
        }]}).encode()
        for name, data in (("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
                           ("index.json", index)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))


@pytest.fixture
def containerd(tmp_path):
    if not CONTAINERD or not CTR or not shutil.which("containerd-shim-runc-v2"):
        pytest.skip("containerd, ctr or containerd-shim-runc-v2 not installed")
    d = tmp_path / "ctd"
    d.mkdir()
    sock = str(d / "containerd.sock")
    config = d / "config.toml"
    config.write_text(f"""version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
""")
    with open(d / "containerd.log", "wb") as log:
        proc = subprocess.Popen([CONTAINERD, "--config", str(config)], stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            for _ in range(200):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            else:
                pytest.fail("containerd did not come up: " + (d / "containerd.log").read_text())
            yield sock
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    subprocess.run(["umount", "-R", f"{d}/state"], capture_output=True, check=False)
    subprocess.run(["umount", "-R", f"{d}/root"], capture_output=True, check=False)


def test_ctr_run_with_pyrunc(containerd, busybox_rootfs, tmp_path):
    sock = containerd
    ns = f"pyrunc-{uuid.uuid4().hex[:8]}"
    wrapper = tmp_path / "pyrunc-wrapper"
    calls = tmp_path / "calls.log"
    wrapper.write_text(f"""#!/bin/sh
echo "$@" >> {calls}
exec {sys.executable} -m pycri.runtime.oci.cli "$@"
""")
    wrapper.chmod(0o755)
    archive = str(tmp_path / "image.tar")
    write_oci_archive(busybox_rootfs, archive)
    ctr = [CTR, "--address", sock, "--namespace", ns]
    subprocess.run([*ctr, "images", "import", archive], check=True, capture_output=True,
                   timeout=120)
    cid = f"compat-{uuid.uuid4().hex[:8]}"
    try:
        res = subprocess.run(
            [*ctr, "run", "--rm", "--runc-binary", str(wrapper), IMAGE, cid,
             "sh", "-c", "echo hello-from-pyrunc; hostname; exit 7"],
            capture_output=True, timeout=120, check=False)
        out = res.stdout.decode()
        diag = f"out={out!r} err={res.stderr!r} calls={calls.read_text() if calls.exists() else ''}"
        assert "hello-from-pyrunc" in out, diag
        assert res.returncode == 7, diag
        text = calls.read_text()
        assert " create " in text and " start " in text and " delete " in text
    finally:
        subprocess.run([*ctr, "task", "kill", "-s", "SIGKILL", cid], capture_output=True,
                       check=False)
        subprocess.run([*ctr, "containers", "rm", cid], capture_output=True, check=False)
        subprocess.run([*ctr, "images", "rm", IMAGE], capture_output=True, check=False)
        # containerd puts a namespace's containers under a cgroup named after it and
        # leaves that parent behind.
        for parent in glob.glob(f"/sys/fs/cgroup/*/{ns}") + glob.glob(f"/sys/fs/cgroup/{ns}"):
            with contextlib.suppress(OSError):
                os.rmdir(parent)
