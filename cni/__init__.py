"""pycri's CNI invoker: network configs, plugin execution, result cache, netns helpers."""

from __future__ import annotations

from pycri.cni.config import NetworkConfigList, load_dir, parse_config
from pycri.cni.defaults import default_network, install_default_config
from pycri.cni.errors import (
    CniConfigError,
    CniError,
    CniPluginError,
    CniTimeoutError,
    PluginNotFoundError,
)
from pycri.cni.manager import CniManager, CniNotReadyError
from pycri.cni.model import CniManagerConfig, PodNetworkResult
from pycri.cni.netns import create_netns, interface_stats, is_netns, remove_netns, run_in_netns
from pycri.cni.result import DNS, Interface, IPConfig, Result, Route, parse_result

__all__ = [
    "DNS",
    "CniConfigError",
    "CniError",
    "CniManager",
    "CniManagerConfig",
    "CniNotReadyError",
    "CniPluginError",
    "CniTimeoutError",
    "IPConfig",
    "Interface",
    "NetworkConfigList",
    "PluginNotFoundError",
    "PodNetworkResult",
    "Result",
    "Route",
    "create_netns",
    "default_network",
    "install_default_config",
    "interface_stats",
    "is_netns",
    "load_dir",
    "parse_config",
    "parse_result",
    "remove_netns",
    "run_in_netns",
]
