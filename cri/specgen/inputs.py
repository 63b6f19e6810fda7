"""Everything spec generation needs, gathered by the caller; generation itself is pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SandboxView:
    """What a container takes from its pod: namespaces, files, cgroup parent."""

    id: str
    config: Any  # pb.PodSandboxConfig
    netns_path: str = ""  # empty: the host's network namespace
    ipc_path: str = ""  # empty: the host's IPC namespace
    uts_path: str = ""  # empty: the host's UTS namespace
    pid_path: str = ""  # the pod's shared PID namespace, when it has one
    hostname_path: str = ""
    hosts_path: str = ""
    resolv_path: str = ""
    shm_path: str = ""
    cgroup_parent: str = ""


@dataclass
class ImageView:
    id: str
    name: str
    config: dict[str, Any]  # the "config" object of the OCI image configuration
    layers: list[str] = field(default_factory=list)  # unpacked layer dirs, lowest first


@dataclass
class HostFeatures:
    cgroup_v2: bool = False
    apparmor: bool = False
    # What the runtime holds: privileged containers get these, not more.
    capabilities: list[str] | None = None
    # host path → (type "c"|"b", major, minor, mode); tests replace the real stat
    stat_device: Callable[[str], tuple[str, int, int, int]] | None = None
    host_devices: Callable[[], list[dict[str, Any]]] | None = None


@dataclass
class SpecInputs:
    container_id: str
    config: Any  # pb.ContainerConfig
    sandbox: SandboxView
    image: ImageView
    rootfs: str
    host: HostFeatures = field(default_factory=HostFeatures)
    default_seccomp: Callable[[list[str]], dict[str, Any]] | None = None
    target_pid_path: str = ""  # for NamespaceMode TARGET
