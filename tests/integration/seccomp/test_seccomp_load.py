"""A forked child loads a filter and tries the blocked syscalls."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import tempfile
from collections.abc import Callable

import pytest

from pycri.runtime.oci.seccomp import compile_filter, default_profile

pytestmark = pytest.mark.root

_libc = ctypes.CDLL(None, use_errno=True)
SYS_GETPID = 39


def in_child(fn: Callable[[], dict[str, object]]) -> dict[str, object]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = fn()
        except BaseException as exc:
            out = {"error": repr(exc)}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


@pytest.fixture(autouse=True)
def _x86_64_root() -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("syscall numbers below are x86_64")


def test_mkdir_eperm_and_getpid_custom_errno() -> None:
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EDOM},
        ],
    }
    filt = compile_filter(spec)
    with tempfile.TemporaryDirectory() as tmp:

        def child() -> dict[str, object]:
            filt.load()
            out: dict[str, object] = {}
            try:
                os.mkdir(os.path.join(tmp, "x"))
                out["mkdir"] = 0
            except OSError as exc:
                out["mkdir"] = exc.errno
            ret = _libc.syscall(SYS_GETPID)
            out["getpid"] = (ret, ctypes.get_errno())
            out["exists"] = os.path.exists(os.path.join(tmp, "x"))
            return out

        got = in_child(child)
    assert got == {"mkdir": errno.EPERM, "getpid": [-1, errno.EDOM], "exists": False}


def test_argument_condition() -> None:
    # Deny personality(0xdead) only; personality(0xffffffff) is a harmless query.
    spec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno.EACCES,
                "args": [{"index": 0, "value": 0xDEAD, "op": "SCMP_CMP_EQ"}],
            }
        ],
    }
    filt = compile_filter(spec)

    def child() -> dict[str, object]:
        filt.load()
        q = _libc.personality(ctypes.c_ulong(0xFFFFFFFF))
        bad = _libc.personality(ctypes.c_ulong(0xDEAD))
        return {"query_ok": q >= 0, "bad": (bad, ctypes.get_errno())}

    assert in_child(child) == {"query_ok": True, "bad": [-1, errno.EACCES]}


def test_default_profile_blocks_unshare_and_allows_work() -> None:
    filt = compile_filter(default_profile())

    def child() -> dict[str, object]:
        filt.load()
        out: dict[str, object] = {"pid_ok": os.getpid() > 0}
        try:
            os.unshare(os.CLONE_NEWUTS) if hasattr(os, "unshare") else _unshare()
            out["unshare"] = 0
        except OSError as exc:
            out["unshare"] = exc.errno
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        _, status = os.waitpid(pid, 0)
        out["fork_exit"] = os.waitstatus_to_exitcode(status)
        return out

    assert in_child(child) == {"pid_ok": True, "unshare": errno.EPERM, "fork_exit": 7}


def _unshare() -> None:
    if _libc.unshare(0x04000000) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
