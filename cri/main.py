"""`pycri`: the daemon's command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import Any

# Set before grpc loads: the daemon's forks (CNI plugins, the shim factory) always exec,
# and gRPC's fork handlers can abort such a child when a poller thread is busy.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

from pycri.cri import config as configmod

log = logging.getLogger("pycri")

# flag → dotted config key; each flag overrides the file.
FLAGS: dict[str, tuple[str, type, str]] = {
    "--listen": ("listen", str, "CRI unix socket path"),
    "--root": ("root", str, "persistent state root"),
    "--state": ("state", str, "runtime state root"),
    "--log-level": ("log_level", str, "debug, info, warning or error"),
    "--log-format": ("log_format", str, "text or json"),
    "--cgroup-driver": ("cgroup_driver", str, "cgroupfs"),
    "--cni-conf-dir": ("cni.conf_dir", str, "CNI configuration directory"),
    "--cni-bin-dir": ("cni.bin_dirs", str, "CNI plugin directory (repeatable)"),
    "--streaming-address": ("streaming.address", str, "streaming server address"),
    "--streaming-port": ("streaming.port", int, "streaming server port"),
    "--metrics-address": ("metrics.address", str, "Prometheus endpoint host:port"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pycri",
        description="pycri: a Kubernetes container runtime serving CRI v1 on a unix socket.",
    )
    parser.add_argument("--config", default=configmod.DEFAULT_CONFIG_PATH,
                        help="configuration file (missing or empty means all defaults)")
    for flag, (key, kind, text) in FLAGS.items():
        action = "append" if key == "cni.bin_dirs" else "store"
        parser.add_argument(flag, dest=key, type=kind, action=action, help=text, default=None)
    commands = parser.add_subparsers(dest="command")
    cfg = commands.add_parser("config", help="configuration helpers")
    cfg_commands = cfg.add_subparsers(dest="config_command", required=True)
    cfg_commands.add_parser("default", help="print the complete default configuration")
    cfg_commands.add_parser("show", help="print the effective configuration as TOML-ish JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "config" and args.config_command == "default":
        sys.stdout.write(configmod.render_default())
        return 0
    overrides: dict[str, Any] = {
        key: getattr(args, key) for key, _, _ in FLAGS.values() if getattr(args, key) is not None
    }
    try:
        config = configmod.load(args.config, overrides)
    except configmod.ConfigError as exc:
        sys.stderr.write(f"pycri: invalid configuration: {exc}\n")
        return 2
    if args.command == "config":
        import json

        sys.stdout.write(json.dumps(config.to_dict(), indent=2) + "\n")
        return 0

    from pycri.cri import logsetup
    from pycri.cri.server import Daemon
    from pycri.cri.socket import SocketInUse

    logsetup.configure(config.log_level, config.log_format)
    try:
        asyncio.run(Daemon(config).serve_forever())
    except SocketInUse as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
