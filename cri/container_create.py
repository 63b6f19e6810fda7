"""CreateContainer: image → snapshot → rootfs → OCI spec → bundle → shim create → CREATED."""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from pycri.api.cri import pb
from pycri.cri import image_volumes, rollback, rootfs
from pycri.cri.context import RuntimeContext, caller_gone
from pycri.cri.errors import FailedPrecondition, InvalidArgument, NotFound
from pycri.cri.records import (
    ContainerRecord,
    ContainerState,
    ContainerStatus,
    SandboxRecord,
    SandboxState,
    now_ns,
)
from pycri.cri.rollback import Rollback
from pycri.cri.specgen import HostFeatures, ImageView, SandboxView, SpecInputs, generate
from pycri.cri.specgen.resources import cri_resources_dict
from pycri.cri.specgen.security import current_capabilities
from pycri.cri.state import new_id
from pycri.cri.steptimer import StepTimer

log = logging.getLogger(__name__)


def log_path_of(sandbox_config: Any, config: Any) -> str:
    if not config.log_path:
        return ""
    if os.path.isabs(config.log_path):
        raise InvalidArgument(
            f"create container: log_path `{config.log_path}` must be relative to the pod's "
            "log_directory"
        )
    directory = str(sandbox_config.log_directory)
    if not directory or not os.path.isabs(directory):
        raise InvalidArgument(
            f"create container: log path `{config.log_path}` needs an absolute pod "
            f"log_directory (got `{directory}`)"
        )
    full = os.path.normpath(os.path.join(directory, config.log_path))
    if not full.startswith(os.path.normpath(directory) + os.sep):
        raise InvalidArgument(f"create container: log_path `{config.log_path}` escapes "
                              "the pod's log directory")
    return full


async def create(rt: RuntimeContext, request: Any, context: Any) -> Any:
    config = request.config
    if not config.metadata.name:
        raise InvalidArgument("create container: metadata.name is required")
    if not config.image.image:
        raise InvalidArgument("create container: image is required")
    sandbox = rt.state.sandbox(request.pod_sandbox_id)
    if sandbox.state != SandboxState.READY:
        raise FailedPrecondition(f"create container: pod sandbox `{sandbox.id}` is not ready")
    sandbox_config = pb.PodSandboxConfig.FromString(sandbox.config)
    log_path = log_path_of(sandbox_config, config)
    key = f"{sandbox.id}/{config.metadata.name}_{config.metadata.attempt}"
    container_id = await rt.state.container_names.create_once(
        key, lambda: _create(rt, sandbox, sandbox_config, config, log_path, key),
        lambda: caller_gone(context),
    )
    return pb.CreateContainerResponse(container_id=container_id)


def host_features(rt: RuntimeContext) -> HostFeatures:
    return _host_features(rt.config.cgroup_root)


@functools.cache
def _host_features(cgroup_root: str) -> HostFeatures:
    """Read once: none of this changes while the daemon runs, and create is a hot path."""
    cgroup_v2 = os.path.exists(os.path.join(cgroup_root, "cgroup.controllers"))
    apparmor = _read("/sys/module/apparmor/parameters/enabled").startswith("Y")
    return HostFeatures(cgroup_v2=cgroup_v2, apparmor=apparmor, stat_device=_stat_device,
                        capabilities=_CAPABILITIES, host_devices=_host_devices)


_CAPABILITIES = current_capabilities()


def _host_devices() -> list[dict[str, Any]]:
    """Every device node under the host's /dev, for privileged containers."""
    found: list[dict[str, Any]] = []
    for directory, subdirs, files in os.walk("/dev"):
        subdirs[:] = [d for d in subdirs if d not in ("pts", "shm", "mqueue")]
        for name in files:
            path = os.path.join(directory, name)
            if path in ("/dev/console", "/dev/ptmx", "/dev/tty") or os.path.islink(path):
                continue
            try:
                kind, major, minor, mode = _stat_device(path)
            except OSError:
                continue
            info = os.stat(path)
            found.append({"path": path, "type": kind, "major": major, "minor": minor,
                          "fileMode": mode & 0o777, "uid": info.st_uid, "gid": info.st_gid})
    return found


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _stat_device(path: str) -> tuple[str, int, int, int]:
    import stat

    info = os.stat(path)
    if stat.S_ISCHR(info.st_mode):
        kind = "c"
    elif stat.S_ISBLK(info.st_mode):
        kind = "b"
    else:
        raise OSError(0, "not a device node", path)
    return kind, os.major(info.st_rdev), os.minor(info.st_rdev), info.st_mode


def _default_seccomp(capabilities: list[str]) -> dict[str, Any]:
    from pycri.runtime.oci.seccomp import default_profile

    return default_profile(capabilities)


