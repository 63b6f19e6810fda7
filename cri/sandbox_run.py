"""RunPodSandbox: validate, reserve the name, files, shim + namespaces, network, READY."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from pycri.api.cri import pb
from pycri.cri import netns_pin, rollback, sandbox_files
from pycri.cri.context import RuntimeContext, caller_gone
from pycri.cri.errors import InvalidArgument
from pycri.cri.records import SandboxRecord, SandboxState, SandboxStatus, now_ns, sandbox_name_key
from pycri.cri.rollback import Rollback
from pycri.cri.state import new_id
from pycri.cri.steptimer import StepTimer

log = logging.getLogger(__name__)

NODE = pb.NamespaceMode.NODE
POD = pb.NamespaceMode.POD
_NAMESPACED_PREFIXES = ("kernel.shm", "kernel.msg", "fs.mqueue.", "net.")
_PROTOCOLS = {pb.Protocol.TCP: "tcp", pb.Protocol.UDP: "udp", pb.Protocol.SCTP: "sctp"}


def validate(config: Any, handler: str, known_handlers: list[str]) -> None:
    metadata = config.metadata
    for field in ("name", "namespace", "uid"):
        if not getattr(metadata, field):
            raise InvalidArgument(f"run pod sandbox: metadata.{field} is required")
    if handler not in known_handlers:
        raise InvalidArgument(
            f"run pod sandbox `{metadata.name}`: unknown runtime handler `{handler}` "
            f"(known: {', '.join(repr(h) for h in known_handlers)})"
        )
    options = config.linux.security_context.namespace_options
    if options.HasField("userns_options") and options.userns_options.mode != NODE:
        # Running the pod with the host's users instead would void what the pod asked for.
        mode = pb.NamespaceMode.Name(options.userns_options.mode)
        raise InvalidArgument(
            f"run pod sandbox `{metadata.name}`: user namespace mode {mode} is not supported")
    for key in config.linux.sysctls:
        namespaced = key == "kernel.sem" or key.startswith(_NAMESPACED_PREFIXES)
        if not namespaced:
            raise InvalidArgument(f"sysctl `{key}`: not a namespaced sysctl, cannot set per pod")
        if key.startswith("net.") and options.network == NODE:
            raise InvalidArgument(f"sysctl `{key}`: not allowed with the host network")
        if not key.startswith("net.") and options.ipc == NODE:
            raise InvalidArgument(f"sysctl `{key}`: not allowed with the host IPC namespace")
    for mapping in config.port_mappings:
        if not 0 < mapping.container_port < 65536 or not 0 <= mapping.host_port < 65536:
            raise InvalidArgument(
                f"port mapping {mapping.host_port}:{mapping.container_port}: port out of range"
            )


async def run(rt: RuntimeContext, request: Any, context: Any) -> Any:
    config = request.config
    handler = request.runtime_handler or rt.config.default_runtime_handler
    validate(config, handler, rt.config.runtime_handlers)
    m = config.metadata
    key = sandbox_name_key(m.name, m.namespace, m.uid, m.attempt)
    sandbox_id = await rt.state.pod_names.create_once(
        key, lambda: _create(rt, config, handler, key), lambda: caller_gone(context)
    )
    return pb.RunPodSandboxResponse(pod_sandbox_id=sandbox_id)


async def _create(rt: RuntimeContext, config: Any, handler: str, key: str) -> str:
    sandbox_id = new_id()
    m = config.metadata
    options = config.linux.security_context.namespace_options
    host_network = options.network == NODE
    directory = Path(rt.config.state) / "sandboxes" / sandbox_id
    status = SandboxStatus(dir=str(directory), host_network=host_network,
                           cgroup_parent=config.linux.cgroup_parent)
    record = SandboxRecord(
        id=sandbox_id, name=m.name, namespace=m.namespace, uid=m.uid, attempt=m.attempt,
        state=SandboxState.CREATING, created_at=now_ns(), config=config.SerializeToString(),
        runtime_handler=handler, status=status,
    )
    steps = StepTimer()
    rt.state.pod_names.reserve(key, sandbox_id)
    async with Rollback(f"pod_id={sandbox_id}") as undo:
        undo.push("release the pod name",
                  rollback.plain(rt.state.pod_names.release, key, sandbox_id))
        await rt.state.save_sandbox(record)
        undo.push("delete the pod record", lambda: rt.state.drop_sandbox(record))

        files = await rt.to_thread(sandbox_files.write_pod_files, directory, config, host_network)
        undo.push("remove the pod's files",
                  lambda: rt.to_thread(sandbox_files.remove_pod_files, directory,
                                       status.shm_mounted))
        status.hostname_path, status.hosts_path = files["hostname"], files["hosts"]
        status.resolv_path = files["resolv"]
        if options.ipc != NODE:
            status.shm_path = await rt.to_thread(sandbox_files.mount_shm, directory)
            status.shm_mounted = True

        steps.mark("record_and_files")
        if not host_network:
            netns = str(Path(rt.config.state) / "netns" / sandbox_id)
            status.netns_path = await rt.to_thread(netns_pin.create, netns)
            undo.push("unpin the pod's network namespace",
                      lambda: rt.to_thread(netns_pin.remove, netns))
        owned = [] if host_network else ["uts"]
        if options.ipc != NODE:
            owned.append("ipc")
        # The shim and the network come up side by side: both only need the namespace.
        shim_start = asyncio.ensure_future(rt.pods.start(
            sandbox_id, namespaces=owned, pid_ns=options.pid == POD,
            hostname="" if host_network else config.hostname or m.name))
        network_setup = asyncio.ensure_future(_setup_network(rt, sandbox_id, config, status))
        shim_outcome: Any
        network_outcome: Any
        shim_outcome, network_outcome = await asyncio.gather(
            shim_start, network_setup, return_exceptions=True)
        if not isinstance(shim_outcome, BaseException):
            undo.push("stop the pod's shim and unpin its namespaces",
                      lambda: rt.pods.stop(sandbox_id))
        if not isinstance(network_outcome, BaseException) and not host_network:
            undo.push("detach the pod from its network",
                      lambda: rt.network.teardown_pod(sandbox_id, status.netns_path))
        for outcome in (shim_outcome, network_outcome):
            if isinstance(outcome, BaseException):
                raise outcome
        assert isinstance(shim_outcome, dict)
        pins = shim_outcome.get("namespaces", {})
        status.ipc_path = pins.get("ipc", "")
        status.uts_path = pins.get("uts", "")
        status.pid_path = pins.get("pid", "")
        status.pid_init = int(shim_outcome.get("pid_init", 0))
        status.shim_pid = int(shim_outcome.get("pid", 0))
        steps.mark("network")
        record.state = SandboxState.READY
        await rt.state.save_sandbox(record)
        undo.commit()
        steps.mark("ready")
    log.info("pod sandbox ready pod_id=%s name=%s namespace=%s ip=%s", sandbox_id, m.name,
             m.namespace, status.ip or "-")
    log.debug("pod sandbox steps pod_id=%s %s", sandbox_id, steps)
    rt.events.sandbox_changed(record)
    return sandbox_id


async def _setup_network(rt: RuntimeContext, sandbox_id: str, config: Any,
                         status: SandboxStatus) -> None:
    if status.host_network:
        return
    m = config.metadata
    result = await rt.network.setup_pod(
        sandbox_id, status.netns_path, name=m.name, namespace=m.namespace, uid=m.uid,
        port_mappings=[_port_mapping(p) for p in config.port_mappings if p.host_port],
        bandwidth=None, dns=_dns(config.dns_config),
        cgroup_path=config.linux.cgroup_parent or None,
    )
    status.network_attached = True
    status.ip = result.ip or ""
    status.additional_ips = list(result.additional_ips)


def _port_mapping(mapping: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"hostPort": mapping.host_port, "containerPort": mapping.container_port,
                           "protocol": _PROTOCOLS.get(mapping.protocol, "tcp")}
    if mapping.host_ip:
        out["hostIP"] = mapping.host_ip
    return out


def _dns(dns: Any) -> dict[str, Any] | None:
    if not (dns.servers or dns.searches or dns.options):
        return None
    return {"servers": list(dns.servers), "searches": list(dns.searches),
            "options": list(dns.options)}
