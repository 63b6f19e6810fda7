"""pyrunc: the runc-compatible command line over the runtime library.

Exit status 0 on success, 1 on error; the error goes to stderr and, as a JSON line
{"level":"error","msg":...,"time":...}, to --log, where containerd's shim reads it.
"""

from __future__ import annotations

import sys

from pycri.runtime.oci.lazylog import get_logger

# argparse is imported only for calls the hand parser (cli_fast) does not take.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any, NoReturn

log = get_logger("pyrunc")

DEFAULT_ROOT = "/run/pyrunc"


def _parser() -> argparse.ArgumentParser:
    import argparse

    from pycri.runtime.oci import cli_commands as cmd

    p = argparse.ArgumentParser(prog="pyrunc", description="pycri's OCI runtime")
    p.add_argument("--root", default=DEFAULT_ROOT)
    p.add_argument("--log", default=None)
    p.add_argument("--log-format", default="text", choices=("text", "json"))
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true")
    p.add_argument("--rootless", default="auto")
    p.add_argument("--criu", default=None)
    p.add_argument("-v", "--version", action="store_true")
    sub = p.add_subparsers(dest="command")

    s = sub.add_parser("create")
    _create_flags(s)
    s.set_defaults(fn=cmd.create)
    s = sub.add_parser("run")
    _create_flags(s)
    s.add_argument("-d", "--detach", action="store_true")
    s.add_argument("--keep", action="store_true")
    s.set_defaults(fn=cmd.run)
    for name, fn in (("start", cmd.start), ("pause", cmd.pause), ("resume", cmd.resume)):
        s = sub.add_parser(name)
        s.add_argument("id")
        s.set_defaults(fn=fn)
    s = sub.add_parser("state")
    s.add_argument("id")
    s.set_defaults(fn=cmd.state)
    s = sub.add_parser("kill")
    s.add_argument("-a", "--all", action="store_true")
    s.add_argument("id")
    s.add_argument("signal", nargs="?", default="SIGTERM")
    s.set_defaults(fn=cmd.kill)
    s = sub.add_parser("delete")
    s.add_argument("-f", "--force", action="store_true")
    s.add_argument("id")
    s.set_defaults(fn=cmd.delete)
    s = sub.add_parser("exec")
    s.add_argument("-p", "--process", default=None)
    s.add_argument("-d", "--detach", action="store_true")
    s.add_argument("--pid-file", default=None)
    s.add_argument("--console-socket", default=None)
    s.add_argument("-t", "--tty", action="store_true")
    s.add_argument("-e", "--env", action="append", default=[])
    s.add_argument("--cwd", default=None)
    s.add_argument("-u", "--user", default=None)
    s.add_argument("-g", "--additional-gids", action="append", default=[])
    s.add_argument("-c", "--cap", action="append", default=[])
    s.add_argument("--no-new-privs", action="store_true")
    s.add_argument("--preserve-fds", type=int, default=0)
    s.add_argument("--process-label", default=None)
    s.add_argument("--apparmor", default=None)
    s.add_argument("--cgroup", default=None)
    s.add_argument("id")
    s.add_argument("args", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd.exec_)
    s = sub.add_parser("list")
    s.add_argument("-f", "--format", default="table", choices=("table", "json"))
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(fn=cmd.list_)
    s = sub.add_parser("ps")
    s.add_argument("-f", "--format", default="table", choices=("table", "json"))
    s.add_argument("id")
    s.add_argument("ps_args", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd.ps)
    s = sub.add_parser("update")
    s.add_argument("-r", "--resources", default=None)
    for flag in ("--memory", "--memory-reservation", "--memory-swap", "--kernel-memory",
                 "--kernel-memory-tcp", "--cpu-shares", "--cpu-quota", "--cpu-period",
                 "--cpu-rt-runtime", "--cpu-rt-period", "--cpuset-cpus", "--cpuset-mems",
                 "--pids-limit", "--blkio-weight", "--l3-cache-schema", "--mem-bw-schema"):
        s.add_argument(flag, default=None)
    s.add_argument("id")
    s.set_defaults(fn=cmd.update)
    s = sub.add_parser("events")
    s.add_argument("--stats", action="store_true")
    s.add_argument("--interval", default="5s")
    s.add_argument("id")
    s.set_defaults(fn=cmd.events)
    s = sub.add_parser("features")
    s.set_defaults(fn=cmd.features)
    s = sub.add_parser("spec")
    s.add_argument("-b", "--bundle", default="")
    s.add_argument("--rootless", action="store_true")
    s.set_defaults(fn=cmd.spec)
    return p


