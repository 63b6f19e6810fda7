"""Which namespaces a container gets: its own, the pod's pinned ones, or the host's."""

from __future__ import annotations

from typing import Any

from pycri.api.cri import pb
from pycri.cri.errors import InvalidArgument
from pycri.cri.specgen.inputs import SandboxView

POD = pb.NamespaceMode.POD
CONTAINER = pb.NamespaceMode.CONTAINER
NODE = pb.NamespaceMode.NODE
TARGET = pb.NamespaceMode.TARGET


def uses_host_network(options: Any, sandbox: SandboxView) -> bool:
    """The pod decides the network: kubelet copies its choice into each container, but
    critest and crictl send containers of host-network pods with no namespace options."""
    pod_options = sandbox.config.linux.security_context.namespace_options
    return bool(options.network == NODE or pod_options.network == NODE)


def container_namespaces(
    options: Any, sandbox: SandboxView, *, cgroup_v2: bool, target_pid_path: str = ""
) -> list[dict[str, str]]:
    namespaces: list[dict[str, str]] = [{"type": "mount"}]
    if not uses_host_network(options, sandbox):
        if not sandbox.netns_path:
            raise InvalidArgument(f"pod `{sandbox.id}` has no network namespace to join")
        namespaces.append({"type": "network", "path": sandbox.netns_path})
    if options.ipc == CONTAINER:
        namespaces.append({"type": "ipc"})
    elif options.ipc != NODE and sandbox.ipc_path:
        namespaces.append({"type": "ipc", "path": sandbox.ipc_path})
    if sandbox.uts_path:
        namespaces.append({"type": "uts", "path": sandbox.uts_path})
    if options.pid == POD and sandbox.pid_path:
        namespaces.append({"type": "pid", "path": sandbox.pid_path})
    elif options.pid in (CONTAINER, POD):
        # A pod whose own PID option kept per-container namespaces has none to share.
        namespaces.append({"type": "pid"})
    elif options.pid == TARGET:
        if not target_pid_path:
            raise InvalidArgument(f"target container `{options.target_id}` is not running")
        namespaces.append({"type": "pid", "path": target_pid_path})
    if options.HasField("userns_options") and options.userns_options.mode == POD:
        raise InvalidArgument("user namespaces for pods are not supported by pycri yet")
    if cgroup_v2:
        namespaces.append({"type": "cgroup"})
    return namespaces
