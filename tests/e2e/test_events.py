"""GetContainerEvents over the socket: order, statuses, several subscribers, a stalled one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import pytest

from pycri.api.cri import pb
from tests.e2e.cri_env import CriEnv

pytestmark = pytest.mark.root
E = pb.ContainerEventType


@contextmanager
def subscribed(cri: CriEnv) -> Iterator[queue.Queue[Any]]:
    """A reader thread putting every event of one stream into a queue."""
    stream = cri.client.runtime.GetContainerEvents(pb.GetEventsRequest())
    events: queue.Queue[Any] = queue.Queue()

    def read() -> None:
        try:
            for event in stream:
                events.put(event)
        except grpc.RpcError:
            pass

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield events
    finally:
        stream.cancel()
        reader.join(10)


def _until(events: queue.Queue[Any], container_id: str, kind: int) -> list[Any]:
    """Every event read up to and including the first of `kind` for `container_id`."""
    seen = []
    while True:
        event = events.get(timeout=30)
        seen.append(event)
        if event.container_id == container_id and event.container_event_type == kind:
            return seen


def _of(events: list[Any], ident: str) -> list[Any]:
    return [e for e in events if e.container_id == ident]


def _wait_subscribed(cri: CriEnv) -> None:
    # The stream is open once the daemon has registered it; a quick pod makes sure of it.
    pod_id = cri.client.run_pod_sandbox(cri.pod_config("warm-events"))
    cri.client.stop_pod_sandbox(pod_id)
    cri.client.remove_pod_sandbox(pod_id)


def test_container_life_arrives_in_order(cri: CriEnv) -> None:
    with subscribed(cri) as events, subscribed(cri) as second:
        _wait_subscribed(cri)
        pod_id, cid = cri.run(cri.pod_config("ev-life"), "life", ["sleep", "300"])
        cri.client.stop_container(cid)
        cri.client.remove_container(cid)
        cri.client.stop_pod_sandbox(pod_id)
        cri.client.remove_pod_sandbox(pod_id)
        everything = _until(events, pod_id, E.CONTAINER_DELETED_EVENT)
        got, pod_events = _of(everything, cid), _of(everything, pod_id)
        again = _of(_until(second, pod_id, E.CONTAINER_DELETED_EVENT), cid)
    kinds = [e.container_event_type for e in got]
    assert kinds == [E.CONTAINER_CREATED_EVENT, E.CONTAINER_STARTED_EVENT,
                     E.CONTAINER_STOPPED_EVENT, E.CONTAINER_DELETED_EVENT]
    assert [e.container_event_type for e in again] == kinds
    started = got[1]
    assert started.pod_sandbox_status.id == pod_id
    assert started.pod_sandbox_status.state == pb.PodSandboxState.SANDBOX_READY
    (status,) = [s for s in started.containers_statuses if s.id == cid]
    assert status.state == pb.ContainerState.CONTAINER_RUNNING
    stopped = got[2]
    (status,) = [s for s in stopped.containers_statuses if s.id == cid]
    assert status.state == pb.ContainerState.CONTAINER_EXITED
    assert all(e.created_at > 0 for e in got)
    assert [e.container_event_type for e in pod_events] == [
        E.CONTAINER_CREATED_EVENT, E.CONTAINER_STARTED_EVENT, E.CONTAINER_STOPPED_EVENT,
        E.CONTAINER_DELETED_EVENT]


def test_exit_of_its_own_is_a_stopped_event(cri: CriEnv) -> None:
    with subscribed(cri) as events:
        _wait_subscribed(cri)
        pod_id, cid = cri.run(cri.pod_config("ev-exit"), "exit", ["sh", "-c", "exit 3"])
        try:
            got = _of(_until(events, cid, E.CONTAINER_STOPPED_EVENT), cid)
        finally:
            cri.client.stop_pod_sandbox(pod_id)
            cri.client.remove_pod_sandbox(pod_id)
    (status,) = [s for s in got[-1].containers_statuses if s.id == cid]
    assert status.exit_code == 3


def test_a_subscriber_that_never_reads_does_not_hold_up_pods(cri: CriEnv) -> None:
    stalled = cri.client.runtime.GetContainerEvents(pb.GetEventsRequest())
    try:
        with subscribed(cri) as events:
            _wait_subscribed(cri)
            for n in range(5):
                pod_id, cid = cri.run(cri.pod_config(f"ev-stall-{n}"), "c", ["sleep", "300"])
                cri.client.stop_pod_sandbox(pod_id)
                cri.client.remove_pod_sandbox(pod_id)
                everything = _until(events, pod_id, E.CONTAINER_DELETED_EVENT)
                kinds = [e.container_event_type for e in _of(everything, cid)]
                assert kinds[:2] == [E.CONTAINER_CREATED_EVENT, E.CONTAINER_STARTED_EVENT]
                assert len(_of(everything, pod_id)) == 4
    finally:
        stalled.cancel()