def _create_flags(s: argparse.ArgumentParser) -> None:
    s.add_argument("-b", "--bundle", default="")
    s.add_argument("--pid-file", default=None)
    s.add_argument("--console-socket", default=None)
    s.add_argument("--no-pivot", action="store_true")
    s.add_argument("--no-new-keyring", action="store_true")
    s.add_argument("--preserve-fds", type=int, default=0)
    s.add_argument("--notify-socket", default=None)
    s.add_argument("id")


def _normalise(argv: list[str]) -> list[str]:
    """runc (urfave/cli) also takes long flags with one dash: `-bundle x`."""
    out = []
    for a in argv:
        if a.startswith("-") and not a.startswith("--") and len(a) > 2 and a[1:2].isalpha() \
                and a[1:].split("=")[0] in _LONG_ONE_DASH:
            a = "-" + a
        out.append(a)
    return out


_LONG_ONE_DASH = {"root", "log", "log-format", "debug", "bundle", "pid-file", "console-socket",
                  "no-pivot", "no-new-keyring", "preserve-fds", "detach", "force", "all",
                  "process", "format", "resources", "systemd-cgroup"}


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    from pycri.runtime.oci import cli_fast

    fast = cli_fast.parse(args_in, DEFAULT_ROOT)
    if fast is not None:
        return _run_fast(fast)
    args_in = _normalise(args_in)
    parser = _parser()
    args = parser.parse_args(args_in)
    from pycri.runtime.oci import clilog

    clilog.setup(args.log, args.log_format, args.debug)
    if args.version:
        print("pyrunc version 0.1.0\nspec: 1.2.0")
        return 0
    if not getattr(args, "fn", None):
        parser.print_help()
        return 1
    try:
        if args.systemd_cgroup:
            from pycri.runtime.oci.errors import Unsupported

            raise Unsupported("--systemd-cgroup: the systemd cgroup driver is not supported")
        rc: int = args.fn(args)
        return rc
    except Exception as exc:  # every failure must end as one error line for the shim
        return _report(args, exc)
    except KeyboardInterrupt:
        return 130


def _run_fast(args: Any) -> int:
    """A hot call parsed by cli_fast: logging is set up only if something is logged."""
    from pycri.runtime.oci import cli_commands as cmd
    from pycri.runtime.oci import lazylog

    def setup_logging() -> None:
        from pycri.runtime.oci import clilog

        clilog.setup(args.log, args.log_format, args.debug)

    lazylog.before_first_use.append(setup_logging)
    fn = {"create": cmd.create, "start": cmd.start, "state": cmd.state, "kill": cmd.kill,
          "delete": cmd.delete}[args.command]
    try:
        rc: int = fn(args)
        return rc
    except Exception as exc:  # every failure must end as one error line for the shim
        return _report(args, exc)
    except KeyboardInterrupt:
        return 130


def exit_fast(rc: int) -> NoReturn:
    """Exit without the interpreter's teardown (freeing every module and object: ~1 ms
    of each pyrunc call); what a reader waits for is flushed first."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            rc = rc or 1
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()  # --log: the error line containerd's shim reads
    os._exit(rc)


def _report(args: Any, exc: Exception) -> int:
    msg = str(exc) if not isinstance(exc, OSError) or not exc.strerror else exc.strerror
    log.error("%s", msg, exc_info=args.debug)
    if args.log or args.log_format == "json":
        print(f"pyrunc: {msg}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    exit_fast(main())
