"""`pycri-shim`: the per-pod shim process.

Started by the task manager; detaches (fork, setsid, fork) so init adopts it, becomes a
child subreaper, and prints one JSON line on stdout once it serves (or why it could not),
then the launching process exits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys

from pycri.runtime.shim.server import Shim, ShimOptions

log = logging.getLogger("pycri.runtime.shim")


USAGE = """usage: pycri-shim --id SANDBOX [--run-root DIR] [--runtime-root DIR]
                  [--runtime oci|fake] [--namespaces net,ipc,uts] [--hostname NAME]
                  [--pid-ns] [--log-level LEVEL] [--foreground]"""

_VALUED = {"--id", "--run-root", "--runtime-root", "--runtime", "--namespaces", "--hostname",
           "--log-level"}
_FLAGS = {"--pid-ns", "--foreground"}


def parse(argv: list[str]) -> tuple[ShimOptions, dict[str, str]]:
    """A tiny parser: argparse alone would cost the shim 0.4 MB for its whole life."""
    a: dict[str, str] = {"--run-root": "/run/pycri", "--runtime": "oci", "--log-level": "INFO"}
    it = iter(argv)
    for arg in it:
        key, eq, val = arg.partition("=")
        if key in _VALUED:
            a[key] = val if eq else next(it, "")
        elif key in _FLAGS and not eq:
            a[key] = "1"
        else:
            raise SystemExit(f"{USAGE}\npycri-shim: unknown argument `{arg}`")
    if not a.get("--id") or a["--runtime"] not in ("oci", "fake"):
        raise SystemExit(USAGE)
    opts = ShimOptions(sandbox_id=a["--id"], run_root=a["--run-root"],
                       runtime_root=a.get("--runtime-root", ""), runtime=a["--runtime"],
                       namespaces=[n for n in a.get("--namespaces", "").split(",") if n],
                       hostname=a.get("--hostname", ""), pid_ns="--pid-ns" in a)
    return opts, a


def _setup_logging(opts: ShimOptions, level: str) -> None:
    d = os.path.join(opts.run_root, "shims")
    os.makedirs(d, mode=0o711, exist_ok=True)
    logging.basicConfig(
        filename=os.path.join(d, f"{opts.sandbox_id}.log"), level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def _become_shim() -> None:
    from pycri.runtime import sys as ksys
    from pycri.runtime.sys import constants as c

    os.chdir("/")
    os.umask(0o022)
    # Shims forked from the factory keep its command line: name them for ps and top.
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
        comm.write("pycri-shim")
    # Orphans of exec sessions and of container inits come to us: we reap them.
    ksys.prctl(c.PR_SET_CHILD_SUBREAPER, 1)
    null = os.open(os.devnull, os.O_RDWR)
    for t in (0, 1, 2):
        os.dup2(null, t)
    os.close(null)


def run(opts: ShimOptions, ready_fd: int) -> int:
    shim = Shim(opts)
    try:
        shim.setup()
    except Exception as exc:
        log.exception("shim setup failed sandbox_id=%s", opts.sandbox_id)
        os.write(ready_fd, json.dumps({"ok": False, "error": str(exc)}).encode())
        os.close(ready_fd)
        return 1
    os.write(ready_fd, json.dumps({"ok": True, **shim.info()}).encode())
    os.close(ready_fd)
    log.info("shim serving sandbox_id=%s pid=%d socket=%s", opts.sandbox_id, os.getpid(),
             shim.path)
    shim.serve()
    # The pod is gone (only shutdown ends serve): its shim log goes with it.
    logging.shutdown()
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(opts.run_root, "shims", f"{opts.sandbox_id}.log"))
    return 0


def detach(opts: ShimOptions, a: dict[str, str], close_in_shim: tuple[int, ...] = ()) -> bytes:
    """Fork the shim away (fork, setsid, fork: init adopts it); returns its ready report."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        for fd in close_in_shim:
            os.close(fd)
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            _setup_logging(opts, a["--log-level"])
            _become_shim()
            os._exit(run(opts, w))
        except BaseException:
            log.exception("shim failed")
            os._exit(1)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    return data or json.dumps({"ok": False, "error": "shim exited before it was ready"}).encode()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--factory"]:
        from pycri.runtime.shim import factory

        return factory.serve(args[1])
    opts, a = parse(args)
    if "--foreground" in a:
        _, w = os.pipe()
        _setup_logging(opts, a["--log-level"])
        return run(opts, w)
    data = detach(opts, a)
    sys.stdout.write(data.decode() + "\n")
    sys.stdout.flush()
    return 0 if json.loads(data).get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
