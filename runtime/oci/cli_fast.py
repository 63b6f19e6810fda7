"""Hand parsing for the calls containerd's shim makes on every container: create, start,
state, kill and delete with the flags it passes.

argparse (with re and gettext) costs ~4 ms per call, a tenth of runc's whole start; any
argument this parser does not know (help, --debug, other commands or flags) returns
None and the full argparse parser takes the call, so behaviour stays the same.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

_GLOBAL_VALUES = {"--root": "root", "--log": "log", "--log-format": "log_format"}
# command → (flags taking a value, boolean flags, positional names); `-x` short forms map
# to the long name.
_COMMANDS: dict[str, tuple[dict[str, str], dict[str, str], tuple[str, ...]]] = {
    "create": ({"--bundle": "bundle", "-b": "bundle", "--pid-file": "pid_file",
                "--console-socket": "console_socket", "--preserve-fds": "preserve_fds",
                "--notify-socket": "notify_socket"},
               {"--no-pivot": "no_pivot", "--no-new-keyring": "no_new_keyring"}, ("id",)),
    "start": ({}, {}, ("id",)),
    "state": ({}, {}, ("id",)),
    "kill": ({}, {"--all": "all", "-a": "all"}, ("id", "signal")),
    "delete": ({}, {"--force": "force", "-f": "force"}, ("id",)),
}
_DEFAULTS = {"log": None, "log_format": "text", "debug": False, "systemd_cgroup": False,
             "bundle": "", "pid_file": None, "console_socket": None, "preserve_fds": 0,
             "notify_socket": None, "no_pivot": False, "no_new_keyring": False,
             "all": False, "force": False, "signal": "SIGTERM"}


class Args:
    """The attributes argparse would have set for the same command line."""

    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)


def parse(argv: Sequence[str], default_root: str) -> Args | None:
    values: dict[str, object] = {**_DEFAULTS, "root": default_root}
    i, n = 0, len(argv)
    command = None
    positional: list[str] = []
    while i < n:
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        if arg.startswith("-") and len(arg) > 1 and not arg.startswith("--") \
                and len(name) > 2:
            name = "-" + name  # runc also takes long flags with one dash
        spec = _COMMANDS.get(command or "")
        takes = _GLOBAL_VALUES if command is None else spec[0] if spec else {}
        flags = {} if spec is None else spec[1]
        if name in takes:
            if eq:
                value = inline
            else:
                i += 1
                if i >= n:
                    return None
                value = argv[i]
            values[takes[name]] = value
        elif name in flags and not eq:
            values[flags[name]] = True
        elif arg.startswith("-") and arg != "-":
            return None
        elif command is None:
            if arg not in _COMMANDS:
                return None
            command = arg
        else:
            positional.append(arg)
        i += 1
    if command is None or values["log_format"] not in ("text", "json"):
        return None
    names = _COMMANDS[command][2]
    if not 1 <= len(positional) <= len(names):
        return None
    values.update(zip(names, positional, strict=False))
    try:
        values["preserve_fds"] = int(values["preserve_fds"])  # type: ignore[call-overload]
    except ValueError:
        return None
    values["command"] = command
    return Args(**values)
