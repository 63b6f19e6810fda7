"""A scripted stand-in for the plugin runner, for tests of code that runs CNI plugins."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pycri.cni.exec import ExecResult


@dataclass
class PluginCall:
    plugin: str
    command: str
    env: dict[str, str]
    config: dict[str, Any]


Handler = Callable[[PluginCall], ExecResult | dict[str, Any] | None]


def ok(obj: dict[str, Any] | None = None) -> ExecResult:
    return ExecResult(0, json.dumps(obj).encode() if obj is not None else b"", b"")


def plugin_error(code: int, msg: str, details: str = "") -> ExecResult:
    body = {"cniVersion": "1.0.0", "code": code, "msg": msg, "details": details}
    return ExecResult(1, json.dumps(body).encode(), b"")


def bridge_like_result(call: PluginCall, ip: str = "10.22.0.5/24") -> dict[str, Any]:
    """A plausible ADD result for an interface-creating plugin."""
    return {
        "cniVersion": call.config.get("cniVersion", "1.0.0"),
        "interfaces": [
            {"name": "br0", "mac": "02:00:00:00:00:01"},
            {"name": "veth0", "mac": "02:00:00:00:00:02"},
            {"name": call.env.get("CNI_IFNAME", "eth0"), "mac": "02:00:00:00:00:03",
             "sandbox": call.env.get("CNI_NETNS", "")},
        ],
        "ips": [{"address": ip, "gateway": ip.rsplit(".", 1)[0] + ".1", "interface": 2}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {"nameservers": ["10.22.0.1"]},
    }


@dataclass
class FakeRunner:
    """Records every call; per-plugin handlers decide the outcome. Without a handler,
    ADD echoes prevResult (or makes a bridge-like result for the first plugin) and
    every other command succeeds with no output."""

    handlers: dict[str, Handler] = field(default_factory=dict)
    calls: list[PluginCall] = field(default_factory=list)

    async def run(
        self, path: str, env: dict[str, str], stdin: bytes, timeout: float
    ) -> ExecResult:
        config = json.loads(stdin) if stdin else {}
        call = PluginCall(os.path.basename(path), env.get("CNI_COMMAND", ""), env, config)
        self.calls.append(call)
        handler = self.handlers.get(call.plugin)
        if handler is not None:
            out = handler(call)
            if isinstance(out, ExecResult):
                return out
            if out is not None:
                return ok(out)
        if call.command == "ADD":
            return ok(config.get("prevResult") or bridge_like_result(call))
        if call.command == "VERSION":
            return ok({"cniVersion": "1.1.0", "supportedVersions": ["0.4.0", "1.0.0", "1.1.0"]})
        return ok()

    def commands(self) -> list[tuple[str, str]]:
        return [(c.command, c.plugin) for c in self.calls]
