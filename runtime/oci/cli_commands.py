"""The pyrunc subcommands: argument handling around pycri.runtime.oci.container."""

from __future__ import annotations

import os
import sys

from pycri.runtime.oci.container import Container
from pycri.runtime.oci.errors import ContainerNotFound, InvalidArgument

# json, signal, argparse and typing are imported where used (or only for mypy): each
# costs the CLI's hot calls (create, start, kill, delete) milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any


def create(args: argparse.Namespace) -> int:
    Container.create(args.root, args.id, args.bundle or os.getcwd(), pid_file=args.pid_file,
                     console_socket=args.console_socket, no_pivot=args.no_pivot,
                     preserve_fds=args.preserve_fds, no_new_keyring=args.no_new_keyring)
    return 0


def run(args: argparse.Namespace) -> int:
    c = Container.create(args.root, args.id, args.bundle or os.getcwd(),
                         pid_file=args.pid_file, console_socket=args.console_socket,
                         no_pivot=args.no_pivot, preserve_fds=args.preserve_fds,
                         no_new_keyring=args.no_new_keyring)
    try:
        c.start()
    except BaseException:
        c.delete(force=True)
        raise
    if args.detach:
        return 0
    status = _wait_forwarding(c.pid)
    if not args.keep:
        c.delete(force=True)
    return status


def _wait_forwarding(pid: int) -> int:
    """Wait for our child, passing on the signals a terminal or supervisor sends us."""
    import contextlib
    import signal

    def forward(signum: int, _frame: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
              signal.SIGUSR2, signal.SIGWINCH):
        signal.signal(s, forward)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:
            continue
        return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else \
            128 + os.WTERMSIG(status)


def start(args: argparse.Namespace) -> int:
    Container.load(args.root, args.id).start()
    return 0


def state(args: argparse.Namespace) -> int:
    import json

    print(json.dumps(Container.load(args.root, args.id).state(), indent=2))
    return 0


def parse_signal(text: str) -> int:
    import signal

    if text.isdigit():
        return int(text)
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidArgument(f"unknown signal `{text}`") from None


def kill(args: argparse.Namespace) -> int:
    Container.load(args.root, args.id).kill(parse_signal(args.signal), all=args.all)
    return 0


def delete(args: argparse.Namespace) -> int:
    try:
        c = Container.load(args.root, args.id)
    except ContainerNotFound:
        if args.force:
            return 0
        raise
    c.delete(force=args.force)
    return 0


def pause(args: argparse.Namespace) -> int:
    Container.load(args.root, args.id).pause()
    return 0


def resume(args: argparse.Namespace) -> int:
    Container.load(args.root, args.id).resume()
    return 0


def exec_(args: argparse.Namespace) -> int:
    import json

    c = Container.load(args.root, args.id)
    if args.process:
        with open(args.process, "rb") as f:
            proc: dict[str, Any] = json.loads(f.read())
    else:
        proc = _process_from_flags(c.record["config"].get("process") or {}, args)
    pid = c.exec(proc, console_socket=args.console_socket, pid_file=args.pid_file,
                 preserve_fds=args.preserve_fds)
    if args.detach:
        return 0
    return _wait_forwarding(pid)


