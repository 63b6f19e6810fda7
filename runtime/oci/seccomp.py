"""Seccomp for the container process: OCI `linux.seccomp` → libseccomp filter.

`compile_filter` does everything that can fail on a bad spec (validation, name and
architecture resolution, argument structs) ahead of the fork; `SeccompFilter.load()`
runs in the init right before exec and only calls into libseccomp.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import platform
from typing import Any

from pycri.runtime.oci import seccomp_lib
from pycri.runtime.oci.seccomp_lib import ArgCmp

log = logging.getLogger(__name__)

DEFAULT_PROFILE_PATH = os.path.join(os.path.dirname(__file__), "default_seccomp.json")

_SIMPLE_ACTIONS = {
    "SCMP_ACT_KILL": seccomp_lib.ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": seccomp_lib.ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": seccomp_lib.ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": seccomp_lib.ACT_TRAP,
    "SCMP_ACT_ALLOW": seccomp_lib.ACT_ALLOW,
    "SCMP_ACT_LOG": seccomp_lib.ACT_LOG,
}
_ERRNO_ACTIONS = {"SCMP_ACT_ERRNO": seccomp_lib.act_errno, "SCMP_ACT_TRACE": seccomp_lib.act_trace}

_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": (seccomp_lib.ATTR_CTL_TSYNC, (2, 2, 0)),
    "SECCOMP_FILTER_FLAG_LOG": (seccomp_lib.ATTR_CTL_LOG, (2, 4, 0)),
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (seccomp_lib.ATTR_CTL_SSB, (2, 5, 0)),
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": (seccomp_lib.ATTR_CTL_WAITKILL, (2, 6, 0)),
}
_MAX_ARGS = 6


class SeccompError(Exception):
    """A bad seccomp section (the message names the field) or libseccomp refused."""


@dataclasses.dataclass(frozen=True)
class Rule:
    name: str
    number: int
    action: int
    conditions: tuple[tuple[int, int, int, int], ...]  # (index, op, a, b)


def _action(value: Any, errno_ret: Any, field: str) -> int:
    if value in _SIMPLE_ACTIONS:
        if errno_ret is not None:
            raise SeccompError(f"{field}: errnoRet is only valid with SCMP_ACT_ERRNO/TRACE")
        return _SIMPLE_ACTIONS[value]
    if value in _ERRNO_ACTIONS:
        ret = errno.EPERM if errno_ret is None else errno_ret
        if not isinstance(ret, int) or ret < 0 or ret > 0xFFFF:
            raise SeccompError(f"{field}: invalid errnoRet `{errno_ret}`")
        return _ERRNO_ACTIONS[value](ret)
    if value == "SCMP_ACT_NOTIFY":
        raise SeccompError(f"{field}: SCMP_ACT_NOTIFY is not supported (no seccomp agent)")
    raise SeccompError(f"{field}: unknown action `{value}`")


def _arch_name(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("SCMP_ARCH_"):
        raise SeccompError(f"linux.seccomp.architectures: unknown architecture `{value}`")
    return value[len("SCMP_ARCH_") :].lower()


def _conditions(args: Any, field: str) -> list[tuple[int, int, int, int]]:
    out = []
    for i, arg in enumerate(args or []):
        where = f"{field}.args[{i}]"
        index = arg.get("index")
        if not isinstance(index, int) or not 0 <= index < _MAX_ARGS:
            raise SeccompError(f"{where}.index: `{index}` is not 0..5")
        op = arg.get("op")
        if op not in seccomp_lib.CMP:
            raise SeccompError(f"{where}.op: unknown operator `{op}`")
        value = int(arg.get("value", 0)) & 0xFFFFFFFFFFFFFFFF
        value_two = int(arg.get("valueTwo", 0)) & 0xFFFFFFFFFFFFFFFF
        out.append((index, seccomp_lib.CMP[op], value, value_two))
    return out


@dataclasses.dataclass
class SeccompFilter:
    """A compiled filter, ready to load into the calling process."""

    default_action: int
    arches: list[int]
    attrs: list[tuple[int, int]]
    rules: list[Rule]
    skipped: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self._lib = seccomp_lib.get()
        # ctypes arrays built now so load() allocates nothing Python-heavy.
        self._arrays = []
        for rule in self.rules:
            arr = (ArgCmp * max(len(rule.conditions), 1))()
            for i, (index, op, a, b) in enumerate(rule.conditions):
                arr[i] = ArgCmp(index, op, a, b)
            self._arrays.append(arr)

    def load(self) -> None:
        """Install the filter on the calling thread (TSYNC flag: all threads)."""
        lib = self._lib.lib
        ctx = lib.seccomp_init(self.default_action)
        if not ctx:
            raise SeccompError("seccomp_init: failed (invalid default action?)")
        try:
            for attr, value in self.attrs:
                ret = lib.seccomp_attr_set(ctx, attr, value)
                if ret < 0:
                    raise SeccompError(f"seccomp_attr_set {attr}={value}: {os.strerror(-ret)}")
            for arch in self.arches:
                ret = lib.seccomp_arch_add(ctx, arch)
                if ret < 0 and ret != -errno.EEXIST:
                    raise SeccompError(f"seccomp_arch_add {arch:#x}: {os.strerror(-ret)}")
            for rule, arr in zip(self.rules, self._arrays, strict=True):
                ret = lib.seccomp_rule_add_array(
                    ctx, rule.action, rule.number, len(rule.conditions), arr
                )
                if ret < 0:
                    raise SeccompError(
                        f"add seccomp rule for `{rule.name}`: {os.strerror(-ret).lower()}"
                    )
            ret = lib.seccomp_load(ctx)
            if ret < 0:
                raise SeccompError(f"load seccomp filter: {os.strerror(-ret).lower()}")
        finally:
            lib.seccomp_release(ctx)


def compile_filter(linux_seccomp: dict[str, Any]) -> SeccompFilter:
    """Validate `linux.seccomp` and resolve it against libseccomp (no kernel changes)."""
    try:
        lib = seccomp_lib.get()
    except seccomp_lib.LibseccompMissing as exc:
        raise SeccompError(str(exc)) from exc
    sec = linux_seccomp
    if sec.get("listenerPath"):
        raise SeccompError("linux.seccomp.listenerPath: seccomp notify agents are not supported")
    if "defaultAction" not in sec:
        raise SeccompError("linux.seccomp.defaultAction: missing")
    default = _action(
        sec["defaultAction"], sec.get("defaultErrnoRet"), "linux.seccomp.defaultAction"
    )
    arches = []
    for value in sec.get("architectures") or []:
        token = lib.resolve_arch(_arch_name(value))
        if token == 0:
            raise SeccompError(f"linux.seccomp.architectures: unknown architecture `{value}`")
        arches.append(token)
    # The init sets no_new_privs itself when the spec asks; never let libseccomp do it.
    attrs = [(seccomp_lib.ATTR_CTL_NNP, 0)]
    version = lib.version()
    for flag in sec.get("flags") or []:
        if flag not in _FLAGS:
            raise SeccompError(f"linux.seccomp.flags: unknown flag `{flag}`")
        attr, needs = _FLAGS[flag]
        if version < needs:
            raise SeccompError(
                f"linux.seccomp.flags: `{flag}` needs libseccomp >= "
                f"{'.'.join(map(str, needs))} (have {'.'.join(map(str, version))})"
            )
        attrs.append((attr, 1))
    rules: list[Rule] = []
    skipped: list[str] = []
    for i, entry in enumerate(sec.get("syscalls") or []):
        field = f"linux.seccomp.syscalls[{i}]"
        names = entry.get("names")
        if not names or not isinstance(names, list):
            raise SeccompError(f"{field}.names: want a non-empty list")
        if "action" not in entry:
            raise SeccompError(f"{field}.action: missing")
        action = _action(entry["action"], entry.get("errnoRet"), f"{field}.action")
        conds = _conditions(entry.get("args"), field)
        if action == default:
            # libseccomp refuses rules that repeat the default; they change nothing.
            continue
        indexes = [c[0] for c in conds]
        # libseccomp takes one comparison per argument in a rule; several on one argument
        # are added as separate rules (any of them matching).
        groups = [[c] for c in conds] if len(set(indexes)) < len(indexes) else [conds]
        for name in names:
            nr = lib.resolve_syscall(str(name))
            if nr == seccomp_lib.NR_SCMP_ERROR:
                skipped.append(str(name))
                continue
            for group in groups:
                rules.append(Rule(str(name), nr, action, tuple(group)))
    if skipped:
        log.debug("seccomp syscalls unknown here skipped names=%s", ",".join(skipped))
    return SeccompFilter(default, arches, attrs, rules, skipped)


def default_profile(capabilities: list[str] | None = None) -> dict[str, Any]:
    """pycri's RuntimeDefault profile in `linux.seccomp` form.

    Rules whose entry has `"includes": {"caps": [...]}` are kept only when the container
    holds one of those capabilities (`"excludes"`: only when it holds none of them); those
    keys, comments and the per-machine `archMap` are resolved away so the result is plain
    OCI for this host.
    """
    with open(DEFAULT_PROFILE_PATH, encoding="utf-8") as f:
        profile: dict[str, Any] = json.load(f)
    arch_map = profile.pop("archMap", {})
    profile["architectures"] = arch_map.get(platform.machine(), [])
    held = set(capabilities or [])
    syscalls = []
    for entry in profile.get("syscalls", []):
        inc = entry.pop("includes", None)
        exc = entry.pop("excludes", None)
        if inc and not held & set(inc.get("caps", [])):
            continue
        if exc and held & set(exc.get("caps", [])):
            continue
        entry.pop("comment", None)
        syscalls.append(entry)
    profile["syscalls"] = syscalls
    return profile
