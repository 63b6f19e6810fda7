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
/run/containerd/s (removed here when the shim does not) and CNI result caches in
/var/lib/cni/results (removed by its CNI DEL; swept here by network name).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shlex
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
from tests.fixtures.images import BUSYBOX, Image, LayerBuilder, build_image
from tests.fixtures.registry import LocalRegistry

log = logging.getLogger(__name__)

CONTAINERD = "/usr/bin/containerd"
CNI_BIN_DIR = "/usr/lib/cni"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTAINERD_SHIM_DIR = Path("/run/containerd")
CNI_RESULTS = Path("/var/lib/cni/results")
PORTMAP_SHARED = ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SNAT", "CNI-HOSTPORT-MASQ",
                  "CNI-HOSTPORT-SETMARK")

# A pause process of our own: exits on SIGINT/SIGTERM, reaps children, sleeps otherwise.
PAUSE_C = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = quit;
    sigaction(SIGINT, &sa, 0);
    sigaction(SIGTERM, &sa, 0);
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigaction(SIGCHLD, &sa, 0);
    for (;;) pause();
}
"""


# -- host hygiene ------------------------------------------------------------------------


def _run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True).stdout


def iptables_lines() -> list[str]:
    return _run("iptables-save").splitlines()


def link_names() -> set[str]:
    return {json_link["ifname"] for json_link in json.loads(_run("ip", "-j", "link") or "[]")}


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


# -- images and network ------------------------------------------------------------------


def build_pause_image(workdir: Path) -> tuple[Image, str]:
    """A static pause binary (gcc) in a one-file image; busybox `sleep` when gcc fails."""
    source, binary = workdir / "pause.c", workdir / "pause"
    source.write_text(PAUSE_C)
    built = subprocess.run(["gcc", "-static", "-Os", "-s", "-o", str(binary), str(source)],
                           capture_output=True)
    if built.returncode == 0:
        layer = LayerBuilder().file("pause", binary.read_bytes(), mode=0o755).build("gzip")
        return build_image([layer], {"Entrypoint": ["/pause"]}), "static pause"
    log.warning("gcc failed, pause is busybox sleep: %s", built.stderr[-300:])
    return build_pause_fallback(), "busybox sleep"


def build_sleep_image() -> Image:
    """busybox-static with applets as symlinks.

    Not the fixture's busybox image: its hardlink entries carry mode 0644, and containerd
    applies a hardlink's header mode to the shared inode, so every applet (busybox too)
    ends up not executable there.
    """
    layer = LayerBuilder()
    for directory in ("bin", "etc", "proc", "sys", "dev", "run", "var", "root"):
        layer.dir(directory, mode=0o700 if directory == "root" else 0o755)
    layer.dir("tmp", mode=0o1777)
    layer.file("bin/busybox", Path(BUSYBOX).read_bytes(), mode=0o755)
    for applet in ("sh", "sleep", "cat", "echo", "ls", "true"):
        layer.symlink(f"bin/{applet}", "busybox")
    layer.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    layer.file("etc/group", b"root:x:0:\n")
    path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return build_image([layer.build("gzip")], {"Env": [path], "Cmd": ["sh"]})


def build_pause_fallback() -> Image:
    return build_image(build_sleep_image().layers,
                       {"Entrypoint": ["/bin/sleep"], "Cmd": ["2147483647"]})


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
    used = _run("ip", "-4", "route") + _run("ip", "-4", "addr")
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


class ContainerdEnv(RuntimeEnv):
    """Debian's containerd with its CRI plugin, all state under `dir`."""

    def shim_pids(self) -> list[int]:
        return [int(p.split()[0]) for p in processes_matching((str(self.socket),))
                if "containerd-shim" in p]


class PycriEnv(RuntimeEnv):
    """The pycri daemon (`python -m pycri.cri.main`), all state under `dir`."""

    def shim_pids(self) -> list[int]:
        return [int(p.split()[0]) for p in processes_matching((str(self.dir),))
                if "--run-root" in p]


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
