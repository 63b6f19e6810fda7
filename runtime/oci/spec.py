"""Loading and validating an OCI runtime spec (config.json); errors name the field.

The spec stays a plain dict (as parsed): the runtime reads a handful of fields once, and
a typed model would cost import and conversion time on the create path.
"""

from __future__ import annotations

import os

from pycri.runtime.oci.errors import InvalidSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Spec = dict[str, Any]

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
HOOK_KINDS = (
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
)
RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4, "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}


def load(bundle: str) -> Spec:
    """Read `<bundle>/config.json`, validate it, and make root.path absolute."""
    from pycri.runtime.oci import fastjson

    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            spec: Spec = fastjson.loads(f.read())
    except FileNotFoundError:
        raise InvalidSpec("", f"read `{path}`: no such file") from None
    except (OSError, ValueError) as exc:
        raise InvalidSpec("", f"read `{path}`: {exc}") from exc
    validate(spec)
    root = spec["root"]["path"]
    if not os.path.isabs(root):
        spec["root"]["path"] = os.path.normpath(os.path.join(os.path.abspath(bundle), root))
    if not os.path.isdir(spec["root"]["path"]):
        raise InvalidSpec("root.path", f"`{spec['root']['path']}` is not a directory")
    return spec


def _want(value: Any, typ: type | tuple[type, ...], field: str, *, required: bool = False) -> Any:
    if value is None:
        if required:
            raise InvalidSpec(field, "is required")
        return None
    if isinstance(value, bool) and typ is int:
        raise InvalidSpec(field, "must be an integer")
    if not isinstance(value, typ):
        name = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
        raise InvalidSpec(field, f"must be {_names.get(name, name)}")
    return value


_names = {"str": "a string", "int": "an integer", "bool": "a boolean", "list": "an array",
          "dict": "an object"}


def _abs(value: Any, field: str) -> None:
    _want(value, str, field, required=True)
    if not value.startswith("/"):
        raise InvalidSpec(field, f"`{value}` must be an absolute path")


def _strings(value: Any, field: str) -> None:
    for i, item in enumerate(_want(value, list, field) or []):
        _want(item, str, f"{field}[{i}]")


def validate(spec: Any) -> None:
    """Raise InvalidSpec naming the first field that is wrong."""
    _want(spec, dict, "config.json", required=True)
    _want(spec.get("ociVersion"), str, "ociVersion", required=True)
    root = _want(spec.get("root"), dict, "root", required=True)
    _want(root.get("path"), str, "root.path", required=True)
    _want(root.get("readonly"), bool, "root.readonly")
    _want(spec.get("hostname"), str, "hostname")
    _want(spec.get("domainname"), str, "domainname")
    ann = _want(spec.get("annotations"), dict, "annotations") or {}
    for k, v in ann.items():
        _want(v, str, f"annotations.{k}")
    _validate_process(spec.get("process"), "process")
    for i, m in enumerate(_want(spec.get("mounts"), list, "mounts") or []):
        f = f"mounts[{i}]"
        _want(m, dict, f)
        _abs(m.get("destination"), f"{f}.destination")
        _want(m.get("type"), str, f"{f}.type")
        _want(m.get("source"), str, f"{f}.source")
        _strings(m.get("options"), f"{f}.options")
    _validate_hooks(spec.get("hooks"))
    _validate_linux(spec)


def _validate_process(proc: Any, f: str) -> None:
    if proc is None:
        return
    _want(proc, dict, f)
    args = _want(proc.get("args"), list, f"{f}.args", required=True)
    if not args:
        raise InvalidSpec(f"{f}.args", "must not be empty")
    _strings(args, f"{f}.args")
    cwd = proc.get("cwd", "/")
    _abs(cwd, f"{f}.cwd")
    for i, e in enumerate(_want(proc.get("env"), list, f"{f}.env") or []):
        _want(e, str, f"{f}.env[{i}]")
    user = _want(proc.get("user"), dict, f"{f}.user") or {}
    _want(user.get("uid"), int, f"{f}.user.uid")
    _want(user.get("gid"), int, f"{f}.user.gid")
    _want(user.get("umask"), int, f"{f}.user.umask")
    gids = _want(user.get("additionalGids"), list, f"{f}.user.additionalGids") or []
    for i, g in enumerate(gids):
        _want(g, int, f"{f}.user.additionalGids[{i}]")
    _want(proc.get("terminal"), bool, f"{f}.terminal")
    _want(proc.get("noNewPrivileges"), bool, f"{f}.noNewPrivileges")
    _want(proc.get("oomScoreAdj"), int, f"{f}.oomScoreAdj")
    caps = _want(proc.get("capabilities"), dict, f"{f}.capabilities") or {}
    for kind, names in caps.items():
        _strings(names, f"{f}.capabilities.{kind}")
    seen = set()
    for i, rl in enumerate(_want(proc.get("rlimits"), list, f"{f}.rlimits") or []):
        rf = f"{f}.rlimits[{i}]"
        _want(rl, dict, rf)
        typ = _want(rl.get("type"), str, f"{rf}.type", required=True)
        if typ not in RLIMITS:
            raise InvalidSpec(f"{rf}.type", f"unknown rlimit `{typ}`")
        if typ in seen:
            raise InvalidSpec(f"{rf}.type", f"duplicate rlimit `{typ}`")
        seen.add(typ)
        _want(rl.get("hard"), int, f"{rf}.hard", required=True)
        _want(rl.get("soft"), int, f"{rf}.soft", required=True)
    io = _want(proc.get("ioPriority"), dict, f"{f}.ioPriority")
    if io is not None:
        cls = io.get("class")
        if cls not in ("IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"):
            raise InvalidSpec(f"{f}.ioPriority.class", f"unknown class `{cls}`")
        _want(io.get("priority"), int, f"{f}.ioPriority.priority")
    sched = _want(proc.get("scheduler"), dict, f"{f}.scheduler")
    if sched is not None:
        _want(sched.get("policy"), str, f"{f}.scheduler.policy", required=True)


