"""The shim and the task manager end to end, with the fake runtime (no root needed)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest

from pycri.runtime.task import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    NotFound,
    TaskManager,
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


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


async def _next_event(tm: TaskManager, kind: str, cid: str) -> dict:
    async for ev in tm.events():
        if ev.get("event") == kind and ev.get("container_id") == cid:
            return ev
    raise AssertionError("events ended")


async def test_lifecycle_logs_and_exit_record(tm: TaskManager, run_root: str,
                                              bundle: Callable[..., str]) -> None:
    shim = await tm.start_shim("sb1")
    assert shim.info["pid"] != os.getpid()
    log_path = os.path.join(run_root, "logs", "c1.log")
    await tm.create("sb1", "c1", bundle("sh", "-c", "echo out; echo err >&2; exit 3"),
                    log_path=log_path)
    with pytest.raises(AlreadyExists):
        await tm.create("sb1", "c1", bundle("true"))
    assert (await shim.state("c1"))["status"] == "created"
    await shim.start("c1")
    rec = await tm.wait("sb1", "c1")
    assert (rec.exit_code, rec.reason) == (3, "Error")
    ev = await asyncio.wait_for(_next_event(tm, "exit", "c1"), 10)
    assert ev["exit_code"] == 3
    assert os.path.exists(os.path.join(run_root, "exits", "c1"))
    with open(log_path, "rb") as f:
        lines = f.read().splitlines()
    assert sorted(line.split(b" ", 1)[1] for line in lines) == [b"stderr F err", b"stdout F out"]
    assert (await shim.delete("c1")).exit_code == 3
    assert not os.path.exists(os.path.join(run_root, "exits", "c1"))
    with pytest.raises(NotFound):
        await shim.state("c1")
    pid = shim.info["pid"]
    await tm.shutdown_shim("sb1")
    for _ in range(100):
        if not _alive(pid):
            break
        await asyncio.sleep(0.05)
    assert not _alive(pid)
    assert not os.path.exists(os.path.join(run_root, "shims", "sb1.sock"))
    assert not os.path.exists(os.path.join(run_root, "shims", "sb1.log"))


async def test_shutdown_refused_while_running(tm: TaskManager,
                                              bundle: Callable[..., str]) -> None:
    shim = await tm.start_shim("sb1")
    await tm.create("sb1", "c1", bundle("sleep", "1000"))
    await shim.start("c1")
    with pytest.raises(FailedPrecondition):
        await shim.shutdown()
    with pytest.raises(FailedPrecondition):
        await shim.delete("c1")
    await shim.kill("c1", signal.SIGKILL)
    assert (await shim.wait("c1")).exit_code == 137


async def test_exit_while_daemon_away_is_replayed(run_root: str,
                                                  bundle: Callable[..., str]) -> None:
    gate = os.path.join(run_root, "gate")
    tm1 = TaskManager(run_root, runtime="fake")
    await tm1.start_shim("sb1")
    await tm1.create("sb1", "c1", bundle("sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.02; "
                                                      "done; exit 7"))
    await tm1.client("sb1").start("c1")
    await tm1.close()  # the daemon goes away; the shim stays
    open(gate, "w").close()
    tm2 = TaskManager(run_root, runtime="fake")
    try:
        got = await tm2.reconnect({"sb1": ["c1"]})
        assert not isinstance(got["sb1"], dict)
        assert (await tm2.wait("sb1", "c1")).exit_code == 7
        ev = await asyncio.wait_for(_next_event(tm2, "exit", "c1"), 10)
        assert ev["exit_code"] == 7
    finally:
        await tm2.shutdown_shim("sb1", force=True)
        await tm2.close()


async def test_daemon_sigkill_then_reconnect(run_root: str, bundle: Callable[..., str]) -> None:
    gate = os.path.join(run_root, "gate")
    b = bundle("sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.02; done; exit 9")
    daemon = textwrap.dedent(f"""
        import asyncio, sys
        from pycri.runtime.task import TaskManager
        async def main():
            tm = TaskManager({run_root!r}, runtime="fake")
            await tm.start_shim("sb1")
            await tm.create("sb1", "c1", {b!r})
            await tm.client("sb1").start("c1")
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
    tm = TaskManager(run_root, runtime="fake")
    try:
        await tm.reconnect({"sb1": ["c1"]})
        assert (await tm.state("sb1", "c1"))["status"] == "running"
        open(gate, "w").close()
        assert (await tm.wait("sb1", "c1")).exit_code == 9
    finally:
        await tm.shutdown_shim("sb1", force=True)
        await tm.close()


