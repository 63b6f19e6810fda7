"""The OCI runtime spec of a CRI container: config + image + pod → config.json."""

from __future__ import annotations

import os
from typing import Any

from pycri.api.cri import pb
from pycri.cri.errors import InvalidArgument
from pycri.cri.pod_cgroup import container_cgroup
from pycri.cri.specgen import defaults, security
from pycri.cri.specgen.inputs import SpecInputs
from pycri.cri.specgen.mounts import container_mounts
from pycri.cri.specgen.namespaces import container_namespaces, uses_host_network
from pycri.cri.specgen.resources import oci_resources
from pycri.cri.specgen.users import resolve_user

OCI_VERSION = "1.2.0"


def process_args(config: Any, image_config: dict[str, Any]) -> list[str]:
    """`command` replaces the ENTRYPOINT, `args` replace CMD (CMD is dropped with a command)."""
    command = list(config.command)
    args = list(config.args)
    if not command:
        command = list(image_config.get("Entrypoint") or [])
        if not args:
            args = list(image_config.get("Cmd") or [])
    argv = command + args
    if not argv:
        raise InvalidArgument("create container: no command given and the image has none")
    return argv


def process_env(config: Any, image_config: dict[str, Any], hostname: str) -> list[str]:
    merged: dict[str, str] = {}
    for item in image_config.get("Env") or []:
        key, _, value = item.partition("=")
        merged[key] = value
    for kv in config.envs:
        if not kv.key:
            raise InvalidArgument("create container: an environment variable has no name")
        merged[kv.key] = kv.value
    merged.setdefault("PATH", defaults.DEFAULT_PATH)
    if hostname:
        merged.setdefault("HOSTNAME", hostname)
    return [f"{k}={v}" for k, v in merged.items()]


def generate(inputs: SpecInputs) -> dict[str, Any]:
    config = inputs.config
    linux = config.linux
    context = linux.security_context
    sandbox_config = inputs.sandbox.config
    image_config = inputs.image.config
    privileged = context.privileged
    if privileged and not sandbox_config.linux.security_context.privileged:
        raise InvalidArgument("create container: a privileged container needs a privileged pod")

    user = resolve_user(
        image_user=image_config.get("User", ""),
        layers=inputs.image.layers,
        run_as_user=context.run_as_user.value if context.HasField("run_as_user") else None,
        run_as_username=context.run_as_username,
        run_as_group=context.run_as_group.value if context.HasField("run_as_group") else None,
        supplemental_groups=list(context.supplemental_groups),
        strict_groups=context.supplemental_groups_policy == 1,
    )
    host_network = uses_host_network(context.namespace_options, inputs.sandbox)
    hostname = "" if host_network else sandbox_config.hostname
    cwd = config.working_dir or image_config.get("WorkingDir") or "/"
    if not os.path.isabs(cwd):
        raise InvalidArgument(f"create container: working_dir `{cwd}` must be absolute")

    process: dict[str, Any] = {
        "terminal": config.tty,
        "user": {"uid": user.uid, "gid": user.gid,
                 **({"additionalGids": user.additional_gids} if user.additional_gids else {})},
        "args": process_args(config, image_config),
        "env": process_env(config, image_config, hostname or os.uname().nodename),
        "cwd": cwd,
        "capabilities": security.process_capabilities(
            context, inputs.host.capabilities or defaults.ALL_CAPABILITIES),
        "noNewPrivileges": context.no_new_privs,
    }
    if linux.resources.oom_score_adj:
        process["oomScoreAdj"] = linux.resources.oom_score_adj
    apparmor = security.apparmor_profile(context, inputs.host.apparmor)
    if apparmor:
        process["apparmorProfile"] = apparmor

    spec_linux: dict[str, Any] = {
        "namespaces": container_namespaces(
            context.namespace_options, inputs.sandbox, cgroup_v2=inputs.host.cgroup_v2,
            target_pid_path=inputs.target_pid_path,
        ),
        "resources": {"devices": _device_rules(privileged), **oci_resources(linux.resources)},
        "cgroupsPath": container_cgroup(inputs.sandbox.cgroup_parent, inputs.sandbox.id,
                                        inputs.container_id),
    }
    devices = _devices(config.devices, privileged, inputs)
    if devices:
        spec_linux["devices"] = devices
        spec_linux["resources"]["devices"] += [
            {"allow": True, "type": d["type"], "major": d["major"], "minor": d["minor"],
             "access": d.pop("_access")} for d in devices if "_access" in d
        ]
    if not privileged:
        spec_linux["maskedPaths"] = list(context.masked_paths) or list(defaults.MASKED_PATHS)
        spec_linux["readonlyPaths"] = list(context.readonly_paths) or list(defaults.READONLY_PATHS)
    sysctls = dict(sandbox_config.linux.sysctls)
    if host_network:
        sysctls = {k: v for k, v in sysctls.items() if not k.startswith("net.")}
    if sysctls:
        spec_linux["sysctl"] = sysctls
    seccomp = security.seccomp_section(context, inputs.default_seccomp,
                                       process["capabilities"]["bounding"])
    if seccomp is not None:
        spec_linux["seccomp"] = seccomp

    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": inputs.rootfs, "readonly": context.readonly_rootfs},
        "mounts": container_mounts(config, inputs.sandbox, privileged, context.readonly_rootfs),
        "linux": spec_linux,
        "annotations": _annotations(inputs),
    }
    propagation = _rootfs_propagation(config.mounts)
    if propagation:
        spec["linux"]["rootfsPropagation"] = propagation
    if hostname:
        spec["hostname"] = hostname
    return spec


