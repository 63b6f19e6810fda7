"""Capabilities applied in a forked child, read back from /proc/self/status."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest

from pycri.runtime.oci.capabilities import (
    CAP_NUMBERS,
    DEFAULT_CAPABILITIES,
    clear_keep_caps,
    keep_caps_for_user_switch,
    prepare,
)

pytestmark = pytest.mark.root


def in_child(fn: Callable[[], dict[str, str]]) -> dict[str, str]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = json.dumps(fn()).encode()
            code = 0
        except BaseException as exc:
            out = json.dumps({"error": repr(exc)}).encode()
            code = 1
        os.write(w, out)
        os._exit(code)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks))


def status() -> dict[str, str]:
    with open("/proc/self/status") as f:
        return dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)


def mask(names: list[str]) -> int:
    return sum(1 << CAP_NUMBERS[n] for n in names)


@pytest.fixture(autouse=True)
def _root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


def test_default_set_as_root() -> None:
    spec = {k: DEFAULT_CAPABILITIES for k in ("bounding", "effective", "permitted")}

    def child() -> dict[str, str]:
        plan = prepare(spec)
        plan.drop_bounding()
        plan.apply()
        return status()

    st = in_child(child)
    assert "error" not in st, st
    assert int(st["CapEff"], 16) == mask(DEFAULT_CAPABILITIES)
    assert int(st["CapBnd"], 16) == mask(DEFAULT_CAPABILITIES)
    assert int(st["CapInh"], 16) == 0


def test_user_switch_with_ambient() -> None:
    keep = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
    spec = {k: keep for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}

    def child() -> dict[str, str]:
        plan = prepare(spec)
        plan.drop_bounding()
        keep_caps_for_user_switch()
        os.setgroups([])
        os.setgid(1000)
        os.setuid(1000)
        clear_keep_caps()
        plan.apply()
        return status()

    st = in_child(child)
    assert "error" not in st, st
    assert st["Uid"].split()[0] == "1000"
    assert int(st["CapEff"], 16) == mask(keep)
    assert int(st["CapAmb"], 16) == mask(keep)
    assert int(st["CapBnd"], 16) == mask(keep)
