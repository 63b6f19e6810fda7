"""Loggers that import `logging` only when a record is actually emitted.

`import logging` costs the pyrunc command line ~9 ms per call (traceback, threading,
string, re), more than its whole `start`. Until some code imports and configures
`logging`, DEBUG/INFO records would be dropped by the default WARNING level anyway, so
they are dropped here without the import; WARNING and above import it and go through.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable
    from typing import Any

# Called once, before the first record is emitted through a lazy logger: the CLI puts
# its --log handler setup here so that it too is paid for only when needed.
before_first_use: list[Callable[[], None]] = []

_DEBUG, _INFO = 10, 20


class LazyLogger:
    __slots__ = ("_log", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._log: logging.Logger | None = None

    def _get(self) -> logging.Logger:
        if self._log is None:
            while before_first_use:
                hook = before_first_use.pop(0)
                hook()
            import logging

            self._log = logging.getLogger(self.name)
        return self._log

    def isEnabledFor(self, level: int) -> bool:
        if level < 30 and "logging" not in sys.modules:
            return False
        return bool(self._get().isEnabledFor(level))

    def debug(self, msg: str, *args: object, **kw: Any) -> None:
        if self.isEnabledFor(_DEBUG):
            self._get().debug(msg, *args, **kw)

    def info(self, msg: str, *args: object, **kw: Any) -> None:
        if self.isEnabledFor(_INFO):
            self._get().info(msg, *args, **kw)

    def warning(self, msg: str, *args: object, **kw: Any) -> None:
        self._get().warning(msg, *args, **kw)

    def error(self, msg: str, *args: object, **kw: Any) -> None:
        self._get().error(msg, *args, **kw)

    def exception(self, msg: str, *args: object, **kw: Any) -> None:
        self._get().exception(msg, *args, **kw)


def get_logger(name: str) -> LazyLogger:
    return LazyLogger(name)