async def test_shim_sigkill_reports_exits_and_cleans(tm: TaskManager, run_root: str,
                                                     bundle: Callable[..., str]) -> None:
    shim = await tm.start_shim("sb1")
    await tm.create("sb1", "c1", bundle("sleep", "1000"))
    pid = await shim.start("c1")
    await tm.create("sb1", "c2", bundle("true"))
    await shim.start("c2")
    assert (await shim.wait("c2")).exit_code == 0
    os.kill(shim.info["pid"], signal.SIGKILL)
    recs = {}
    async for ev in tm.events():
        if ev.get("shim_died"):
            recs[ev["container_id"]] = ev
            if len(recs) == 2:
                break
    assert recs["c1"]["exit_code"] == 255 and recs["c1"]["reason"] == "ShimDied"
    assert recs["c2"]["exit_code"] == 0  # the durable record wins
    assert (await tm.wait("sb1", "c1")).exit_code == 255
    assert not _alive(pid)
    assert not os.path.exists(os.path.join(run_root, "shims", "sb1.sock"))
    assert not os.listdir(os.path.join(run_root, "runtime"))
    await tm.delete("sb1", "c1")
    await tm.delete("sb1", "c2")
    assert not os.listdir(os.path.join(run_root, "exits"))


async def test_exec_sync_stream_attach(tm: TaskManager, bundle: Callable[..., str]) -> None:
    shim = await tm.start_shim("sb1")
    await tm.create("sb1", "c1", bundle("sh", "-c", "read line; echo got:$line"), stdin=True,
                    stdin_once=True)
    await shim.start("c1")
    r = await shim.exec_sync("c1", "e1", {"args": ["sh", "-c", "echo hi; echo no >&2; exit 4"]})
    assert (r.exit_code, r.stdout, r.stderr) == (4, b"hi\n", b"no\n")
    with pytest.raises(DeadlineExceeded):
        await shim.exec_sync("c1", "e2", {"args": ["sleep", "100"]}, timeout=0.3)
    st = await shim.exec_stream("c1", "e3", {"args": ["cat"]}, stdin=True)
    await st.write_stdin(b"ping")
    await st.close_stdin()
    out, _, ex = await st.collect()
    assert (out, ex and ex["exit_code"]) == (b"ping", 0)
    await st.close()
    att = await shim.attach("c1", stdin=True)
    await att.write_stdin(b"world\n")
    await att.close_stdin()
    out, _, ex = await att.collect()
    assert out == b"got:world\n" and ex is not None and ex["exit_code"] == 0
    await att.close()


async def test_exec_tty(tm: TaskManager, bundle: Callable[..., str]) -> None:
    shim = await tm.start_shim("sb1")
    await tm.create("sb1", "c1", bundle("sleep", "1000"))
    await shim.start("c1")
    st = await shim.exec_stream("c1", "t1", {"args": ["sh", "-c", "stty size; tty"]}, tty=True)
    await st.resize(100, 30)
    out, _, ex = await st.collect()
    assert ex is not None and ex["exit_code"] == 0
    assert b"/dev/pts/" in out
    await st.close()
    await shim.kill("c1", signal.SIGKILL)


async def test_no_zombies_after_exec_sessions(tm: TaskManager,
                                              bundle: Callable[..., str]) -> None:
    shim = await tm.start_shim("sb1")
    await tm.create("sb1", "c1", bundle("sleep", "1000"))
    await shim.start("c1")
    for i in range(100):
        # The exec's own child outlives it: the shim (subreaper) must reap it too.
        r = await shim.exec_sync("c1", f"e{i}", {"args": ["sh", "-c", "(sleep 0.01 &) ; exit 1"]})
        assert r.exit_code == 1
    await asyncio.sleep(0.2)
    await shim.call("list")  # let the shim run its reaper once more
    assert _zombie_children(shim.info["pid"]) == []
    await shim.kill("c1", signal.SIGKILL)


async def test_start_shim_twice_finds_the_first(tm: TaskManager, run_root: str) -> None:
    first = await tm.start_shim("sb1")
    assert (await tm.start_shim("sb1")) is first
    other = TaskManager(run_root, runtime="fake")
    try:
        again = await other.start_shim("sb1")  # another daemon instance: connects
        assert again.info["pid"] == first.info["pid"]
    finally:
        await other.close()
    from pycri.runtime.task import ShimError
    from pycri.runtime.task.launch import ShimStartOptions, default_command, shim_argv, spawn

    argv = shim_argv(default_command(), "sb1", run_root, "", "fake", ShimStartOptions())
    with pytest.raises(ShimError, match="already serves"):
        await spawn(argv, 10)
