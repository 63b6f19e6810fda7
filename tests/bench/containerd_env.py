"""Side-by-side runtimes for the comparison benchmarks: pycri and Debian's containerd.

    with BenchWorld() as world:                    # registry, images, CNI config, host snapshot
        with world.containerd() as ctr, world.pycri() as py:
            ctr.client.run_pod_sandbox(world.pod_config("p0"))

Everything lives under one short temp dir (unix socket paths must stay under 108 bytes):
both runtimes get the same CNI conflist (bridge + host-local + portmap on a bridge name and
subnet unique to the run), the same images from a local registry, and the same cgroup
parent. Stopping a runtime removes every pod it still has through CRI, then sweeps what a
crash could leave (shims, mounts, cgroups); closing the world removes the bridge, the
iptables rules that name the run's network, and the registry, and compares the host with
the snapshot taken at the start.

containerd 1.6 keeps two things outside its configured dirs: shim sockets in
/run/containerd/s (each shim removes its own; the dirs go only if this run created them and
they are empty, as another containerd may use them) and CNI result caches in
/var/lib/cni/results (removed by its CNI DEL; swept here by network name). Its tasks
service needs the v1 linux runtime plugin loaded even though pods use runc.v2.

Host checks and sweeps are in `bench_host`, the pause and sleep images in `bench_images`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import grpc

from pycri.api.cri import pb
from pycri.cri.client import CriClient
from tests.bench.bench_host import (
    CGROUP_ROOT,
    PORTMAP_SHARED,
    HostSnapshot,
    drop_iptables,
    mount_points,
    processes_matching,
    remove_cgroups,
    run_text,
    unmount_under,
)
from tests.bench.bench_images import build_pause_image, build_sleep_image
from tests.fixtures.registry import LocalRegistry

log = logging.getLogger(__name__)

CONTAINERD = "/usr/bin/containerd"
CNI_BIN_DIR = "/usr/lib/cni"
CONTAINERD_SHIM_DIR = Path("/run/containerd")
CNI_RESULTS = Path("/var/lib/cni/results")


# -- network -------------------------------------------------------------------------------


@dataclass
class BenchNetwork:
    name: str
    bridge: str
    subnet: str
    conf_dir: Path
    ipam_dir: Path

    def write(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        conf = {"cniVersion": "1.0.0", "name": self.name, "plugins": [
            {"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": True,
             "hairpinMode": True,
             "ipam": {"type": "host-local", "ranges": [[{"subnet": self.subnet}]],
                      "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(self.ipam_dir)}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ]}
        (self.conf_dir / "10-bench.conflist").write_text(json.dumps(conf, indent=1))


def pick_subnet() -> str:
    """A /20 in 10.200-10.239 that no address or route on the host overlaps."""
    used = run_text("ip", "-4", "route") + run_text("ip", "-4", "addr")
    for _ in range(100):
        second, third = secrets.randbelow(40) + 200, secrets.randbelow(16) * 16
        prefix = f"10.{second}.{third}."
        if prefix not in used and f"10.{second}.0.0/16" not in used:
            return f"{prefix}0/20"
    raise RuntimeError("no free 10.x subnet for the bench network")


# -- runtimes ------------------------------------------------------------------------------


@dataclass
class RuntimeEnv:
    """A running CRI runtime: its name, endpoint, process and a client."""

    name: str
    dir: Path
    socket: Path
    process: subprocess.Popen[bytes] | None = None
    client: CriClient = field(init=False)
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.dir / f"{self.name}.log"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            if self.socket.exists():
                with contextlib.suppress(grpc.RpcError):
                    self.client.version()
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer on {self.socket}: {self.log_tail()}")

    def log_tail(self, size: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-size:]
        return ""

    def remove_all_pods(self) -> None:
        """Remove every container and pod through CRI (what a clean stop leaves nothing of)."""
        with contextlib.suppress(grpc.RpcError):
            for container in self.client.list_containers():
                with contextlib.suppress(grpc.RpcError):
                    self.client.stop_container(container.id, timeout=0)
                with contextlib.suppress(grpc.RpcError):
                    self.client.remove_container(container.id)
        with contextlib.suppress(grpc.RpcError):
            for pod in self.client.list_pod_sandboxes():
                with contextlib.suppress(grpc.RpcError):
                    self.client.stop_pod_sandbox(pod.id)
                with contextlib.suppress(grpc.RpcError):
                    self.client.remove_pod_sandbox(pod.id)

    def terminate(self) -> None:
        self.client.close()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def shim_pids(self) -> list[int]:
        """Pids of this runtime's per-pod shims."""
        raise NotImplementedError

    def helper_pids(self) -> list[int]:
        """Node-wide processes of the runtime other than the daemon (none by default)."""
        return []


