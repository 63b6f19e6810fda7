"""Capabilities, seccomp, AppArmor and masked paths from the CRI security context."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pycri.api.cri import pb
from pycri.cri.errors import FailedPrecondition, InvalidArgument
from pycri.cri.specgen.defaults import ALL_CAPABILITIES, DEFAULT_CAPABILITIES


def normalize_capability(name: str) -> str:
    upper = name.strip().upper()
    if upper == "ALL":
        return upper
    full = upper if upper.startswith("CAP_") else f"CAP_{upper}"
    if full not in ALL_CAPABILITIES:
        raise InvalidArgument(f"capability `{name}`: unknown capability")
    return full


def capability_set(
    add: Sequence[str], drop: Sequence[str], privileged: bool,
    available: Sequence[str] = ALL_CAPABILITIES,
) -> list[str]:
    """`available`: what the runtime itself holds; "all" can never mean more than that."""
    if privileged:
        return list(available)
    adds = [normalize_capability(c) for c in add]
    drops = [normalize_capability(c) for c in drop]
    caps = list(DEFAULT_CAPABILITIES)
    if "ALL" in adds:
        caps = list(available)
    if "ALL" in drops:
        caps = []
    for cap in adds:
        if cap != "ALL" and cap not in caps:
            caps.append(cap)
    if "ALL" not in drops:
        caps = [c for c in caps if c not in drops]
    return caps


def process_capabilities(
    context: Any, available: Sequence[str] = ALL_CAPABILITIES
) -> dict[str, list[str]]:
    caps_msg = context.capabilities
    caps = capability_set(caps_msg.add_capabilities, caps_msg.drop_capabilities,
                          context.privileged, available)
    ambient = [normalize_capability(c) for c in caps_msg.add_ambient_capabilities]
    for cap in ambient:
        if cap not in caps:
            caps.append(cap)
    return {"bounding": caps, "effective": list(caps), "permitted": list(caps),
            "inheritable": list(ambient), "ambient": ambient}


def seccomp_section(
    context: Any, default_profile: Callable[[list[str]], dict[str, Any]] | None,
    capabilities: list[str] | None = None,
) -> dict[str, Any] | None:
    """The OCI linux.seccomp for the context, or None for unconfined."""
    if context.privileged:
        # A privileged container runs unconfined whatever profile it names (kubelet and
        # critest rely on this: a blocking profile must not hold a privileged container).
        return None
    if not context.HasField("seccomp"):
        legacy = context.seccomp_profile_path
        if not legacy or legacy == "unconfined":
            return None
        if legacy in ("runtime/default", "docker/default"):
            return _runtime_default(default_profile, capabilities or [])
        return _localhost(legacy.removeprefix("localhost/"))
    profile = context.seccomp
    kind = profile.profile_type
    if kind == pb.SecurityProfile.ProfileType.Unconfined:
        return None
    if kind == pb.SecurityProfile.ProfileType.RuntimeDefault:
        return _runtime_default(default_profile, capabilities or [])
    return _localhost(profile.localhost_ref)


def _runtime_default(
    default_profile: Callable[[list[str]], dict[str, Any]] | None, capabilities: list[str]
) -> dict[str, Any]:
    if default_profile is None:
        raise FailedPrecondition("seccomp RuntimeDefault: no default profile is available")
    # The profile opens the syscalls that the container's capabilities already allow.
    return default_profile(capabilities)


def _localhost(ref: str) -> dict[str, Any]:
    if not ref or not ref.startswith("/"):
        raise InvalidArgument(f"seccomp Localhost profile `{ref}`: must be an absolute path")
    try:
        data = json.loads(Path(ref).read_text())
    except FileNotFoundError as exc:
        raise InvalidArgument(f"seccomp Localhost profile `{ref}`: file not found") from exc
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"seccomp Localhost profile `{ref}`: {exc}") from exc
    if not isinstance(data, dict) or "defaultAction" not in data:
        raise InvalidArgument(f"seccomp Localhost profile `{ref}`: no `defaultAction`")
    return _from_docker_format(data)


def _from_docker_format(data: dict[str, Any]) -> dict[str, Any]:
    """Profiles on disk may use the docker shape (archMap, names); the runtime wants OCI."""
    section: dict[str, Any] = {"defaultAction": data["defaultAction"]}
    if "defaultErrnoRet" in data:
        section["defaultErrnoRet"] = data["defaultErrnoRet"]
    arches = list(data.get("architectures") or [])
    for entry in data.get("archMap") or []:
        arches.append(entry.get("architecture"))
        arches += entry.get("subArchitectures") or []
    if arches:
        section["architectures"] = [a for a in arches if a]
    if data.get("flags"):
        section["flags"] = data["flags"]
    rules = []
    for rule in data.get("syscalls") or []:
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        converted = {"names": names, "action": rule["action"]}
        for key in ("args", "errnoRet"):
            if rule.get(key) is not None:
                converted[key] = rule[key]
        rules.append(converted)
    section["syscalls"] = rules
    return section


def apparmor_profile(context: Any, host_has_apparmor: bool) -> str | None:
    """The AppArmor profile name to apply, or None."""
    if context.HasField("apparmor"):
        kind = context.apparmor.profile_type
        if kind == pb.SecurityProfile.ProfileType.Unconfined:
            return None
        if kind == pb.SecurityProfile.ProfileType.Localhost:
            name = context.apparmor.localhost_ref
            if not host_has_apparmor:
                raise InvalidArgument(
                    f"apparmor profile `{name}`: AppArmor is not enabled on this host"
                )
            return str(name)
        return "pycri-default" if host_has_apparmor and not context.privileged else None
    legacy = context.apparmor_profile
    if legacy and legacy not in ("unconfined", "runtime/default"):
        if not host_has_apparmor:
            raise InvalidArgument(f"apparmor profile `{legacy}`: AppArmor is not enabled")
        return str(legacy).removeprefix("localhost/")
    return None


def current_capabilities(status_file: str = "/proc/self/status") -> list[str]:
    """The capabilities this process holds (CapEff), as names."""
    try:
        text = Path(status_file).read_text()
    except OSError:
        return list(ALL_CAPABILITIES)
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            mask = int(line.split()[1], 16)
            return [name for bit, name in enumerate(ALL_CAPABILITIES) if mask >> bit & 1]
    return list(ALL_CAPABILITIES)
