"""Mounts: the runtime defaults, the pod's files, and the CRI mounts."""

from __future__ import annotations

import os
from typing import Any

from pycri.api.cri import pb
from pycri.cri.errors import InvalidArgument
from pycri.cri.specgen.defaults import base_mounts
from pycri.cri.specgen.inputs import SandboxView

_PROPAGATION = {
    pb.MountPropagation.PROPAGATION_PRIVATE: "rprivate",
    pb.MountPropagation.PROPAGATION_HOST_TO_CONTAINER: "rslave",
    pb.MountPropagation.PROPAGATION_BIDIRECTIONAL: "rshared",
}


def cri_mount(mount: Any, create_missing: bool = True) -> dict[str, Any]:
    destination = mount.container_path
    if not destination or not os.path.isabs(destination):
        raise InvalidArgument(f"mount `{destination}`: container_path must be an absolute path")
    if mount.HasField("image") and mount.image.image:
        raise InvalidArgument(
            f"mount `{destination}`: image volume mounts are not supported by pycri yet"
        )
    source = mount.host_path
    if not source or not os.path.isabs(source):
        raise InvalidArgument(f"mount `{destination}`: host_path `{source}` must be absolute")
    if not os.path.lexists(source):
        if not create_missing:
            raise InvalidArgument(f"mount `{destination}`: host path `{source}` does not exist")
        # Missing host paths become directories, as kubelet's hostPath DirectoryOrCreate expects.
        os.makedirs(source, mode=0o755, exist_ok=True)
    source = os.path.realpath(source)
    options = ["rbind", _PROPAGATION.get(mount.propagation, "rprivate")]
    if mount.recursive_read_only:
        # Status advertises recursive_read_only_mounts=false, so kubelet never asks.
        raise InvalidArgument(
            f"mount `{destination}`: recursive read-only mounts are not supported by pycri"
        )
    options.append("ro" if mount.readonly else "rw")
    spec: dict[str, Any] = {"destination": destination, "type": "bind", "source": source,
                            "options": options}
    if mount.uidMappings or mount.gidMappings:
        spec["uidMappings"] = [_idmap(m) for m in mount.uidMappings]
        spec["gidMappings"] = [_idmap(m) for m in mount.gidMappings]
    return spec


def _idmap(mapping: Any) -> dict[str, int]:
    return {"containerID": mapping.container_id, "hostID": mapping.host_id, "size": mapping.length}


def container_mounts(
    config: Any, sandbox: SandboxView, privileged: bool, readonly_rootfs: bool
) -> list[dict[str, Any]]:
    user = [cri_mount(m) for m in config.mounts]
    taken = {m["destination"] for m in user}
    mounts = [m for m in base_mounts(privileged) if m["destination"] not in taken]
    file_options = ["rbind", "rprivate", "ro" if readonly_rootfs else "rw"]
    pod_files = [
        ("/etc/hostname", sandbox.hostname_path),
        ("/etc/hosts", sandbox.hosts_path),
        ("/etc/resolv.conf", sandbox.resolv_path),
    ]
    for destination, source in pod_files:
        if source and destination not in taken:
            mounts.append({"destination": destination, "type": "bind", "source": source,
                           "options": list(file_options)})
    if sandbox.shm_path and "/dev/shm" not in taken:
        mounts.append({"destination": "/dev/shm", "type": "bind", "source": sandbox.shm_path,
                       "options": ["rbind", "rprivate", "rw"]})
    elif "/dev/shm" not in taken:
        mounts.append({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                       "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]})
    # Longer destinations after their parents, whatever order the config gave.
    return mounts + sorted(user, key=lambda m: m["destination"].count("/"))
