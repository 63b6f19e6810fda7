"""The pyrunc command line as containerd's shim drives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.root


@pytest.fixture
def pyrunc(state_root, tmp_path):
    log = str(tmp_path / "log.json")

    def call(*args: str, stdin: bytes | None = None, check: bool = True):
        argv = [sys.executable, "-m", "pycri.runtime.oci.cli", "--root", state_root,
                "--log", log, "--log-format", "json", *args]
        if args[0] == "create" or "--detach" in args:
            # The container keeps the stdio it inherits: no pipes we would wait on.
            with open(tmp_path / "container.out", "ab") as out:
                res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     timeout=60, check=False)
            res.stdout = res.stderr = b""
        else:
            res = subprocess.run(argv, input=stdin, capture_output=True, timeout=60,
                                 check=False)
        if check and res.returncode != 0:
            raise AssertionError(f"pyrunc {args}: {res.returncode} {res.stderr!r}")
        return res

    call.log = log
    return call


def test_lifecycle_like_the_shim(pyrunc, make_bundle, cid, tmp_path):
    bundle = make_bundle(["sleep", "1000"])
    pid_file = str(tmp_path / "init.pid")
    pyrunc("create", "--bundle", bundle, "--pid-file", pid_file, cid)
    with open(pid_file) as f:
        pid = int(f.read())
    st = json.loads(pyrunc("state", cid).stdout)
    assert (st["status"], st["pid"], st["bundle"]) == ("created", pid, bundle)
    pyrunc("start", cid)
    assert json.loads(pyrunc("ps", "--format", "json", cid).stdout) == [pid]
    ids = [s["id"] for s in json.loads(pyrunc("list", "--format", "json").stdout)]
    assert cid in ids
    exec_pid = str(tmp_path / "exec.pid")
    proc = tmp_path / "proc.json"
    proc.write_text(json.dumps({"args": ["sh", "-c", "exit 5"], "cwd": "/",
                                "env": ["PATH=/bin"]}))
    pyrunc("exec", "--process", str(proc), "--detach", "--pid-file", exec_pid, cid)
    assert os.path.exists(exec_pid)
    res = pyrunc("exec", cid, "sh", "-c", "exit 4", check=False)
    assert res.returncode == 4
    pyrunc("update", "--resources", "-", cid, stdin=b'{"pids": {"limit": 50}}')
    pyrunc("kill", cid, "9")
    for _ in range(1000):
        if json.loads(pyrunc("state", cid).stdout)["status"] == "stopped":
            break
    res = pyrunc("kill", cid, "15", check=False)
    assert res.returncode == 1
    assert "container not running" in res.stderr.decode()
    pyrunc("delete", cid)
    assert pyrunc("delete", "--force", cid).returncode == 0


def test_errors_are_json_log_lines(pyrunc):
    res = pyrunc("kill", "no-such-container", "9", check=False)
    assert res.returncode == 1
    with open(pyrunc.log) as f:
        last = json.loads(f.read().splitlines()[-1])
    assert last["level"] == "error"
    assert "does not exist" in last["msg"]
    assert last["time"].endswith("Z")


def test_run_returns_exit_status_and_spec_and_features(pyrunc, make_bundle, cid, tmp_path):
    res = pyrunc("run", "--bundle", make_bundle(["sh", "-c", "echo ran; exit 3"]), cid,
                 check=False)
    assert (res.returncode, res.stdout) == (3, b"ran\n")
    d = tmp_path / "specdir"
    d.mkdir()
    pyrunc("spec", "--bundle", str(d))
    assert json.loads((d / "config.json").read_text())["process"]["args"] == ["sh"]
    feats = json.loads(pyrunc("features").stdout)
    assert "createContainer" in feats["hooks"]