async def _create(rt: RuntimeContext, sandbox: SandboxRecord, sandbox_config: Any, config: Any,
                  log_path: str, key: str) -> str:
    try:
        image = await rt.to_thread(rt.images.images.resolve, config.image.image)
    except NotFound:
        raise
    except LookupError as exc:
        raise NotFound(f"create container: image `{config.image.image}` not found") from exc
    container_id = new_id()
    steps = StepTimer()
    bundle = Path(rt.config.state) / "bundles" / container_id
    rootfs_dir = bundle / "rootfs"
    status = ContainerStatus(image_id=image.id, image_name=config.image.image,
                             repo_tag=next(iter(image.repo_tags), ""),
                             repo_digest=next(iter(image.repo_digests), ""),
                             log_path=log_path, bundle=str(bundle))
    record = ContainerRecord(
        id=container_id, sandbox_id=sandbox.id, name=config.metadata.name,
        attempt=config.metadata.attempt, state=ContainerState.CREATING, created_at=now_ns(),
        config=config.SerializeToString(), image_ref=image.id, status=status,
    )
    rt.state.container_names.reserve(key, container_id)
    ctx = f"container_id={container_id} pod_id={sandbox.id}"
    async with Rollback(ctx) as undo:
        undo.push("release the container name",
                  rollback.plain(rt.state.container_names.release, key, container_id))
        steps.mark("image")
        await rt.state.save_container(record)
        undo.push("delete the container record", lambda: rt.state.drop_container(record))
        mounts = await rt.to_thread(rt.images.snapshotter.prepare, container_id, image.id)
        steps.mark("snapshot")
        undo.push("remove the writable layer",
                  lambda: rt.to_thread(rt.images.snapshotter.remove, container_id))
        await rt.to_thread(bundle.mkdir, 0o711, True, True)
        undo.push("remove the bundle", lambda: rt.to_thread(shutil.rmtree, bundle, True))
        await rt.to_thread(rootfs.mount_rootfs, mounts, str(rootfs_dir))
        steps.mark("mount")
        undo.push("unmount the rootfs", lambda: rt.to_thread(rootfs.unmount_rootfs,
                                                            str(rootfs_dir)))
        spec_config = await _resolve_image_volumes(rt, config, bundle, container_id, undo)
        spec = generate(SpecInputs(
            container_id=container_id, config=spec_config,
            sandbox=_sandbox_view(sandbox, sandbox_config),
            image=ImageView(id=image.id, name=config.image.image,
                            config=image.config.get("config", {}) or {},
                            layers=[str(p) for p in image.layer_dirs]),
            rootfs=str(rootfs_dir), host=host_features(rt), default_seccomp=_default_seccomp,
        ))
        await rt.to_thread(_write_spec, bundle, spec)
        steps.mark("spec")
        if log_path:
            await rt.to_thread(os.makedirs, os.path.dirname(log_path), 0o755, True)
        await rt.pods.tasks.create(sandbox.id, container_id, str(bundle), stdin=config.stdin,
                                   stdin_once=config.stdin_once, tty=config.tty,
                                   log_path=log_path)
        steps.mark("shim_create")
        undo.push("delete the container in the shim",
                  lambda: rt.pods.tasks.delete(sandbox.id, container_id, force=True))
        status.resources = cri_resources_dict(spec["linux"]["resources"],
                                              spec["process"].get("oomScoreAdj", 0))
        status.user = spec["process"]["user"]
        status.mounts = [_mount_view(m) for m in config.mounts]
        status.stop_signal = (image.config.get("config", {}) or {}).get("StopSignal", "")
        record.state = ContainerState.CREATED
        await rt.state.save_container(record)
        undo.commit()
    log.info("container created container_id=%s pod_id=%s name=%s", container_id, sandbox.id,
             config.metadata.name)
    log.debug("container create steps container_id=%s %s", container_id, steps)
    rt.events.container_changed(record, "created")
    return container_id


async def _resolve_image_volumes(rt: RuntimeContext, config: Any, bundle: Path,
                                 container_id: str, undo: Rollback) -> Any:
    """A copy of the config whose image mounts point at the images' mounted filesystems."""
    if not any(m.HasField("image") and m.image.image for m in config.mounts):
        return config
    resolved = pb.ContainerConfig()
    resolved.CopyFrom(config)
    undo.push("unmount the image volumes",
              lambda: rt.to_thread(image_volumes.release_all, bundle))
    for index, mount in enumerate(resolved.mounts):
        if not (mount.HasField("image") and mount.image.image):
            continue
        image = await rt.to_thread(rt.images.images.resolve, mount.image.image)
        key = image_volumes.volume_key(container_id, index)
        mounts = await rt.to_thread(rt.images.snapshotter.prepare, key, image.id)
        undo.push(f"drop the snapshot of image volume {mount.image.image}",
                  functools.partial(rt.to_thread, rt.images.snapshotter.remove, key))
        mount.host_path = await rt.to_thread(image_volumes.prepare, bundle, index, mounts,
                                             image.id, mount.image_sub_path)
        mount.readonly = True
        mount.ClearField("image")
    return resolved


def _sandbox_view(sandbox: SandboxRecord, sandbox_config: Any) -> SandboxView:
    s = sandbox.status
    return SandboxView(
        id=sandbox.id, config=sandbox_config, netns_path=s.netns_path, ipc_path=s.ipc_path,
        uts_path=s.uts_path, pid_path=s.pid_path, hostname_path=s.hostname_path,
        hosts_path=s.hosts_path, resolv_path=s.resolv_path, shm_path=s.shm_path,
        cgroup_parent=s.cgroup_parent,
    )


def _write_spec(bundle: Path, spec: dict[str, Any]) -> None:
    tmp = bundle / ".config.json.tmp"
    tmp.write_text(json.dumps(spec))
    os.replace(tmp, bundle / "config.json")


def _mount_view(mount: Any) -> dict[str, Any]:
    return {"container_path": mount.container_path, "host_path": mount.host_path,
            "readonly": mount.readonly, "propagation": int(mount.propagation),
            "recursive_read_only": mount.recursive_read_only}
