"""pycri's default network, installed when the node has no CNI config of its own."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from typing import Any

from pycri.cni.config import load_dir

log = logging.getLogger(__name__)

DEFAULT_NETWORK_NAME = "pycri"
DEFAULT_SUBNET = "10.89.0.0/16"
DEFAULT_BRIDGE = "pycri0"
DEFAULT_CONF_NAME = "10-pycri.conflist"
# The same document ships as `default-net.conflist` next to this module (a test
# keeps the two equal) for people installing it by hand.
SHIPPED_FILE = os.path.join(os.path.dirname(__file__), "default-net.conflist")


def default_network(
    subnet: str = DEFAULT_SUBNET, bridge: str = DEFAULT_BRIDGE, name: str = DEFAULT_NETWORK_NAME
) -> dict[str, Any]:
    """bridge + host-local on a private subnet, portmap for hostPorts; loopback is
    added to every pod by the manager itself."""
    return {
        "cniVersion": "1.0.0",
        "name": name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def render(network: dict[str, Any]) -> str:
    return json.dumps(network, indent=2) + "\n"


def install_default_config(
    conf_dir: str, network: dict[str, Any] | None = None, filename: str = DEFAULT_CONF_NAME
) -> bool:
    """Write the default network into `conf_dir` unless it already holds a valid
    config; True when a file was written."""
    if load_dir(conf_dir).networks:
        return False
    os.makedirs(conf_dir, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=conf_dir)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(render(network or default_network()))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(conf_dir, filename))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    log.info("installed default CNI config conf_dir=%s file=%s", conf_dir, filename)
    return True
