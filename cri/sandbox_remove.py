"""RemovePodSandbox: remove the pod's containers, stop its shim, unpin, forget it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pycri.api.cri import pb
from pycri.cri import netns_pin, sandbox_files
from pycri.cri.context import RuntimeContext
from pycri.cri.pod_cgroup import remove_own_pod_cgroup
from pycri.cri.sandbox_stop import stop_record

log = logging.getLogger(__name__)


async def remove(rt: RuntimeContext, request: Any, context: Any) -> Any:
    from pycri.cri import container_remove

    record = rt.state.find_sandbox(request.pod_sandbox_id)
    if record is None:
        return pb.RemovePodSandboxResponse()
    async with rt.state.lock(record.id):
        await stop_record(rt, record)
        for container in rt.state.containers_of(record.id):
            await container_remove.remove_record(rt, container)
        await rt.pods.stop(record.id)
        if record.status.netns_path:
            # Only now: CNI DEL (in stop) needs the namespace to undo everything.
            await rt.to_thread(netns_pin.remove, record.status.netns_path)
        if record.status.dir:
            await rt.to_thread(sandbox_files.remove_pod_files, Path(record.status.dir),
                               record.status.shm_mounted)
        await rt.to_thread(remove_own_pod_cgroup, record.status.cgroup_parent, record.id,
                           rt.config.cgroup_root)
        await rt.state.drop_sandbox(record)
    log.info("pod sandbox removed pod_id=%s", record.id)
    rt.events.sandbox_changed(record)
    return pb.RemovePodSandboxResponse()
