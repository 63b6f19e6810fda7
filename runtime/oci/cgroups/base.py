"""The manager interface and the pieces v1 and v2 share."""

from __future__ import annotations

import abc
import errno
import os
import time

from pycri.runtime.oci.cgroups.errors import CgroupError, describe_errno
from pycri.runtime.oci.lazylog import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

log = get_logger(__name__)

# rmdir of a cgroup whose last task just exited can race the kernel's bookkeeping.
RMDIR_RETRIES = 7
RMDIR_FIRST_DELAY = 0.01


class CgroupManager(abc.ABC):
    """One container's cgroup(s), created under a cgroupfs root given at construction."""

    version: int
    root: str
    container_id: str

    @abc.abstractmethod
    def create(self) -> None:
        """Make the cgroup directories (idempotent)."""

    @abc.abstractmethod
    def apply(self, pid: int) -> None:
        """Move `pid` into the cgroup(s), creating them if needed."""

    @abc.abstractmethod
    def set_resources(self, linux_resources: dict[str, Any]) -> None:
        """Write the OCI `linux.resources` section; absent keys are left alone."""

    @abc.abstractmethod
    def freeze(self, timeout: float = 10.0) -> None: ...

    @abc.abstractmethod
    def thaw(self, timeout: float = 10.0) -> None: ...

    @abc.abstractmethod
    def is_frozen(self) -> bool: ...

    @abc.abstractmethod
    def pids(self) -> list[int]: ...

    @abc.abstractmethod
    def kill_all(self, sig: int) -> None: ...

    @abc.abstractmethod
    def destroy(self) -> None: ...

    @abc.abstractmethod
    def stats(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def oom_kill_count(self) -> int: ...

    @abc.abstractmethod
    def path_for(self, controller: str) -> str: ...

    @abc.abstractmethod
    def paths(self) -> dict[str, str]:
        """Every directory this manager uses, by controller (for state files)."""

    @abc.abstractmethod
    def exists(self) -> bool: ...

    def join_plan(self) -> tuple[str | None, list[str]]:
        """How a new process joins without `apply`: (the cgroup2 dir to be born in with
        clone3 CLONE_INTO_CGROUP, the v1 dirs it moves itself into by writing 0 to
        `tasks`). Both avoid the kernel's global threadgroup lock that a cgroup.procs
        write takes (an RCU grace period per create on a quiet host)."""
        return None, []


def wait_until(
    check: Callable[[], bool], timeout: float, on_tick: Callable[[int], None] | None = None
) -> bool:
    """Poll `check` with a growing sleep (1 ms .. 20 ms) until true or out of time."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    tick = 0
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
        tick += 1
        if on_tick is not None:
            on_tick(tick)


def signal_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue


def remove_tree(path: str, rmdir: Callable[[str], None] = os.rmdir) -> None:
    """Remove a cgroup directory and any cgroups a container made below it.

    cgroupfs directories hold only virtual files, so rmdir removes each one; children go
    first. EBUSY (tasks still exiting) is retried with backoff before giving up.
    """
    if not os.path.isdir(path):
        return
    for dirpath, _dirs, _files in os.walk(path, topdown=False):
        _rmdir_retry(dirpath, rmdir)


def _rmdir_retry(path: str, rmdir: Callable[[str], None]) -> None:
    delay = RMDIR_FIRST_DELAY
    for attempt in range(RMDIR_RETRIES + 1):
        try:
            rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or attempt == RMDIR_RETRIES:
                raise CgroupError(f"remove cgroup `{path}`: {describe_errno(exc.errno)}") from exc
            log.debug("cgroup busy, retrying rmdir path=%s attempt=%d", path, attempt + 1)
            time.sleep(delay)
            delay *= 2
