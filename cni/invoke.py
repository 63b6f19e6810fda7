"""Execution of network configuration lists per the CNI specification."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pycri.cni import version
from pycri.cni.config import NetworkConfigList
from pycri.cni.errors import CODE_DECODE_FAILURE, CniPluginError, CniTimeoutError
from pycri.cni.exec import PluginRunner, find_plugin
from pycri.cni.result import ResultError, convert, parse_result

log = logging.getLogger(__name__)

ADD, DEL, CHECK, STATUS, VERSION, GC = "ADD", "DEL", "CHECK", "STATUS", "VERSION", "GC"
VALID_ATTACHMENTS_KEYS = ("cni.dev/valid-attachments", "cni.dev/attachments")


@dataclass(frozen=True)
class RuntimeConf:
    """What one attachment's plugin calls share: the CNI_* environment and the
    capability arguments offered to plugins through `runtimeConfig`."""

    container_id: str
    netns: str
    ifname: str
    args: tuple[tuple[str, str], ...] = ()
    capability_args: dict[str, Any] = field(default_factory=dict)

    def cni_args(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.args)


def _base_env() -> dict[str, str]:
    # Plugins need the caller's PATH (iptables, ip); stale CNI_* must not leak in.
    return {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}


def plugin_config(
    net: NetworkConfigList,
    plugin: dict[str, Any],
    capability_args: dict[str, Any] | None = None,
    prev_result: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The stdin object of one plugin: its own config with the list's name and
    version, `prevResult`, and only the capabilities it declared."""
    conf = dict(plugin)
    conf["name"] = net.name
    conf["cniVersion"] = net.cni_version
    conf.pop("cniVersions", None)
    declared = plugin.get("capabilities")
    if isinstance(declared, dict) and capability_args:
        runtime_config = {
            key: value
            for key, value in capability_args.items()
            if declared.get(key) is True
        }
        if runtime_config:
            conf["runtimeConfig"] = runtime_config
    if prev_result is not None:
        conf["prevResult"] = prev_result
    if extra:
        conf.update(extra)
    return conf


def _plugin_error(
    command: str, plugin: str, network: str, returncode: int, stdout: bytes, stderr: bytes
) -> CniPluginError:
    err_text = stderr.decode(errors="replace").strip()
    try:
        obj = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        obj = None
    if isinstance(obj, dict) and ("code" in obj or "msg" in obj):
        code = obj.get("code")
        return CniPluginError(
            command=command,
            plugin=plugin,
            network=network,
            code=code if isinstance(code, int) else 0,
            msg=str(obj.get("msg") or "plugin failed"),
            details=str(obj.get("details") or ""),
            stderr=err_text,
        )
    msg = err_text.splitlines()[-1] if err_text else ""
    if not msg and stdout.strip():
        msg = stdout.decode(errors="replace").strip().splitlines()[-1]
    return CniPluginError(
        command=command,
        plugin=plugin,
        network=network,
        code=0,
        msg=msg or f"exit status {returncode}",
        details=f"exit status {returncode}",
        stderr=err_text,
    )


