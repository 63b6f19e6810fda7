"""Version, Status, RuntimeConfig and UpdateRuntimeConfig."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from pycri.api.cri import pb
from pycri.cri.config import Config

log = logging.getLogger(__name__)

RUNTIME_NAME = "pycri"
RUNTIME_API_VERSION = "v1"
KUBE_API_VERSION = "0.1.0"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pycri")
    except PackageNotFoundError:
        return "0.0.0"


NetworkProbe = Callable[[], tuple[bool, str]]


class RuntimeInfoService:
    def __init__(self, config: Config, network_probe: NetworkProbe) -> None:
        self._config = config
        self._network_probe = network_probe
        self._version = _version()
        self.pod_cidr = ""

    async def Version(self, request: Any, context: Any) -> Any:
        return pb.VersionResponse(
            version=KUBE_API_VERSION,
            runtime_name=RUNTIME_NAME,
            runtime_version=self._version,
            runtime_api_version=RUNTIME_API_VERSION,
        )

    async def Status(self, request: Any, context: Any) -> Any:
        network_ok, network_reason = self._network_probe()
        conditions = [
            pb.RuntimeCondition(type="RuntimeReady", status=True),
            pb.RuntimeCondition(
                type="NetworkReady",
                status=network_ok,
                reason="" if network_ok else "NetworkPluginNotReady",
                message="" if network_ok else network_reason,
            ),
        ]
        info: dict[str, str] = {}
        if request.verbose:
            info["config"] = json.dumps(self._config.to_dict())
            info["podCIDR"] = json.dumps(self.pod_cidr)
        handlers = [
            pb.RuntimeHandler(name=name, features=pb.RuntimeHandlerFeatures(
                recursive_read_only_mounts=False, user_namespaces=False))
            for name in self._config.runtime_handlers
        ]
        return pb.StatusResponse(
            status=pb.RuntimeStatus(conditions=conditions), info=info,
            runtime_handlers=handlers,
            features=pb.RuntimeFeatures(supplemental_groups_policy=True),
        )

    async def RuntimeConfig(self, request: Any, context: Any) -> Any:
        driver = (pb.CgroupDriver.SYSTEMD if self._config.cgroup_driver == "systemd"
                  else pb.CgroupDriver.CGROUPFS)
        return pb.RuntimeConfigResponse(linux=pb.LinuxRuntimeConfiguration(cgroup_driver=driver))

    async def UpdateRuntimeConfig(self, request: Any, context: Any) -> Any:
        cidr = request.runtime_config.network_config.pod_cidr
        if cidr != self.pod_cidr:
            log.info("pod CIDR updated pod_cidr=%s", cidr)
            self.pod_cidr = cidr
        return pb.UpdateRuntimeConfigResponse()