def _process_from_flags(base: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    import json

    cmd = [a for a in args.args if a != "--"] if args.args else []
    if not cmd:
        raise InvalidArgument("exec: no command given (args or --process)")
    proc: dict[str, Any] = json.loads(json.dumps(base))
    proc["args"] = cmd
    proc["terminal"] = bool(args.tty)
    proc["env"] = list(proc.get("env") or []) + list(args.env)
    if args.cwd:
        proc["cwd"] = args.cwd
    if args.user:
        uid, _, gid = args.user.partition(":")
        proc["user"] = {"uid": int(uid), "gid": int(gid or 0)}
    if args.additional_gids:
        proc.setdefault("user", {})["additionalGids"] = [int(g) for g in args.additional_gids]
    if args.cap:
        caps = proc.setdefault("capabilities", {})
        for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            caps[kind] = sorted(set(caps.get(kind) or []) | set(args.cap)) if kind != \
                "ambient" else caps.get(kind) or []
    if args.no_new_privs:
        proc["noNewPrivileges"] = True
    return proc


def list_(args: argparse.Namespace) -> int:
    import json

    from pycri.runtime.oci.state import list_ids

    states = []
    for cid in list_ids(args.root):
        try:
            states.append(Container.load(args.root, cid).state())
        except ContainerNotFound:
            continue
    if args.quiet:
        print("\n".join(s["id"] for s in states))
    elif args.format == "json":
        print(json.dumps(states))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"],
                  s.get("owner") or "root") for s in states]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            print("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0


def ps(args: argparse.Namespace) -> int:
    import json

    pids = Container.load(args.root, args.id).pids()
    if args.format == "json":
        print(json.dumps(pids))
        return 0
    print("PID    CMD")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        print(f"{pid:<6} {cmd}")
    return 0


_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def _bytes(text: str) -> int:
    t = text.strip().lower().rstrip("b")
    if t and t[-1] in _UNITS:
        return int(float(t[:-1]) * _UNITS[t[-1]])
    return int(t)


def update(args: argparse.Namespace) -> int:
    import json

    c = Container.load(args.root, args.id)
    res: dict[str, Any] = {}
    if args.resources:
        if args.resources == "-":
            src = sys.stdin.buffer.read()
        else:
            with open(args.resources, "rb") as f:
                src = f.read()
        res = json.loads(src or b"{}")
    mem = res.setdefault("memory", {})
    for flag, key in (("memory", "limit"), ("memory_reservation", "reservation"),
                      ("memory_swap", "swap"), ("kernel_memory", "kernel")):
        if getattr(args, flag) is not None:
            mem[key] = _bytes(getattr(args, flag))
    cpu = res.setdefault("cpu", {})
    for flag, key in (("cpu_shares", "shares"), ("cpu_quota", "quota"),
                      ("cpu_period", "period"), ("cpu_rt_runtime", "realtimeRuntime"),
                      ("cpu_rt_period", "realtimePeriod")):
        if getattr(args, flag) is not None:
            cpu[key] = int(getattr(args, flag))
    for flag, key in (("cpuset_cpus", "cpus"), ("cpuset_mems", "mems")):
        if getattr(args, flag) is not None:
            cpu[key] = getattr(args, flag)
    if args.pids_limit is not None:
        res["pids"] = {"limit": int(args.pids_limit)}
    if args.blkio_weight is not None:
        res["blockIO"] = {"weight": int(args.blkio_weight)}
    c.update({k: v for k, v in res.items() if v or k not in ("memory", "cpu")})
    return 0


def events(args: argparse.Namespace) -> int:
    import json
    import time

    c = Container.load(args.root, args.id)
    interval = float(args.interval.rstrip("s")) if args.interval.endswith("s") and \
        not args.interval.endswith("ms") else float(args.interval.rstrip("ms")) / 1000
    while True:
        if c.status().value == "stopped":
            raise ContainerNotFound(args.id) if not args.stats else InvalidArgument(
                "container not running")
        print(json.dumps({"type": "stats", "id": c.id, "data": c.stats()}), flush=True)
        if args.stats:
            return 0
        time.sleep(interval)


def features(args: argparse.Namespace) -> int:
    import json

    from pycri.runtime.oci.features import features as feats

    print(json.dumps(feats(), indent=2))
    return 0


def spec(args: argparse.Namespace) -> int:
    import json

    from pycri.runtime.oci.defaultspec import default_spec

    path = os.path.join(args.bundle or ".", "config.json")
    if os.path.exists(path):
        raise InvalidArgument(f"File {path} exists. Remove it first")
    with open(path, "w") as f:
        json.dump(default_spec(rootless=args.rootless), f, indent=2)
    return 0