class Invoker:
    """Runs plugin lists: ordering, environment, prevResult chaining, errors, timeouts."""

    def __init__(self, bin_dirs: Sequence[str], runner: PluginRunner, timeout: float) -> None:
        self.bin_dirs = list(bin_dirs)
        self.runner = runner
        self.timeout = timeout

    def env(self, command: str, rt: RuntimeConf | None) -> dict[str, str]:
        env = _base_env()
        env["CNI_COMMAND"] = command
        env["CNI_PATH"] = os.pathsep.join(self.bin_dirs)
        if rt is not None:
            env["CNI_CONTAINERID"] = rt.container_id
            env["CNI_NETNS"] = rt.netns
            env["CNI_IFNAME"] = rt.ifname
            env["CNI_ARGS"] = rt.cni_args()
        return env

    async def exec_plugin(
        self,
        command: str,
        net: NetworkConfigList,
        plugin_type: str,
        stdin_obj: dict[str, Any],
        rt: RuntimeConf | None,
    ) -> bytes:
        path = find_plugin(plugin_type, self.bin_dirs, net.name)
        started = time.monotonic()
        log.debug(
            "cni plugin started command=%s network=%s plugin=%s container_id=%s",
            command, net.name, plugin_type, rt.container_id if rt else "",
        )
        try:
            res = await self.runner.run(
                path, self.env(command, rt), json.dumps(stdin_obj).encode(), self.timeout
            )
        except TimeoutError as exc:
            raise CniTimeoutError(
                command=command, plugin=plugin_type, network=net.name, timeout=self.timeout
            ) from exc
        except OSError as exc:
            raise CniPluginError(
                command=command, plugin=plugin_type, network=net.name, code=0,
                msg=f"exec `{path}`: {exc.strerror or exc}",
            ) from exc
        log.debug(
            "cni plugin complete command=%s network=%s plugin=%s rc=%d elapsed_ms=%.1f",
            command, net.name, plugin_type, res.returncode,
            (time.monotonic() - started) * 1000,
        )
        if res.returncode != 0:
            raise _plugin_error(
                command, plugin_type, net.name, res.returncode, res.stdout, res.stderr
            )
        return res.stdout

    def _decode_result(
        self, net: NetworkConfigList, plugin_type: str, stdout: bytes
    ) -> dict[str, Any]:
        try:
            raw = json.loads(stdout)
            parse_result(raw, net.cni_version)
            ver = str(raw.get("cniVersion") or net.cni_version)
            if version.parse(ver) != version.parse(net.cni_version):
                # Chained plugins must all see results of the list's own version.
                raw = convert(raw, net.cni_version)
            return dict(raw)
        except (ValueError, ResultError, AttributeError) as exc:
            raise CniPluginError(
                command=ADD, plugin=plugin_type, network=net.name, code=CODE_DECODE_FAILURE,
                msg=f"decode result: {exc}",
            ) from exc

    async def add_list(self, net: NetworkConfigList, rt: RuntimeConf) -> dict[str, Any]:
        """ADD each plugin in order, each seeing the previous one's result."""
        prev: dict[str, Any] | None = None
        for plugin in net.plugins:
            conf = plugin_config(net, plugin, rt.capability_args, prev)
            out = await self.exec_plugin(ADD, net, plugin["type"], conf, rt)
            if out.strip():
                prev = self._decode_result(net, plugin["type"], out)
        return prev if prev is not None else {"cniVersion": net.cni_version}

    async def del_list(
        self, net: NetworkConfigList, rt: RuntimeConf, prev_result: dict[str, Any] | None
    ) -> None:
        """DEL in reverse order, every plugin seeing the cached ADD result."""
        if not version.supports_check(net.cni_version):
            prev_result = None  # prevResult on DEL arrived with 0.4.0
        for plugin in reversed(net.plugins):
            conf = plugin_config(net, plugin, rt.capability_args, prev_result)
            await self.exec_plugin(DEL, net, plugin["type"], conf, rt)

    async def check_list(
        self, net: NetworkConfigList, rt: RuntimeConf, prev_result: dict[str, Any]
    ) -> None:
        if net.disable_check or not version.supports_check(net.cni_version):
            return
        for plugin in net.plugins:
            conf = plugin_config(net, plugin, rt.capability_args, prev_result)
            await self.exec_plugin(CHECK, net, plugin["type"], conf, rt)

    async def status_list(self, net: NetworkConfigList) -> None:
        """STATUS of every plugin (1.1+); raises the first plugin's error."""
        if not version.supports_status_and_gc(net.cni_version):
            return
        for plugin in net.plugins:
            conf = plugin_config(net, plugin)
            await self.exec_plugin(STATUS, net, plugin["type"], conf, None)

    async def gc_list(
        self, net: NetworkConfigList, valid_attachments: Sequence[tuple[str, str]]
    ) -> None:
        if net.disable_gc or not version.supports_status_and_gc(net.cni_version):
            return
        attachments = [{"containerID": c, "ifname": i} for c, i in valid_attachments]
        extra = {key: attachments for key in VALID_ATTACHMENTS_KEYS}
        for plugin in net.plugins:
            conf = plugin_config(net, plugin, extra=extra)
            await self.exec_plugin(GC, net, plugin["type"], conf, None)

    async def version_info(self, net: NetworkConfigList, plugin_type: str) -> list[str]:
        """The versions a plugin reports through VERSION."""
        out = await self.exec_plugin(
            VERSION, net, plugin_type, {"cniVersion": net.cni_version}, None
        )
        try:
            info = json.loads(out)
            versions = info.get("supportedVersions") or [info["cniVersion"]]
            return [str(v) for v in versions]
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            raise CniPluginError(
                command=VERSION, plugin=plugin_type, network=net.name,
                code=CODE_DECODE_FAILURE, msg=f"decode version info: {exc}",
            ) from exc
