"""Pull + unpack of a ~100 MB multi-layer image from a local registry: pycri vs containerd.

Both runtimes are driven the same way: PullImage over CRI on a unix socket with the project's
CriClient, each run on a fresh state root (nothing cached), the registry on 127.0.0.1 in plain
HTTP. containerd (Debian's, CRI plugin, overlayfs snapshotter) gets its own socket, root and
state, and a hosts.toml pointing at the registry. Run as root:

    .venv/bin/python tests/bench/bench_image_pull.py [--runs 3] [--mb 100] [--layers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from pycri.cri.client import CriClient  # noqa: E402
from tests.fixtures.images import build_big_image  # noqa: E402
from tests.fixtures.registry import LocalRegistry  # noqa: E402

CONTAINERD = "/usr/bin/containerd"


def wait_socket(path: Path, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if path.exists():
            with CriClient(f"unix://{path}") as client, contextlib.suppress(Exception):
                client.wait_ready(1)
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not open {path}")


@contextlib.contextmanager
def pycri_server(workdir: Path) -> Iterator[Path]:
    sock = workdir / "pycri.sock"
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(sock), str(workdir)],
                            stderr=open(workdir / "pycri.log", "wb"))  # noqa: SIM115
    try:
        wait_socket(sock, proc, "pycri image service")
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def containerd_server(workdir: Path, registry_host: str) -> Iterator[Path]:
    sock = workdir / "containerd.sock"
    certs = workdir / "certs.d" / registry_host
    certs.mkdir(parents=True)
    (certs / "hosts.toml").write_text(
        f'server = "http://{registry_host}"\n\n[host."http://{registry_host}"]\n'
        '  capabilities = ["pull", "resolve"]\n')
    config = workdir / "config.toml"
    config.write_text(f"""version = 2
root = "{workdir}/root"
state = "{workdir}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{workdir}/ttrpc.sock"
[plugins."io.containerd.grpc.v1.cri"]
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{workdir}/certs.d"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{workdir}/cni-bin"
    conf_dir = "{workdir}/cni-conf"
""")
    proc = subprocess.Popen([CONTAINERD, "--config", str(config)],
                            stdout=subprocess.DEVNULL,
                            stderr=open(workdir / "containerd.log", "wb"))  # noqa: SIM115
    try:
        wait_socket(sock, proc, "containerd")
        yield sock
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # containerd leaves overlay mounts of nothing here, but be sure.
        subprocess.run(["umount", "-R", f"{workdir}/root"], capture_output=True, check=False)


def timed_pull(sock: Path, ref: str) -> float:
    # Write back the previous run's files first, so neither runtime pays for the other's.
    os.sync()
    with CriClient(f"unix://{sock}", timeout=600) as client:
        started = time.perf_counter()
        image_id = client.pull_image(ref)
        elapsed = time.perf_counter() - started
        assert image_id, "no image ref returned"
        return elapsed


def bench(runs: int, mb: int, layers: int) -> None:
    print(f"building a {mb} MB image with {layers} layers ...", file=sys.stderr)
    image = build_big_image(total_mb=mb, layers=layers)
    compressed = sum(b.size for b in image.blobs().values())
    workroot = Path(tempfile.mkdtemp(prefix="pycri-bench-pull-"))
    results: dict[str, list[float]] = {"pycri": [], "containerd": []}
    try:
        with LocalRegistry(workroot / "registry") as registry:
            ref = registry.push(image, "bench/big", "latest")
            for run in range(runs):
                for name in ("pycri", "containerd"):
                    workdir = workroot / f"{name}-{run}"
                    workdir.mkdir()
                    server = (pycri_server(workdir) if name == "pycri"
                              else containerd_server(workdir, registry.host))
                    with server as sock:
                        results[name].append(timed_pull(sock, ref))
                    shutil.rmtree(workdir, ignore_errors=True)
    finally:
        shutil.rmtree(workroot, ignore_errors=True)
    print(f"\nPullImage of {compressed / 1e6:.1f} MB compressed ({len(image.layers)} layers), "
          f"fresh state each run, {runs} runs, median shown")
    print(f"{'runtime':<12} {'seconds':>8} {'MB/s':>8} {'runs (s)':<30}")
    medians = {}
    for name, times in results.items():
        median = statistics.median(times)
        medians[name] = median
        print(f"{name:<12} {median:>8.2f} {compressed / 1e6 / median:>8.1f} "
              f"{', '.join(f'{t:.2f}' for t in times):<30}")
    print(f"\npycri throughput = {medians['containerd'] / medians['pycri']:.2f}x containerd's")


def serve(sock: str, root: str) -> None:
    """The pycri side: the ImageService alone on a unix socket, as the daemon hosts it."""
    import grpc

    from pycri.api.cri import pb
    from pycri.cri import rpc
    from pycri.cri.images.config import ImageConfig
    from pycri.cri.images.service import ImageService
    from pycri.cri.store import Store

    async def main() -> None:
        store = Store(Path(root) / "meta.db")
        service = ImageService(store, ImageConfig(state_root=Path(root),
                                                  registry_config_dir=f"{root}/certs.d"))
        await service.start()
        server = grpc.aio.server()
        services = pb.DESCRIPTOR.services_by_name
        server.add_generic_rpc_handlers((
            rpc.generic_handler(services["ImageService"], [service], pb),))
        server.add_insecure_port(f"unix:{sock}")
        await server.start()
        await server.wait_for_termination()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--serve", nargs=2, metavar=("SOCKET", "ROOT"))
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
    elif os.geteuid() != 0:
        sys.exit("run as root: containerd and the unpack need it")
    else:
        bench(args.runs, args.mb, args.layers)
