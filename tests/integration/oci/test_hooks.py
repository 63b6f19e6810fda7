"""All six hook kinds, in order, with the state on stdin."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.root


def test_hooks_run_in_order_with_state(make_bundle, spec_for, state_root, cid, tmp_path):
    from pycri.runtime.oci.container import Container

    log_dir = tmp_path / "hooklog"
    log_dir.mkdir()
    log_dir.chmod(0o777)
    host_log = str(log_dir / "log")

    def host_hook(kind: str) -> dict:
        return {"path": "/bin/sh", "args": ["sh", "-c", f"(echo {kind}; cat; echo) >> {host_log}"]}

    def container_hook(kind: str) -> dict:
        # Runs inside the container: /hooklog is the same directory, bind mounted.
        return {"path": "/bin/sh",
                "args": ["sh", "-c", f"(echo {kind}; cat; echo) >> /hooklog/log"]}

    spec = spec_for(["true"])
    spec["mounts"].append({"destination": "/hooklog", "type": "bind", "source": str(log_dir),
                           "options": ["rbind"]})
    spec["hooks"] = {
        "prestart": [host_hook("prestart")],
        "createRuntime": [host_hook("createRuntime")],
        # Runs in the container's namespaces before pivot_root: host paths still resolve.
        "createContainer": [host_hook("createContainer")],
        "startContainer": [container_hook("startContainer")],
        "poststart": [host_hook("poststart")],
        "poststop": [host_hook("poststop")],
    }
    c = Container.create(state_root, cid, make_bundle([], spec=spec))
    c.start()
    os.waitpid(c.pid, 0)
    c.delete()
    with open(host_log) as f:
        lines = f.read().splitlines()
    chunks = [lines[i:i + 2] for i in range(0, len(lines), 2)]
    kinds = [ch[0] for ch in chunks]
    assert kinds == ["prestart", "createRuntime", "createContainer", "startContainer",
                     "poststart", "poststop"]
    states = [json.loads(ch[1]) for ch in chunks]
    assert all(s["id"] == cid for s in states)
    assert states[0]["pid"] == c.pid and states[0]["status"] == "creating"
    assert states[-1]["status"] == "stopped"


def test_failing_prestart_hook_fails_create(make_bundle, spec_for, state_root, cid):
    from pycri.runtime.oci.container import Container
    from pycri.runtime.oci.errors import InitFailed, RuntimeError_

    spec = spec_for(["true"])
    spec["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo no >&2; exit 2"]}]}
    with pytest.raises((InitFailed, RuntimeError_), match="prestart"):
        Container.create(state_root, cid, make_bundle([], spec=spec))
    assert not os.path.exists(os.path.join(state_root, cid))