class ContainerdEnv(RuntimeEnv):
    """Debian's containerd with its CRI plugin, all state under `dir`."""

    def shim_pids(self) -> list[int]:
        return [int(p.split()[0]) for p in processes_matching((str(self.socket),))
                if "containerd-shim" in p]


class PycriEnv(RuntimeEnv):
    """The pycri daemon (`python -m pycri.cri.main`), all state under `dir`."""

    def shim_pids(self) -> list[int]:
        """Shims (and pod PID-namespace inits): forked from the factory, they carry its
        command line, so they are told apart by the name they give themselves."""
        return [pid for pid in self._own_pids() if _comm(pid) in ("pycri-shim", "pycri-pod-init")]

    def helper_pids(self) -> list[int]:
        """Node-wide helpers beside the daemon: the shim factory."""
        return [pid for pid in self._own_pids() if _comm(pid) not in ("pycri-shim",
                                                                       "pycri-pod-init")
                and "--factory" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(
                    errors="replace")]

    def _own_pids(self) -> list[int]:
        return [int(p.split()[0]) for p in processes_matching((str(self.dir),))]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class BenchWorld:
    """The shared fixture of a comparison run: temp root, registry, images, network."""

    def __init__(self, pause: bool = True) -> None:
        self.tag = secrets.token_hex(3)
        # short: containerd's socket, its ttrpc twin and shim paths must fit in 108 bytes
        self.root = Path(tempfile.mkdtemp(prefix=f"cb{self.tag}-", dir="/tmp"))
        self.network = BenchNetwork(
            name=f"cbench-{self.tag}", bridge=f"cb{self.tag}", subnet=pick_subnet(),
            conf_dir=self.root / "net.d", ipam_dir=self.root / "ipam")
        self.cgroup_parent = f"/cbench-{self.tag}"
        self.certs_dir = self.root / "certs.d"
        self.registry = LocalRegistry(self.root / "registry")
        self.pause_ref = ""
        self.pause_kind = ""
        self.busybox_ref = ""
        self._want_pause = pause
        self._runtimes: list[RuntimeEnv] = []
        # what a runtime left after a clean stop (the sweep removes it; the bench reports it)
        self.leaks: list[str] = []
        self._before: HostSnapshot | None = None
        self._bridge_existed = False
        self._shared_before: set[str] = set()
        self._run_containerd_existed = CONTAINERD_SHIM_DIR.exists()

    @property
    def tags(self) -> tuple[str, ...]:
        net = self.network
        return (str(self.root), net.bridge, net.name, net.subnet.rsplit(".", 2)[0] + ".",
                self.cgroup_parent)

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> BenchWorld:
        try:
            self._before = HostSnapshot.take()
            self._shared_before = {c for c in PORTMAP_SHARED
                                   if any(f":{c} " in line for line in self._before.iptables)}
            self._bridge_existed = self.network.bridge in self._before.links
            self.network.write()
            self.registry.start()
            self.busybox_ref = self.registry.push(build_sleep_image(), "bench/busybox", "1")
            if self._want_pause:
                pause, self.pause_kind = build_pause_image(self.root)
                self.pause_ref = self.registry.push(pause, "bench/pause", "1")
            self._write_hosts()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for runtime in reversed(self._runtimes):
            self.stop_runtime(runtime)
        self.registry.stop()
        if not self._bridge_existed:
            subprocess.run(["ip", "link", "del", self.network.bridge], capture_output=True)
        created = [c for c in PORTMAP_SHARED if c not in self._shared_before]
        drop_iptables((self.network.name, self.network.bridge), created)
        self._sweep_cni_results()
        unmount_under(str(self.root))
        remove_cgroups(self.cgroup_parent)
        if not self._run_containerd_existed:
            # only when empty: another containerd may have started meanwhile
            for directory in (CONTAINERD_SHIM_DIR / "s", CONTAINERD_SHIM_DIR):
                with contextlib.suppress(OSError):
                    directory.rmdir()
        shutil.rmtree(self.root, ignore_errors=True)
        if self._before is not None:
            for line in self.leaks:
                print(f"left by the runtime (swept): {line}", file=sys.stderr)
            left = self._before.leftovers(self.tags)
            if left:
                print("LEFT ON THE HOST:\n  " + "\n  ".join(left), file=sys.stderr)
            else:
                print("host check: no links, mounts, iptables rules or processes left",
                      file=sys.stderr)
            self._before = None

    def _write_hosts(self) -> None:
        host = self.registry.host
        directory = self.certs_dir / host
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "hosts.toml").write_text(
            f'server = "http://{host}"\n\n[host."http://{host}"]\n'
            '  capabilities = ["pull", "resolve"]\n')

    def _sweep_cni_results(self) -> None:
        if CNI_RESULTS.is_dir():
            for entry in CNI_RESULTS.glob(f"{self.network.name}-*"):
                entry.unlink(missing_ok=True)

    # -- runtimes ------------------------------------------------------------------------

    @contextlib.contextmanager
    def containerd(self) -> Iterator[ContainerdEnv]:
        runtime = self.start_containerd()
        try:
            yield runtime
        finally:
            self.stop_runtime(runtime)

    @contextlib.contextmanager
    def pycri(self) -> Iterator[PycriEnv]:
        runtime = self.start_pycri()
        try:
            yield runtime
        finally:
            self.stop_runtime(runtime)

    def start_containerd(self) -> ContainerdEnv:
        if not self.pause_ref:
            raise RuntimeError("containerd needs the pause image: BenchWorld(pause=True)")
        directory = self.root / "ctr"
        directory.mkdir()
        runtime = ContainerdEnv("containerd", directory, directory / "c.sock")
        config = directory / "config.toml"
        config.write_text(self._containerd_config(directory, runtime.socket))
        self._launch(runtime, [CONTAINERD, "--config", str(config)])
        runtime.client.pull_image(self.pause_ref)
        return runtime

    def start_pycri(self) -> PycriEnv:
        directory = self.root / "py"
        directory.mkdir()
        runtime = PycriEnv("pycri", directory, directory / "pycri.sock")
        config = directory / "config.toml"
        config.write_text(
            "[cni]\n"
            f"conf_dir = {json.dumps(str(self.network.conf_dir))}\n"
            f"bin_dirs = [{json.dumps(CNI_BIN_DIR)}]\n"
            "install_default = false\n"
            "[image]\n"
            f"registry_config_dir = {json.dumps(str(self.certs_dir))}\n")
        self._launch(runtime, [
            sys.executable, "-m", "pycri.cri.main", "--config", str(config),
            "--listen", str(runtime.socket), "--root", str(directory / "root"),
            "--state", str(directory / "run"), "--cni-conf-dir", str(self.network.conf_dir),
            "--log-level", "warning"])
        return runtime

    def _launch(self, runtime: RuntimeEnv, argv: list[str]) -> None:
        with runtime.log_path.open("ab") as out:
            runtime.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                               start_new_session=True)
        runtime.client = CriClient(str(runtime.socket))
        self._runtimes.append(runtime)
        try:
            runtime.wait_ready()
        except BaseException:
            self.stop_runtime(runtime)
            raise

    def stop_runtime(self, runtime: RuntimeEnv) -> None:
        """Remove the runtime's pods, stop it, and sweep what it could have left."""
        if runtime not in self._runtimes:
            return
        self._runtimes.remove(runtime)
        if runtime.process is not None and runtime.process.poll() is None:
            runtime.remove_all_pods()
        runtime.terminate()
        self.leaks += [f"{runtime.name}: {what}" for what in self._runtime_leftovers(runtime)]
        for pid in runtime.shim_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        unmount_under(str(runtime.dir))
        remove_cgroups(self.cgroup_parent)

    def _runtime_leftovers(self, runtime: RuntimeEnv) -> list[str]:
        """What the runtime left after removing all pods and stopping (shims get a moment
        to exit on their own)."""
        deadline = time.monotonic() + 5
        while runtime.shim_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        found = [f"shim pid {pid}" for pid in runtime.shim_pids()]
        found += [f"mount {m}" for m in mount_points() if m.startswith(str(runtime.dir))]
        rel = self.cgroup_parent.strip("/")
        found += [f"cgroup {p}" for h in CGROUP_ROOT.iterdir() if (h / rel).is_dir()
                  for p in (h / rel).iterdir() if p.is_dir()]
        return found

    def _containerd_config(self, directory: Path, socket: Path) -> str:
        cri = '[plugins."io.containerd.grpc.v1.cri"]'
        runc = f'{cri[:-1]}.containerd.runtimes.runc]'
        return "\n".join([
            "version = 2",
            f'root = "{directory}/root"',
            f'state = "{directory}/state"',
            # snapshotters and plugins the bench has no use for; `opt` would create
            # /opt/containerd (the v1 runtime stays: the tasks service needs it)
            'disabled_plugins = ["io.containerd.snapshotter.v1.btrfs",'
            ' "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",'
            ' "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.opt",'
            ' "io.containerd.tracing.processor.v1.otlp",'
            ' "io.containerd.internal.v1.tracing"]',
            "[grpc]",
            f'  address = "{socket}"',
            "[ttrpc]",
            f'  address = "{socket}.ttrpc"',
            "[debug]",
            '  level = "warn"',
            '[plugins."io.containerd.runtime.v1.linux"]',
            f'  runtime_root = "{directory}/runc-v1"',
            cri,
            f'  sandbox_image = "{self.pause_ref}"',
            "  restrict_oom_score_adj = true",
            "  netns_mounts_under_state_dir = true",
            '  stream_server_address = "127.0.0.1"',
            '  stream_server_port = "0"',
            "  stats_collect_period = 10",
            f"{cri[:-1]}.containerd]",
            '  snapshotter = "overlayfs"',
            '  default_runtime_name = "runc"',
            runc,
            '  runtime_type = "io.containerd.runc.v2"',
            f"{runc[:-1]}.options]",
            f'  Root = "{directory}/runc"',
            "  SystemdCgroup = false",
            f"{cri[:-1]}.cni]",
            f'  bin_dir = "{CNI_BIN_DIR}"',
            f'  conf_dir = "{self.network.conf_dir}"',
            f"{cri[:-1]}.registry]",
            f'  config_path = "{self.certs_dir}"',
            "",
        ])

    # -- CRI configs the benches share -----------------------------------------------------

    @staticmethod
    def namespace_options(share_pid: bool) -> pb.NamespaceOption:
        """What kubelet sends: the pod's network and IPC, a PID namespace per container
        unless the pod shares one (CRI's zero value, POD, would mean shared)."""
        pid = pb.NamespaceMode.POD if share_pid else pb.NamespaceMode.CONTAINER
        return pb.NamespaceOption(network=pb.NamespaceMode.POD, pid=pid,
                                  ipc=pb.NamespaceMode.POD)

    def pod_config(self, name: str, host_port: int = 0,
                   share_pid: bool = False) -> pb.PodSandboxConfig:
        uid = f"{name}-{self.tag}"
        log_dir = self.root / "logs" / uid
        log_dir.mkdir(parents=True, exist_ok=True)
        ports = []
        if host_port:
            ports = [pb.PortMapping(protocol=pb.Protocol.TCP, container_port=80,
                                    host_port=host_port)]
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace="bench", attempt=0),
            hostname=name,
            log_directory=str(log_dir),
            port_mappings=ports,
            labels={"bench": self.tag},
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=self.cgroup_parent,
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=self.namespace_options(share_pid))),
        )

    def sleep_container(self, name: str = "sleep", share_pid: bool = False) -> pb.ContainerConfig:
        return pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name, attempt=0),
            image=pb.ImageSpec(image=self.busybox_ref),
            command=["/bin/sleep", "3600"],
            log_path=f"{name}.log",
            labels={"bench": self.tag},
            linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
                namespace_options=self.namespace_options(share_pid))),
        )
