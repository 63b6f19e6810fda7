"""The shim with the real runtime: containers that outlive the daemon, dead shims,
many containers, exec sessions, logs and the pod's namespaces."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest

from pycri.runtime.task import ShimStartOptions, TaskManager

from .conftest import cgroups_left, mounts_under

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

POD_NS = ShimStartOptions(namespaces=["net", "ipc", "uts"], hostname="pod-host")


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def _zombie_children(ppid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == ppid:
                out.append(int(d))
    return out


def _gate_cmd(rootfs_gate: str, code: int) -> list[str]:
    return ["sh", "-c", f"while [ ! -e /gates/{rootfs_gate} ]; do sleep 0.05; done; exit {code}"]


async def test_lifecycle_in_pod_namespaces(tm: TaskManager, run_root: str,
                                           bundle: Callable[..., str], cgroup_parent: str) -> None:
    shim = await tm.start_shim("sb", POD_NS)
    ns = shim.info["namespaces"]
    assert set(ns) == {"net", "ipc", "uts"}
    log_path = os.path.join(run_root, "logs", "c1.log")
    await tm.create("sb", "c1", bundle("c1", ["sh", "-c", "hostname; exit 5"], ns),
                    log_path=log_path)
    await shim.start("c1")
    rec = await tm.wait("sb", "c1")
    assert (rec.exit_code, rec.reason) == (5, "Error")
    with open(log_path, "rb") as f:
        assert f.read().split(b" ", 1)[1] == b"stdout F pod-host\n"
    await shim.delete("c1")
    assert cgroups_left(cgroup_parent) == []
    # A second shim for the same pod is refused and leaves the pins alone.
    from pycri.runtime.task import ShimError
    from pycri.runtime.task.launch import default_command, shim_argv, spawn

    with pytest.raises(ShimError, match="already serves"):
        await spawn(shim_argv(default_command(), "sb", run_root, "", "oci", POD_NS), 10)
    assert len(mounts_under(run_root)) == 3
    await tm.shutdown_shim("sb")
    assert mounts_under(run_root) == []
    assert not os.path.exists(os.path.join(run_root, "ns", "sb"))


async def test_survives_daemon_sigkill(run_root: str, rootfs: str,
                                       bundle: Callable[..., str]) -> None:
    gate = os.path.basename(run_root) + "-d"
    b = bundle("c1", _gate_cmd(gate, 9))
    daemon = textwrap.dedent(f"""
        import asyncio
        from pycri.runtime.task import TaskManager
        async def main():
            tm = TaskManager({run_root!r}, runtime="oci")
            await tm.start_shim("sb")
            await tm.create("sb", "c1", {b!r})
            await tm.client("sb").start("c1")
            print("started", flush=True)
            await asyncio.sleep(3600)
        asyncio.run(main())
    """)
    p = subprocess.Popen([sys.executable, "-c", daemon], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "started"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    tm = TaskManager(run_root, runtime="oci")
    try:
        await tm.reconnect({"sb": ["c1"]})
        st = await tm.state("sb", "c1")
        assert st["status"] == "running" and _state(st["pid"]) in "SR"
        open(os.path.join(rootfs, "gates", gate), "w").close()
        assert (await tm.wait("sb", "c1")).exit_code == 9
        await tm.delete("sb", "c1")
        await tm.shutdown_shim("sb")
    finally:
        os.unlink(os.path.join(rootfs, "gates", gate))
        await tm.close()


async def test_exit_while_daemon_down(run_root: str, rootfs: str,
                                      bundle: Callable[..., str]) -> None:
    gate = os.path.basename(run_root) + "-x"
    tm1 = TaskManager(run_root, runtime="oci")
    await tm1.start_shim("sb")
    await tm1.create("sb", "c1", bundle("c1", _gate_cmd(gate, 42)))
    await tm1.client("sb").start("c1")
    await tm1.close()
    open(os.path.join(rootfs, "gates", gate), "w").close()
    for _ in range(200):  # the exit record appears once the shim saw the exit
        if os.path.exists(os.path.join(run_root, "exits", "c1")):
            break
        await asyncio.sleep(0.05)
    tm2 = TaskManager(run_root, runtime="oci")
    try:
        await tm2.reconnect({"sb": ["c1"]})
        async for ev in tm2.events():
            if ev.get("container_id") == "c1":
                assert ev["exit_code"] == 42 and ev["replayed"]
                break
        assert (await tm2.wait("sb", "c1")).exit_code == 42
        await tm2.delete("sb", "c1")
        await tm2.shutdown_shim("sb")
    finally:
        os.unlink(os.path.join(rootfs, "gates", gate))
        await tm2.close()


async def test_shim_sigkill_reports_and_cleans(tm: TaskManager, run_root: str,
                                              bundle: Callable[..., str],
                                              cgroup_parent: str) -> None:
    shim = await tm.start_shim("sb", POD_NS)
    ns = shim.info["namespaces"]
    pids = []
    for cid in ("c1", "c2"):
        await tm.create("sb", cid, bundle(cid, ["sleep", "1000"], ns))
        pids.append(await shim.start(cid))
    os.kill(shim.info["pid"], signal.SIGKILL)
    seen = {}
    async for ev in tm.events():
        if ev.get("shim_died"):
            seen[ev["container_id"]] = ev
            if len(seen) == 2:
                break
    assert {c: (e["exit_code"], e["reason"]) for c, e in seen.items()} == {
        "c1": (255, "ShimDied"), "c2": (255, "ShimDied")}
    # Killed; init (their parent now) reaps them in its own time.
    assert all(_state(p) in ("gone", "Z") for p in pids)
    assert cgroups_left(cgroup_parent) == []
    assert mounts_under(run_root) == []
    for cid in ("c1", "c2"):
        assert (await tm.delete("sb", cid)) is not None
    assert os.listdir(os.path.join(run_root, "exits")) == []


async def test_fifty_containers_in_one_shim(tm: TaskManager, bundle: Callable[..., str],
                                            cgroup_parent: str) -> None:
    shim = await tm.start_shim("sb", POD_NS)
    ns = shim.info["namespaces"]
    ids = [f"c{i}" for i in range(50)]
    for cid in ids:
        await tm.create("sb", cid, bundle(cid, ["sleep", "1000"], ns))
        await shim.start(cid)
    states = [await shim.state(c) for c in ids]
    assert len({s["pid"] for s in states}) == 50
    assert {s["status"] for s in states} == {"running"}
    for cid in ids:
        await shim.kill(cid, signal.SIGKILL)
    codes = await asyncio.gather(*(shim.wait(c) for c in ids))
    assert {r.exit_code for r in codes} == {137}
    for cid in ids:
        await shim.delete(cid)
    assert cgroups_left(cgroup_parent) == []


EXEC_SESSIONS = int(os.environ.get("PYCRI_TEST_EXEC_SESSIONS", "1000"))


async def test_no_zombies_after_exec_sessions(tm: TaskManager,
                                              bundle: Callable[..., str]) -> None:
    shim = await tm.start_shim("sb")
    await tm.create("sb", "c1", bundle("c1", ["sleep", "1000"]))
    await shim.start("c1")
    for i in range(EXEC_SESSIONS):
        # Each session leaves a background child behind for the shim to reap.
        r = await shim.exec_sync("c1", f"e{i}", {"args": ["sh", "-c", "(sleep 0.01 &); exit 3"],
                                                  "cwd": "/", "env": ["PATH=/bin"]})
        assert r.exit_code == 3
    await asyncio.sleep(0.3)
    await shim.list_containers()
    assert _zombie_children(shim.info["pid"]) == []
    await shim.kill("c1", signal.SIGKILL)
    await shim.wait("c1")
    await shim.delete("c1")


async def test_log_line_sizes(tm: TaskManager, run_root: str,
                              bundle: Callable[..., str]) -> None:
    shim = await tm.start_shim("sb")
    script = ("printf 'a\\n'; printf '%16384s\\n' | tr ' ' k; "
              "printf '%1048576s\\n' | tr ' ' b; printf e >&2")
    log_path = os.path.join(run_root, "c1.log")
    await tm.create("sb", "c1", bundle("c1", ["sh", "-c", script]), log_path=log_path)
    await shim.start("c1")
    assert (await shim.wait("c1")).exit_code == 0
    with open(log_path, "rb") as f:
        lines = f.read().split(b"\n")
    assert lines[-1] == b""
    recs = []
    for line in lines[:-1]:
        m = re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z (stdout|stderr) ([PF]) (.*)",
                         line, re.S)
        assert m, line[:100]
        recs.append(m.groups())
    out = [r for r in recs if r[0] == b"stdout"]
    assert out[0] == (b"stdout", b"F", b"a")
    assert out[1] == (b"stdout", b"F", b"k" * 16384)
    big = out[2:]
    assert [t for _, t, _ in big] == [b"P"] * (len(big) - 1) + [b"F"]
    assert b"".join(x for _, _, x in big) == b"b" * (1 << 20)
    assert [r for r in recs if r[0] == b"stderr"] == [(b"stderr", b"F", b"e")]
    await shim.delete("c1")


async def test_tty_container_and_exec(tm: TaskManager, bundle: Callable[..., str]) -> None:
    shim = await tm.start_shim("sb")
    await tm.create("sb", "c1", bundle("c1", ["sh"], tty=True), tty=True, stdin=True)
    await shim.start("c1")
    att = await shim.attach("c1", stdin=True)
    await att.write_stdin(b"tty; exit 4\n")
    out, _, ex = await att.collect()
    assert ex is not None and ex["exit_code"] == 4
    assert b"/dev/pts/" in out
    await att.close()
    await shim.delete("c1")


async def test_shared_pid_namespace_init(tm: TaskManager,
                                         bundle: Callable[..., str]) -> None:
    shim = await tm.start_shim("sb", ShimStartOptions(pid_ns=True))
    ns = shim.info["namespaces"]
    init = shim.info["pid_init"]
    assert ns["pid"] == f"/proc/{init}/ns/pid"
    await tm.create("sb", "c1", bundle("c1", ["sh", "-c", "exit $$"], ns))
    await shim.start("c1")
    assert (await shim.wait("c1")).exit_code > 1  # pid 1 is the pod's init, not us
    await shim.delete("c1")
    await tm.shutdown_shim("sb")
    for _ in range(100):
        if _state(init) == "gone":
            break
        await asyncio.sleep(0.05)
    assert _state(init) == "gone"


async def test_oom_kill_is_reported(tm: TaskManager, run_root: str,
                                    bundle: Callable[..., str]) -> None:
    import json

    shim = await tm.start_shim("sb")
    b = bundle("c1", ["sh", "-c", "a=x; while true; do a=$a$a; done"])
    with open(os.path.join(b, "config.json")) as f:
        spec = json.load(f)
    spec["linux"]["resources"]["memory"] = {"limit": 16 << 20, "swap": 16 << 20}
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(spec, f)
    await tm.create("sb", "c1", b)
    await shim.start("c1")
    rec = await shim.wait("c1")
    assert (rec.exit_code, rec.reason) == (137, "OOMKilled")
    async for ev in tm.events():
        if ev.get("event") == "oom" and ev.get("container_id") == "c1":
            break
    await shim.delete("c1")
