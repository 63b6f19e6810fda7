"""secure_join, mount options, namespaces plan, state helpers."""

from __future__ import annotations

import os

import pytest

from pycri.runtime.oci import mountopts, namespaces, state
from pycri.runtime.oci.errors import InvalidArgument
from pycri.runtime.oci.securejoin import secure_join
from pycri.runtime.sys import constants as c


def test_secure_join_keeps_symlinks_inside(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc", root / "abs")
    os.symlink("../../../../etc", root / "rel")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    r = str(root)
    assert secure_join(r, "/abs/passwd") == f"{r}/etc/passwd"
    assert secure_join(r, "/rel/x") == f"{r}/etc/x"
    assert secure_join(r, "/../../x") == f"{r}/x"
    assert secure_join(r, "/new/dir") == f"{r}/new/dir"
    assert secure_join(r, "/") == r
    with pytest.raises(OSError, match="too many symlinks"):
        secure_join(r, "/loop1")


def test_mount_options():
    o = mountopts.parse(["nosuid", "ro", "rw", "rbind", "rslave", "mode=755", "size=1k",
                         "tmpcopyup"])
    assert o.flags == c.MS_NOSUID | c.MS_BIND | c.MS_REC
    assert o.propagation == [c.MS_SLAVE | c.MS_REC]
    assert o.data_str == "mode=755,size=1k"
    assert o.is_bind


def test_namespace_plan_orders_joins():
    spec = {"linux": {"namespaces": [
        {"type": "mount"}, {"type": "network", "path": "/var/run/netns/x"},
        {"type": "user", "path": "/proc/1/ns/user"}, {"type": "pid"}]}}
    p = namespaces.plan(spec)
    assert p.new == ["mount", "pid"]
    assert [k for k, _ in p.join] == ["user", "network"]
    assert p.unshare_flags(skip=("pid",)) == c.CLONE_NEWNS
    assert p.has("user") and not p.has("ipc")


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a b", "x\n"])
def test_bad_ids(bad):
    with pytest.raises(InvalidArgument):
        state.check_id(bad)


def test_status_predicates():
    assert state.Status.CREATED.can_start()
    assert not state.Status.RUNNING.can_start()
    assert state.Status.STOPPED.can_delete() and not state.Status.RUNNING.can_delete()
    assert not state.Status.STOPPED.can_kill()


def test_write_atomic_and_listing(tmp_path):
    d = tmp_path / "c1"
    d.mkdir()
    state.save(str(d), {"id": "c1"})
    (tmp_path / ".c2.deleting").mkdir()
    assert state.read(str(tmp_path), "c1") == {"id": "c1"}
    assert state.list_ids(str(tmp_path)) == ["c1"]
    assert not [n for n in os.listdir(d) if n.endswith(".tmp")]


def test_process_alive_detects_pid_reuse():
    me = os.getpid()
    start = state.proc_start_time(me)
    assert state.process_alive({"pid": me, "pid_start": start})
    assert not state.process_alive({"pid": me, "pid_start": (start or 0) + 1})
    assert not state.process_alive({"pid": 0})


def test_rfc3339():
    import re

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", state.rfc3339_now())
