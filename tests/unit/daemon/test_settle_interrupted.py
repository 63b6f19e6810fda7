from __future__ import annotations

from pathlib import Path

from pycri.cri.config import Config
from pycri.cri.context import RuntimeContext
from pycri.cri.exits import settle_interrupted
from pycri.cri.records import (
    ContainerRecord,
    ContainerState,
    ContainerStatus,
    SandboxRecord,
    SandboxState,
    SandboxStatus,
)
from pycri.cri.state import RuntimeState
from pycri.cri.store import Store


async def test_half_made_records_become_removable(tmp_path: Path) -> None:
    state = RuntimeState(Store(tmp_path / "meta.db"))
    rt = RuntimeContext(config=Config(), state=state, pods=None, network=None)
    sandbox = SandboxRecord("s1", "p", "ns", "u", 0, SandboxState.CREATING, 1, b"", "",
                            SandboxStatus())
    container = ContainerRecord("c1", "s1", "c", 0, ContainerState.CREATING, 1, b"", "img",
                                ContainerStatus())
    await state.save_sandbox(sandbox)
    await state.save_container(container)

    await settle_interrupted(rt)

    reloaded = RuntimeState(Store(tmp_path / "meta.db"))
    reloaded.load()
    assert reloaded.sandboxes["s1"].state == SandboxState.NOTREADY
    exited = reloaded.containers["c1"]
    assert exited.state == ContainerState.EXITED
    assert exited.status.exit_code == 255
    assert exited.status.finished_at > 0
