"""pyrunc's log output: text or the JSON lines containerd-shim-runc-v2 reads from --log."""

from __future__ import annotations

import logging
import sys


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        import json

        from pycri.runtime.oci.state import rfc3339_now

        msg = record.getMessage()
        if record.exc_info and record.levelno >= logging.ERROR and logging.root.level <= 10:
            msg += "\n" + self.formatException(record.exc_info)
        level = {"WARNING": "warning", "CRITICAL": "fatal"}.get(
            record.levelname, record.levelname.lower())
        return json.dumps({"level": level, "msg": msg, "time": rfc3339_now()})


def setup(log_path: str | None, fmt: str, debug: bool) -> None:
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    for h in list(root.handlers):
        root.removeHandler(h)
    handler: logging.Handler
    if log_path:
        handler = logging.FileHandler(log_path, mode="a", encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s[%(asctime)s] %(message)s"))
    root.addHandler(handler)
