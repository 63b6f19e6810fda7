from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pycri.api.cri import pb
from pycri.cri.events import EventBroker, SubscriberTooSlow
from pycri.cri.records import ContainerState, SandboxState
from tests.unit.stats.conftest import container, sandbox

E = pb.ContainerEventType


def _life(rt: Any) -> None:
    pod = sandbox("p1")
    rt.state.add(pod)
    rt.events.sandbox_changed(pod)
    ctr = container("c1", "p1", state=ContainerState.CREATED)
    rt.state.add(ctr)
    rt.events.container_changed(ctr, "created")
    ctr.state = ContainerState.RUNNING
    rt.events.container_changed(ctr, "started")
    ctr.state = ContainerState.EXITED
    rt.events.container_changed(ctr, "stopped")
    del rt.state.containers["c1"]
    rt.events.container_changed(ctr, "deleted")
    pod.state = SandboxState.NOTREADY
    rt.events.sandbox_changed(pod)
    del rt.state.sandboxes["p1"]
    rt.events.sandbox_changed(pod)


async def _drain(sub: Any) -> list[Any]:
    out = []
    while sub.pending():
        out.append(await sub.get())
    return out


async def test_whole_life_in_order_to_every_subscriber(rt: Any) -> None:
    broker = EventBroker(rt)
    first, second = broker.subscribe(), broker.subscribe()
    _life(rt)
    for sub in (first, second):
        got = [(e.container_id, e.container_event_type) for e in await _drain(sub)]
        assert got == [
            ("p1", E.CONTAINER_CREATED_EVENT), ("p1", E.CONTAINER_STARTED_EVENT),
            ("c1", E.CONTAINER_CREATED_EVENT), ("c1", E.CONTAINER_STARTED_EVENT),
            ("c1", E.CONTAINER_STOPPED_EVENT), ("c1", E.CONTAINER_DELETED_EVENT),
            ("p1", E.CONTAINER_STOPPED_EVENT), ("p1", E.CONTAINER_DELETED_EVENT),
        ]


async def test_event_carries_pod_and_container_statuses(rt: Any) -> None:
    broker = EventBroker(rt)
    sub = broker.subscribe()
    rt.state.add(sandbox("p1"))
    ctr = container("c1", "p1", state=ContainerState.RUNNING)
    rt.state.add(ctr)
    rt.events.container_changed(ctr, "started")
    event = await sub.get()
    assert event.pod_sandbox_status.id == "p1"
    assert event.pod_sandbox_status.state == pb.PodSandboxState.SANDBOX_READY
    assert [s.id for s in event.containers_statuses] == ["c1"]
    assert event.containers_statuses[0].state == pb.ContainerState.CONTAINER_RUNNING
    assert event.created_at > 0


async def test_no_subscriber_builds_nothing(rt: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    broker = EventBroker(rt)
    monkeypatch.setattr(broker, "_responses", lambda *a: pytest.fail("built an event"))
    _life(rt)


async def test_slow_subscriber_is_cut_off_and_others_keep_going(rt: Any) -> None:
    broker = EventBroker(rt, queue_size=4)
    slow, fast = broker.subscribe(), broker.subscribe()
    ctr = container("c1", "p1")
    rt.state.add(sandbox("p1"), ctr)
    for _ in range(3):
        rt.events.container_changed(ctr, "started")
        await fast.get()
    rt.events.container_changed(ctr, "started")
    rt.events.container_changed(ctr, "started")
    assert broker.subscribers == 1
    with pytest.raises(SubscriberTooSlow):
        await slow.get()
    assert (await fast.get()).container_id == "c1"


async def test_waiting_reader_wakes_on_event_and_on_close(rt: Any) -> None:
    broker = EventBroker(rt)
    sub = broker.subscribe()
    reader = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    ctr = container("c1", "p1")
    rt.state.add(sandbox("p1"), ctr)
    rt.events.container_changed(ctr, "created")
    assert (await reader).container_event_type == E.CONTAINER_CREATED_EVENT
    reader = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    broker.close()
    with pytest.raises(EOFError):
        await reader


async def test_unknown_kinds_are_ignored(rt: Any) -> None:
    broker = EventBroker(rt)
    sub = broker.subscribe()
    ctr = container("c1", "p1")
    rt.events.container_changed(ctr)
    creating = sandbox("p9", state=SandboxState.CREATING)
    rt.state.add(creating)
    rt.events.sandbox_changed(creating)
    assert sub.pending() == 0
