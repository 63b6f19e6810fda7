"""Sandbox and container records: immutable metadata + a status that changes via `update`."""

from __future__ import annotations

import enum
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from pycri.cri.store import Store


class SandboxState(enum.StrEnum):
    CREATING = "creating"
    READY = "ready"
    NOTREADY = "notready"
    UNKNOWN = "unknown"  # a critical undo failed: the next RemovePodSandbox finishes the job


class ContainerState(enum.StrEnum):
    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"

    def can_start(self) -> bool:
        return self is ContainerState.CREATED

    def can_exec(self) -> bool:
        return self is ContainerState.RUNNING


def now_ns() -> int:
    return time.time_ns()


@dataclass
class SandboxStatus:
    ip: str = ""
    additional_ips: list[str] = field(default_factory=list)
    netns_path: str = ""
    ipc_path: str = ""
    uts_path: str = ""
    pid_path: str = ""
    pid_init: int = 0
    shim_pid: int = 0
    dir: str = ""
    hostname_path: str = ""
    hosts_path: str = ""
    resolv_path: str = ""
    shm_path: str = ""
    shm_mounted: bool = False
    cgroup_parent: str = ""
    network_attached: bool = False
    host_network: bool = False


@dataclass
class SandboxRecord:
    id: str
    name: str
    namespace: str
    uid: str
    attempt: int
    state: SandboxState
    created_at: int
    config: bytes
    runtime_handler: str
    status: SandboxStatus

    @property
    def name_key(self) -> str:
        return sandbox_name_key(self.name, self.namespace, self.uid, self.attempt)


def sandbox_name_key(name: str, namespace: str, uid: str, attempt: int) -> str:
    return f"{name}_{namespace}_{uid}_{attempt}"


@dataclass
class ContainerStatus:
    image_id: str = ""
    image_name: str = ""
    repo_tag: str = ""
    repo_digest: str = ""
    pid: int = 0
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    log_path: str = ""
    bundle: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    stop_signal: str = ""
    user: dict[str, Any] = field(default_factory=dict)
    mounts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ContainerRecord:
    id: str
    sandbox_id: str
    name: str
    attempt: int
    state: ContainerState
    created_at: int
    config: bytes
    image_ref: str
    status: ContainerStatus

    @property
    def name_key(self) -> str:
        return f"{self.sandbox_id}/{self.name}_{self.attempt}"


class Records:
    """sqlite persistence of sandboxes and containers, one transaction per change."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def put_sandbox(self, rec: SandboxRecord) -> None:
        with self._store.transaction() as tx:
            tx.execute(
                "INSERT OR REPLACE INTO sandboxes (id, name, namespace, uid, attempt, state,"
                " created_at, config, runtime_handler, status) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (rec.id, rec.name, rec.namespace, rec.uid, rec.attempt, rec.state.value,
                 rec.created_at, rec.config, rec.runtime_handler, json.dumps(asdict(rec.status))),
            )

    def delete_sandbox(self, sandbox_id: str) -> None:
        with self._store.transaction() as tx:
            tx.execute("DELETE FROM containers WHERE sandbox_id=?", (sandbox_id,))
            tx.execute("DELETE FROM sandboxes WHERE id=?", (sandbox_id,))

    def sandboxes(self) -> list[SandboxRecord]:
        with self._store.read() as conn:
            rows = conn.execute("SELECT * FROM sandboxes").fetchall()
        return [
            SandboxRecord(
                id=r["id"], name=r["name"], namespace=r["namespace"], uid=r["uid"],
                attempt=r["attempt"], state=SandboxState(r["state"]), created_at=r["created_at"],
                config=r["config"], runtime_handler=r["runtime_handler"],
                status=SandboxStatus(**json.loads(r["status"])),
            )
            for r in rows
        ]

    def put_container(self, rec: ContainerRecord) -> None:
        with self._store.transaction() as tx:
            tx.execute(
                "INSERT OR REPLACE INTO containers (id, sandbox_id, name, attempt, state,"
                " created_at, config, image_ref, status) VALUES (?,?,?,?,?,?,?,?,?)",
                (rec.id, rec.sandbox_id, rec.name, rec.attempt, rec.state.value, rec.created_at,
                 rec.config, rec.image_ref, json.dumps(asdict(rec.status))),
            )

    def delete_container(self, container_id: str) -> None:
        with self._store.transaction() as tx:
            tx.execute("DELETE FROM containers WHERE id=?", (container_id,))

    def containers(self) -> list[ContainerRecord]:
        with self._store.read() as conn:
            rows = conn.execute("SELECT * FROM containers").fetchall()
        return [
            ContainerRecord(
                id=r["id"], sandbox_id=r["sandbox_id"], name=r["name"], attempt=r["attempt"],
                state=ContainerState(r["state"]), created_at=r["created_at"], config=r["config"],
                image_ref=r["image_ref"], status=ContainerStatus(**json.loads(r["status"])),
            )
            for r in rows
        ]
