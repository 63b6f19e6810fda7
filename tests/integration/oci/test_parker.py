"""A created container's init parks in the tiny parker (not in Python), holds well under
1 MB, and then starts and runs exactly as the Python-parked init did."""

from __future__ import annotations

import os

import pytest

from pycri.runtime.oci import parker
from pycri.runtime.oci.container import Container

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(not parker.supported(), reason="the parker is x86-64 only")]

PARKER_EXE = f"/memfd:{parker.NAME} (deleted)"


def _pss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise AssertionError("no Pss line")


def _create(state_root, cid, bundle):
    r, w = os.pipe()
    try:
        c = Container.create(state_root, cid, bundle, stdio=(0, w, w))
    finally:
        os.close(w)
    return c, r


def _finish(c, r):
    try:
        c.start()
        out = b""
        while chunk := os.read(r, 65536):
            out += chunk
        _, status = os.waitpid(c.pid, 0)
    finally:
        os.close(r)
        c.delete(force=True)
    return os.waitstatus_to_exitcode(status), out.decode()


def test_created_init_is_the_parker_and_small(make_bundle, state_root, cid):
    c, r = _create(state_root, cid, make_bundle(
        ["sh", "-c", "echo started; ls /proc/self/fd; exit 4"]))
    assert os.readlink(f"/proc/{c.pid}/exe") == PARKER_EXE
    assert _pss_kib(c.pid) < 1024
    # Stdio and the fifo's O_PATH fd (which it closes before exec), nothing else.
    assert len(os.listdir(f"/proc/{c.pid}/fd")) == 4
    with open(f"/proc/{c.pid}/status") as f:
        assert "State:\tS" in f.read()
    assert c.state()["status"] == "created"
    code, out = _finish(c, r)
    # stdio plus ls's own directory fd: nothing of the runtime's leaks in.
    assert (code, out.split()) == (4, ["started", "0", "1", "2", "3"])


def _status_of(run, make_bundle, name, spec):
    code, out = run(make_bundle([], name=name, spec=spec))
    assert code == 0, out
    return out


@pytest.mark.parametrize("user,nnp", [(0, False), (65534, True)])
def test_same_process_as_the_python_path(make_bundle, run, spec_for, monkeypatch, user,
                                         nnp):
    spec = spec_for(["sh", "-c", "grep -E '^(Cap|NoNewPrivs|Seccomp|Uid|Gid|Groups|Sig(Ign|Blk))' "
                     "/proc/self/status; ulimit -n; umask; pwd"])
    proc = spec["process"]
    proc["user"] = {"uid": user, "gid": user, "additionalGids": [user], "umask": 0o027}
    proc["noNewPrivileges"] = nnp
    proc["cwd"] = "/tmp"
    proc["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 777, "hard": 888}]
    pytest.importorskip("pycri.runtime.oci.seccomp")
    from pycri.runtime.oci.seccomp import default_profile

    spec["linux"]["seccomp"] = default_profile(proc["capabilities"]["bounding"])
    from pycri.runtime.oci.process import compile_seccomp

    assert parker.seccomp_allows(compile_seccomp(spec["linux"]))  # so the parker is used
    with_parker = _status_of(run, make_bundle, "p", spec)
    monkeypatch.setenv("PYRUNC_NO_PARKER", "1")
    python = _status_of(run, make_bundle, "q", spec)
    assert with_parker == python
    assert "Seccomp:\t2" in with_parker and "777\n0027\n/tmp\n" in with_parker


def test_start_container_hooks_keep_the_python_path(make_bundle, state_root, cid,
                                                    spec_for):
    spec = spec_for(["true"])
    spec["hooks"] = {"startContainer": [{"path": "/bin/true"}]}
    c, r = _create(state_root, cid, make_bundle(["true"], spec=spec))
    assert os.readlink(f"/proc/{c.pid}/exe") != PARKER_EXE
    assert _finish(c, r)[0] == 0


def test_seccomp_blocking_what_the_parker_needs_keeps_the_python_path(
        make_bundle, state_root, cid, spec_for):
    pytest.importorskip("pycri.runtime.oci.seccomp")
    spec = spec_for(["sh", "-c", "exit 5"])
    spec["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["execveat"], "action": "SCMP_ACT_ERRNO"}]}
    c, r = _create(state_root, cid, make_bundle([], spec=spec))
    assert os.readlink(f"/proc/{c.pid}/exe") != PARKER_EXE
    assert _finish(c, r)[0] == 5


def test_parked_init_killed_before_start(make_bundle, state_root, cid):
    c, r = _create(state_root, cid, make_bundle(["true"]))
    try:
        assert os.readlink(f"/proc/{c.pid}/exe") == PARKER_EXE
        c.delete(force=True)
        os.waitpid(c.pid, 0)
        assert os.listdir(state_root) == []
    finally:
        os.close(r)
