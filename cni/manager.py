"""CniManager: the pod network API the daemon calls (setup, teardown, check, status, GC)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pycri.cni import capabilities
from pycri.cni.cache import CacheEntry, ResultCache
from pycri.cni.config import ConfigWatcher, NetworkConfigList, parse_config
from pycri.cni.errors import CniError
from pycri.cni.exec import PluginRunner, SubprocessRunner, find_plugin
from pycri.cni.invoke import Invoker, RuntimeConf
from pycri.cni.model import CniManagerConfig, PodNetworkResult, select_pod_ips
from pycri.cni.result import parse_result

log = logging.getLogger(__name__)

LOOPBACK_NETWORK = parse_config(
    {"cniVersion": "1.0.0", "name": "cni-loopback", "plugins": [{"type": "loopback"}]},
    "<builtin loopback>",
)


class CniNotReadyError(CniError):
    """No usable network configuration: the pod cannot be given a network yet."""


@dataclass(frozen=True)
class _Attachment:
    net: NetworkConfigList
    rt: RuntimeConf
    cached: bool = True


class CniManager:
    def __init__(self, config: Any = None, *, runner: PluginRunner | None = None) -> None:
        self.config = CniManagerConfig.from_object(config)
        self.watcher = ConfigWatcher(self.config.conf_dir)
        self.cache = ResultCache(self.config.cache_dir)
        self.invoker = Invoker(
            self.config.bin_dirs, runner or SubprocessRunner(), self.config.plugin_timeout
        )

    # ---- configuration ---------------------------------------------------------------

    def reload(self) -> bool:
        """Pick up conf dir changes (cheap when nothing changed)."""
        return self.watcher.reload()

    def networks(self) -> list[NetworkConfigList]:
        """The networks pods join, default first."""
        self.reload()
        return self.watcher.current.networks[: max(1, self.config.max_networks)]

    def network_ready(self) -> tuple[bool, str]:
        """(True, "") when a valid config exists and all its plugins are installed."""
        self.reload()
        nets = self.watcher.current.networks
        if not nets:
            why = f"no valid CNI network config in {self.config.conf_dir}"
            if self.watcher.current.errors:
                path, err = next(iter(self.watcher.current.errors.items()))
                why += f" (skipped {os.path.basename(path)}: {err})"
            return False, why
        needed = self.networks() + ([LOOPBACK_NETWORK] if self.config.loopback else [])
        for net in needed:
            for plugin_type in net.plugin_types:
                try:
                    find_plugin(plugin_type, self.config.bin_dirs, net.name)
                except CniError as exc:
                    return False, str(exc)
        return True, ""

    async def status(self) -> tuple[bool, str]:
        """network_ready plus the plugins' own STATUS (CNI 1.1 networks)."""
        ready, why = self.network_ready()
        if not ready:
            return ready, why
        for net in self.networks():
            try:
                await self.invoker.status_list(net)
            except CniError as exc:
                return False, str(exc)
        return True, ""

    # ---- pod attachments -------------------------------------------------------------

    def _attachments(
        self, pod_id: str, netns_path: str, args: tuple[tuple[str, str], ...],
        caps: dict[str, Any],
    ) -> list[_Attachment]:
        nets = self.networks()
        if not nets:
            raise CniNotReadyError(self.network_ready()[1])
        out = []
        if self.config.loopback:
            # No cache: loopback needs no state to undo and dies with the netns.
            rt = RuntimeConf(pod_id, netns_path, "lo", args)
            out.append(_Attachment(LOOPBACK_NETWORK, rt, cached=False))
        for i, net in enumerate(nets):
            ifname = self.config.default_ifname if i == 0 else f"net{i}"
            out.append(_Attachment(net, RuntimeConf(pod_id, netns_path, ifname, args, caps)))
        return out

    def _entry(self, att: _Attachment, result: dict[str, Any] | None) -> CacheEntry:
        return CacheEntry(
            network=att.net.name,
            container_id=att.rt.container_id,
            ifname=att.rt.ifname,
            netns=att.rt.netns,
            config=att.net.to_dict(),
            cni_args=att.rt.args,
            capability_args=att.rt.capability_args,
            result=result,
        )

    async def _add(self, att: _Attachment) -> dict[str, Any]:
        if att.cached:
            # Recorded before ADD too, so a crash mid-ADD still lets DEL replay this config.
            self.cache.save(self._entry(att, None), durable=False)
        result = await self.invoker.add_list(att.net, att.rt)
        if att.cached:
            self.cache.save(self._entry(att, result))
        return result

    async def setup_pod(
        self,
        pod_id: str,
        netns_path: str,
        *,
        name: str,
        namespace: str,
        uid: str,
        port_mappings: Iterable[Mapping[str, Any]] = (),
        bandwidth: Mapping[str, Any] | None = None,
        dns: Mapping[str, Any] | None = None,
        cgroup_path: str | None = None,
        ips: Iterable[str] | None = None,
        mac: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> PodNetworkResult:
        """ADD the pod to loopback and its networks; on failure everything is DELeted."""
        args = capabilities.pod_cni_args(pod_id, name, namespace, uid)
        caps = capabilities.capability_args(
            port_mappings=port_mappings, bandwidth=bandwidth, dns=dns,
            cgroup_path=cgroup_path, ips=ips, mac=mac, annotations=annotations,
        )
        atts = self._attachments(pod_id, netns_path, args, caps)
        log.debug("cni setup started pod_id=%s netns=%s networks=%s",
                  pod_id, netns_path, [a.net.name for a in atts])
        outcomes = await asyncio.gather(*(self._add(a) for a in atts), return_exceptions=True)
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            await self._rollback(pod_id, atts, failure)
            raise failure
        results = {
            a.net.name: r for a, r in zip(atts, outcomes, strict=True)
            if a.cached and isinstance(r, dict)
        }
        return self._pod_result(atts, results)

    async def _rollback(
        self, pod_id: str, atts: list[_Attachment], failure: BaseException
    ) -> None:
        log.warning("cni setup failed, deleting attachments pod_id=%s error=%s", pod_id, failure)
        for att in atts:
            if not att.cached:
                continue
            entry = self.cache.load(att.net.name, pod_id, att.rt.ifname)
            try:
                await self._del(att.net, att.rt, entry.result if entry else None)
            except Exception as exc:  # the original error is what the caller must see
                log.error("undo cni ADD failed pod_id=%s network=%s error=%s",
                          pod_id, att.net.name, exc)
                failure.add_note(f"undo: {exc}")

    def _pod_result(
        self, atts: list[_Attachment], raw: dict[str, dict[str, Any]]
    ) -> PodNetworkResult:
        parsed = {n: parse_result(r) for n, r in raw.items()}
        primary = next(a for a in atts if a.cached)
        default = parsed[primary.net.name]
        ip, extra = select_pod_ips(default, primary.rt.ifname)
        interfaces = tuple(i for r in parsed.values() for i in r.interfaces)
        return PodNetworkResult(
            ip=ip, additional_ips=extra, interfaces=interfaces, dns=default.dns,
            results=parsed, raw=raw,
        )

    async def _del(
        self, net: NetworkConfigList, rt: RuntimeConf, prev: dict[str, Any] | None
    ) -> None:
        if rt.netns and not os.path.exists(rt.netns):
            # The namespace is gone: plugins still release host-side state (IPs,
            # iptables rules) when told there is no netns to enter.
            rt = RuntimeConf(rt.container_id, "", rt.ifname, rt.args, rt.capability_args)
        await self.invoker.del_list(net, rt, prev)
        self.cache.delete(net.name, rt.container_id, rt.ifname)

    def _cached_attachments(self, pod_id: str, netns_path: str) -> list[tuple[_Attachment, Any]]:
        found = []
        for entry in self.cache.entries(pod_id):
            try:
                net = parse_config(entry.config, f"cache:{pod_id}/{entry.network}")
            except CniError as exc:
                log.warning("ignore bad cached config pod_id=%s error=%s", pod_id, exc)
                continue
            rt = RuntimeConf(pod_id, netns_path or entry.netns, entry.ifname,
                             entry.cni_args, entry.capability_args)
            found.append((_Attachment(net, rt), entry.result))
        return found

    async def teardown_pod(
        self,
        pod_id: str,
        netns_path: str,
        *,
        name: str = "",
        namespace: str = "",
        uid: str = "",
        port_mappings: Iterable[Mapping[str, Any]] = (),
        **_: Any,
    ) -> None:
        """DEL the pod from every network it was added to, replaying the cached config
        and result; idempotent, and fine with a netns that no longer exists."""
        pairs = self._cached_attachments(pod_id, netns_path)
        if not pairs:
            # Never added, or added by a daemon that lost its cache: DEL with today's
            # config, which plugins treat as a no-op when nothing is there.
            args = capabilities.pod_cni_args(pod_id, name, namespace, uid)
            caps = capabilities.capability_args(port_mappings=port_mappings)
            try:
                atts = self._attachments(pod_id, netns_path, args, caps)
            except CniNotReadyError:
                log.info("cni teardown: no cache and no config pod_id=%s", pod_id)
                return
            pairs = [(a, None) for a in atts if a.cached]
        outcomes = await asyncio.gather(
            *(self._del(a.net, a.rt, prev) for a, prev in pairs), return_exceptions=True
        )
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            for extra in errors[1:]:
                errors[0].add_note(f"also: {extra}")
            raise errors[0]

    async def check_pod(self, pod_id: str, netns_path: str, **_: Any) -> None:
        """CHECK each cached attachment; raises the first plugin error."""
        pairs = self._cached_attachments(pod_id, netns_path)
        if not pairs:
            raise CniError(f"check pod network `{pod_id}`: no cached attachment")
        for att, prev in pairs:
            if prev is None:
                raise CniError(f"check pod network `{pod_id}`: ADD of `{att.net.name}` "
                               "did not complete")
            await self.invoker.check_list(att.net, att.rt, prev)

    def cached_result(self, pod_id: str) -> PodNetworkResult | None:
        """The pod's network as recorded at ADD (for a restarted daemon)."""
        pairs = self._cached_attachments(pod_id, "")
        raw = {a.net.name: prev for a, prev in pairs if prev is not None}
        if not raw:
            return None
        return self._pod_result([a for a, _ in pairs], raw)

    async def gc(self, valid_pod_ids: Iterable[str]) -> None:
        """DEL cached attachments of pods not in `valid_pod_ids`, then GC (CNI 1.1)."""
        valid = set(valid_pod_ids)
        for pod_id in self.cache.container_ids():
            if pod_id in valid:
                continue
            try:
                await self.teardown_pod(pod_id, "")
            except CniError as exc:
                log.warning("gc: DEL of stale attachment failed pod_id=%s error=%s", pod_id, exc)
        kept = [e for p in sorted(valid) for e in self.cache.entries(p)]
        for net in self.networks():
            keep = [(e.container_id, e.ifname) for e in kept if e.network == net.name]
            await self.invoker.gc_list(net, keep)