def _rootfs_propagation(mounts: Any) -> str:
    """Mount events only cross into (or out of) the container when its root lets them."""
    kinds = {m.propagation for m in mounts}
    if pb.MountPropagation.PROPAGATION_BIDIRECTIONAL in kinds:
        return "rshared"
    if pb.MountPropagation.PROPAGATION_HOST_TO_CONTAINER in kinds:
        return "rslave"
    return ""


def _device_rules(privileged: bool) -> list[dict[str, Any]]:
    if privileged:
        return [{"allow": True, "access": "rwm"}]
    return defaults.device_cgroup_rules()


def _devices(requested: Any, privileged: bool, inputs: SpecInputs) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if privileged and inputs.host.host_devices is not None:
        out += inputs.host.host_devices()
    stat = inputs.host.stat_device
    for device in requested:
        if not device.host_path or not device.container_path:
            raise InvalidArgument("device: host_path and container_path are both required")
        if stat is None:
            raise InvalidArgument(f"device `{device.host_path}`: cannot inspect host devices")
        try:
            kind, major, minor, mode = stat(device.host_path)
        except OSError as exc:
            raise InvalidArgument(f"device `{device.host_path}`: {exc.strerror}") from exc
        access = device.permissions or "rwm"
        if set(access) - set("rwm"):
            raise InvalidArgument(f"device `{device.host_path}`: permissions `{access}` not rwm")
        out.append({"path": device.container_path, "type": kind, "major": major,
                    "minor": minor, "fileMode": mode & 0o777, "uid": 0, "gid": 0,
                    "_access": access})
    return out


def _annotations(inputs: SpecInputs) -> dict[str, str]:
    config = inputs.config
    metadata = inputs.sandbox.config.metadata
    annotations = dict(config.annotations)
    annotations.update({
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.container-name": config.metadata.name,
        "io.kubernetes.cri.sandbox-id": inputs.sandbox.id,
        "io.kubernetes.cri.sandbox-name": metadata.name,
        "io.kubernetes.cri.sandbox-namespace": metadata.namespace,
        "io.kubernetes.cri.sandbox-uid": metadata.uid,
        "io.kubernetes.cri.image-name": inputs.image.name,
    })
    return annotations
