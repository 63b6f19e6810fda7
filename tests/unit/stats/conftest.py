"""Fakes for the stats and events units: records, a runtime state and a seeded cgroup root."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pycri.api.cri import pb
from pycri.cri.context import EventSink
from pycri.cri.records import (
    ContainerRecord,
    ContainerState,
    ContainerStatus,
    SandboxRecord,
    SandboxState,
    SandboxStatus,
)


def sandbox(sid: str, name: str = "web", state: SandboxState = SandboxState.READY,
            labels: dict[str, str] | None = None, **status: Any) -> SandboxRecord:
    config = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name=name, namespace="ns",
                                                               uid="u-" + sid),
                                 labels=labels or {})
    return SandboxRecord(id=sid, name=name, namespace="ns", uid="u-" + sid, attempt=0,
                         state=state, created_at=1, config=config.SerializeToString(),
                         runtime_handler="", status=SandboxStatus(**status))


def container(cid: str, sid: str, name: str = "app",
              state: ContainerState = ContainerState.RUNNING,
              labels: dict[str, str] | None = None, **status: Any) -> ContainerRecord:
    config = pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name),
                                image=pb.ImageSpec(image="busybox:latest"), labels=labels or {})
    return ContainerRecord(id=cid, sandbox_id=sid, name=name, attempt=0, state=state,
                           created_at=2, config=config.SerializeToString(), image_ref="sha256:x",
                           status=ContainerStatus(**status))


@dataclass
class FakeState:
    sandboxes: dict[str, SandboxRecord] = field(default_factory=dict)
    containers: dict[str, ContainerRecord] = field(default_factory=dict)

    def add(self, *records: Any) -> None:
        for r in records:
            target = self.sandboxes if isinstance(r, SandboxRecord) else self.containers
            target[r.id] = r

    def containers_of(self, sandbox_id: str) -> list[ContainerRecord]:
        return [c for c in self.containers.values() if c.sandbox_id == sandbox_id]

    def container(self, ident: str) -> ContainerRecord:
        return self.containers[ident]

    def sandbox(self, ident: str) -> SandboxRecord:
        return self.sandboxes[ident]


class FakeSnapshotter:
    def __init__(self) -> None:
        self.usages: dict[str, tuple[int, int]] = {}
        self.calls = 0

    def usage(self, container_id: str) -> tuple[int, int]:
        self.calls += 1
        if container_id not in self.usages:
            raise KeyError(container_id)
        return self.usages[container_id]


def seed(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


V2_FILES = {
    "cpu.stat": "usage_usec 2000000\nuser_usec 1500000\nsystem_usec 500000\n",
    "memory.current": "10485760\n",
    "memory.max": "max\n",
    "memory.stat": "anon 4194304\nfile 6291456\ninactive_file 2097152\npgfault 300\n"
                   "pgmajfault 7\n",
    "memory.swap.current": "0\n",
    "memory.swap.max": "max\n",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n",
    "pids.current": "3\n",
    "cpu.pressure": "some avg10=1.50 avg60=0.50 avg300=0.10 total=4000\n"
                    "full avg10=0.00 avg60=0.00 avg300=0.00 total=1000\n",
    "memory.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                       "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    "io.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=9000\n"
                   "full avg10=0.00 avg60=0.00 avg300=0.00 total=2000\n",
}


@pytest.fixture
def v2_root(tmp_path: Path) -> Path:
    root = tmp_path / "cgroup"
    seed(root, {"cgroup.controllers": "cpu memory pids io\n"})
    return root


@pytest.fixture
def rt(v2_root: Path, tmp_path: Path) -> Any:
    images = SimpleNamespace(snapshotter=FakeSnapshotter(),
                             config=SimpleNamespace(snapshots_root=tmp_path / "snapshots"))
    return SimpleNamespace(state=FakeState(), config=SimpleNamespace(cgroup_root=str(v2_root)),
                           images=images, events=EventSink())
