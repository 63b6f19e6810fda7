"""create/start/state/kill/delete/exec through the library, checked from inside."""

from __future__ import annotations

import os
import signal

import pytest

from pycri.runtime.oci.container import Container
from pycri.runtime.oci.errors import (
    ContainerExists,
    ContainerNotFound,
    ContainerNotRunning,
    InitFailed,
    InvalidSpec,
    InvalidState,
)

pytestmark = pytest.mark.root


def test_run_prints_and_exits(make_bundle, run, state_root):
    code, out = run(make_bundle(["sh", "-c", "echo hi $$; exit 3"]))
    assert (code, out) == (3, "hi 1\n")
    assert os.listdir(state_root) == []


def test_states_through_the_lifecycle(make_bundle, state_root, tmp_path, cid):
    b = make_bundle(["sleep", "1000"])
    pid_file = str(tmp_path / "pid")
    c = Container.create(state_root, cid, b, pid_file=pid_file)
    try:
        with open(pid_file) as f:
            assert f.read() == str(c.pid)
        assert c.state()["status"] == "created"
        assert Container.load(state_root, cid).state()["pid"] == c.pid
        with pytest.raises(ContainerExists):
            Container.create(state_root, cid, b)
        c.start()
        st = c.state()
        assert (st["status"], st["id"], st["bundle"]) == ("running", cid, b)
        with pytest.raises(InvalidState):
            c.delete()
        assert c.pids() == [c.pid] or c.pid in c.pids()
        # pid 1 of a namespace ignores signals it has no handler for: SIGKILL it.
        c.kill(signal.SIGKILL)
        _, status = os.waitpid(c.pid, 0)
        assert os.WTERMSIG(status) == signal.SIGKILL
        assert c.state()["status"] == "stopped"
        with pytest.raises(ContainerNotRunning):
            c.kill(signal.SIGTERM)
    finally:
        c.delete(force=True)
    with pytest.raises(ContainerNotFound):
        Container.load(state_root, cid)


def test_delete_of_created_container_kills_init(make_bundle, state_root, tmp_path, cid):
    b = make_bundle(["true"])
    c = Container.create(state_root, cid, b)
    c.delete()
    _, status = os.waitpid(c.pid, 0)
    assert os.WTERMSIG(status) == signal.SIGKILL


def test_exec_joins_the_container(make_bundle, state_root, tmp_path, cid):
    b = make_bundle(["sleep", "1000"], hostname="box")
    c = Container.create(state_root, cid, b)
    try:
        c.start()
        r, w = os.pipe()
        proc = {"args": ["sh", "-c", "hostname; echo $$ $FOO; cat /proc/1/cmdline; echo; pwd"],
                "env": ["FOO=bar", "PATH=/bin"], "cwd": "/tmp", "user": {"uid": 0, "gid": 0}}
        pid = c.exec(proc, stdio=(0, w, w))
        os.close(w)
        _, status = os.waitpid(pid, 0)
        out = os.read(r, 65536).decode()
        os.close(r)
        assert status == 0
        lines = out.splitlines()
        assert lines[0] == "box"
        assert lines[1].split()[1] == "bar" and lines[1].split()[0] != "1"
        assert lines[2].startswith("sleep")
        assert lines[3] == "/tmp"
    finally:
        c.delete(force=True)
        os.waitpid(c.pid, 0)


def test_exec_of_missing_binary_fails_cleanly(make_bundle, state_root, tmp_path, cid):
    b = make_bundle(["sleep", "1000"])
    c = Container.create(state_root, cid, b)
    try:
        c.start()
        with pytest.raises(InitFailed, match="not found"):
            c.exec({"args": ["nope"], "cwd": "/"})
    finally:
        c.delete(force=True)
        os.waitpid(c.pid, 0)


def test_bad_spec_names_the_field_and_leaves_nothing(make_bundle, state_root, spec_for, cid):
    spec = spec_for(["true"])
    spec["process"]["cwd"] = "relative"
    b = make_bundle([], spec=spec)
    with pytest.raises(InvalidSpec, match=r"process\.cwd"):
        Container.create(state_root, cid, b)
    assert not os.path.exists(os.path.join(state_root, cid))


def test_init_failure_is_reported_and_cleaned_up(make_bundle, state_root, cid):
    b = make_bundle(["/does/not/exist"])
    with pytest.raises(InitFailed, match=r"does/not/exist|not found|No such file"):
        Container.create(state_root, cid, b)
    assert os.listdir(state_root) == []
