"""process: user, groups, umask, rlimits, env, cwd, caps, noNewPrivileges, oomScoreAdj."""

from __future__ import annotations

import logging

import pytest

pytestmark = pytest.mark.root


def _status(out: str, key: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in out.splitlines()
                if line.startswith(key + ":"))


def test_user_groups_umask_env_cwd(make_bundle, run, spec_for):
    spec = spec_for(["sh", "-c", "id; umask; echo $FOO $HOME; pwd"])
    spec["process"].update(user={"uid": 65534, "gid": 65534, "additionalGids": [10, 20],
                                 "umask": 0o027},
                           env=["PATH=/bin", "FOO=bar"], cwd="/tmp")
    code, out = run(make_bundle([], spec=spec))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("uid=65534(nobody) gid=65534(nobody) groups=10,20")
    assert lines[1] == "0027"
    assert lines[2] == "bar /nonexistent"
    assert lines[3] == "/tmp"


def test_caps_nnp_rlimits(make_bundle, run, spec_for):
    spec = spec_for(["sh", "-c", "grep -E '^(Cap|NoNewPrivs)' /proc/self/status; ulimit -n"])
    caps = ["CAP_KILL", "CAP_CHOWN"]
    spec["process"].update(
        capabilities={"bounding": caps, "effective": caps, "permitted": caps},
        noNewPrivileges=True,
        rlimits=[{"type": "RLIMIT_NOFILE", "hard": 321, "soft": 123}])
    code, out = run(make_bundle([], spec=spec))
    assert code == 0, out
    want = f"{(1 << 0) | (1 << 5):016x}"  # CAP_CHOWN=0, CAP_KILL=5
    assert _status(out, "CapEff") == want
    assert _status(out, "CapBnd") == want
    assert _status(out, "CapInh") == "0" * 16
    assert _status(out, "NoNewPrivs") == "1"
    assert out.splitlines()[-1] == "123"


def test_non_root_user_keeps_only_listed_caps(make_bundle, run, spec_for):
    spec = spec_for(["sh", "-c", "grep -E '^CapEff' /proc/self/status"])
    spec["process"]["user"] = {"uid": 1000, "gid": 1000}
    # Across execve a non-root user keeps only its ambient set.
    spec["process"]["capabilities"] = {k: ["CAP_KILL"] for k in (
        "bounding", "permitted", "effective", "inheritable", "ambient")}
    code, out = run(make_bundle([], spec=spec))
    assert code == 0, out
    assert _status(out, "CapEff") == f"{1 << 5:016x}"


def test_oom_score_adj_raise_and_clamp(make_bundle, run, spec_for, caplog):
    spec = spec_for(["cat", "/proc/self/oom_score_adj"])
    spec["process"]["oomScoreAdj"] = 500
    code, out = run(make_bundle([], spec=spec))
    assert (code, out.strip()) == (0, "500")
    with open("/proc/self/oom_score_adj") as f:
        mine = int(f.read())
    spec["process"]["oomScoreAdj"] = mine - 100
    with caplog.at_level(logging.WARNING):
        code, out = run(make_bundle([], name="b2", spec=spec), container_id="clamp")
    assert code == 0
    # Either the kernel let us lower it (CAP_SYS_RESOURCE) or it was clamped and logged.
    if int(out) != mine - 100:
        assert int(out) == mine
        assert [r for r in caplog.records if "clamped" in r.getMessage()]