def _validate_hooks(hooks: Any) -> None:
    for kind, items in (_want(hooks, dict, "hooks") or {}).items():
        if kind not in HOOK_KINDS:
            raise InvalidSpec(f"hooks.{kind}", "unknown hook kind")
        for i, h in enumerate(_want(items, list, f"hooks.{kind}") or []):
            hf = f"hooks.{kind}[{i}]"
            _want(h, dict, hf)
            _abs(h.get("path"), f"{hf}.path")
            _strings(h.get("args"), f"{hf}.args")
            _strings(h.get("env"), f"{hf}.env")
            t = _want(h.get("timeout"), int, f"{hf}.timeout")
            if t is not None and t <= 0:
                raise InvalidSpec(f"{hf}.timeout", "must be positive")


def _validate_linux(spec: Spec) -> None:
    linux = _want(spec.get("linux"), dict, "linux") or {}
    kinds = set()
    for i, ns in enumerate(_want(linux.get("namespaces"), list, "linux.namespaces") or []):
        nf = f"linux.namespaces[{i}]"
        _want(ns, dict, nf)
        typ = _want(ns.get("type"), str, f"{nf}.type", required=True)
        if typ not in NAMESPACE_TYPES:
            raise InvalidSpec(f"{nf}.type", f"unknown namespace `{typ}`")
        if typ in kinds:
            raise InvalidSpec(f"{nf}.type", f"duplicate namespace `{typ}`")
        kinds.add(typ)
        if ns.get("path") is not None:
            _abs(ns.get("path"), f"{nf}.path")
    if spec.get("hostname") and "uts" not in kinds:
        raise InvalidSpec("hostname", "setting the hostname needs a private uts namespace")
    if spec.get("domainname") and "uts" not in kinds:
        raise InvalidSpec("domainname", "setting the domainname needs a private uts namespace")
    for key in ("uidMappings", "gidMappings"):
        maps = _want(linux.get(key), list, f"linux.{key}") or []
        if maps and "user" not in kinds:
            raise InvalidSpec(f"linux.{key}", "mappings need a user namespace")
        for i, m in enumerate(maps):
            for k in ("containerID", "hostID", "size"):
                _want(m.get(k), int, f"linux.{key}[{i}].{k}", required=True)
    for i, d in enumerate(_want(linux.get("devices"), list, "linux.devices") or []):
        df = f"linux.devices[{i}]"
        _abs(d.get("path"), f"{df}.path")
        typ = d.get("type")
        if typ not in ("c", "b", "u", "p"):
            raise InvalidSpec(f"{df}.type", f"unknown device type `{typ}`")
        if typ != "p":
            _want(d.get("major"), int, f"{df}.major", required=True)
            _want(d.get("minor"), int, f"{df}.minor", required=True)
        _want(d.get("fileMode"), int, f"{df}.fileMode")
    for k, v in (_want(linux.get("sysctl"), dict, "linux.sysctl") or {}).items():
        _want(v, str, f"linux.sysctl.{k}")
    _strings(linux.get("maskedPaths"), "linux.maskedPaths")
    _strings(linux.get("readonlyPaths"), "linux.readonlyPaths")
    _want(linux.get("cgroupsPath"), str, "linux.cgroupsPath")
    _want(linux.get("resources"), dict, "linux.resources")
    prop = linux.get("rootfsPropagation")
    if prop not in (None, "", "private", "rprivate", "slave", "rslave", "shared", "rshared",
                    "unbindable", "runbindable"):
        raise InvalidSpec("linux.rootfsPropagation", f"unknown propagation `{prop}`")
