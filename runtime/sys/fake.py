"""A recording fake of the syscall layer, with error injection, for unit tests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pycri.runtime.sys.linux import Syscalls


@dataclass
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass
class _Fault:
    name: str
    errno: int
    match: str | None
    times: int


@dataclass
class FakeSyscalls(Syscalls):
    """Records every call; `fail()` makes matching calls raise like the kernel would.

    `mknod` really creates a plain file so later path checks see it exist.
    """

    calls: list[Call] = field(default_factory=list)
    _faults: list[_Fault] = field(default_factory=list)

    def fail(self, name: str, errno: int, match: str | None = None, times: int = 1) -> None:
        """Make the next `times` calls of `name` (with `match` in an argument) fail."""
        self._faults.append(_Fault(name, errno, match, times))

    def names(self) -> list[str]:
        return [c.name for c in self.calls]

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [c.args for c in self.calls if c.name == name]

    def _record(self, name: str, *args: Any) -> None:
        for fault in self._faults:
            if fault.name != name or fault.times == 0:
                continue
            if fault.match is not None and not any(fault.match in str(a) for a in args):
                continue
            fault.times -= 1
            path = next((a for a in args if isinstance(a, str)), None)
            what = f"{name} `{path}`" if path else name
            raise OSError(fault.errno, f"{what}: {os.strerror(fault.errno)}", path)
        self.calls.append(Call(name, args))

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        self._record("mount", source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int = 0) -> None:
        self._record("umount2", target, flags)

    def unshare(self, flags: int) -> None:
        self._record("unshare", flags)

    def setns(self, fd: int, nstype: int = 0, path: str | None = None) -> None:
        self._record("setns", path, nstype)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", new_root, put_old)

    def mknod(self, path: str, mode: int, device: int) -> None:
        self._record("mknod", path, mode, device)
        with open(path, "a"):
            pass

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0,
              arg5: int = 0) -> int:
        self._record("prctl", option, arg2, arg3, arg4, arg5)
        return 0

    def sethostname(self, name: str) -> None:
        self._record("sethostname", name)

    def setdomainname(self, name: str) -> None:
        self._record("setdomainname", name)
