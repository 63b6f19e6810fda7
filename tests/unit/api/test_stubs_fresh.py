"""The checked-in stubs in api/gen must be what scripts/gen-proto.sh makes of the proto."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
GEN = REPO / "api" / "gen"
GENERATED = ["api_pb2.py", "api_pb2.pyi", "api_pb2_grpc.py", "api_pb2_grpc.pyi"]


def test_committed_stubs_match_a_fresh_generation(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "gen-proto.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"gen-proto.sh failed ({proc.returncode}):\n{proc.stderr}")
    stale = [
        name for name in GENERATED
        if (tmp_path / name).read_bytes() != (GEN / name).read_bytes()
    ]
    assert not stale, f"stale stubs {stale}: run scripts/gen-proto.sh and commit api/gen"


def test_grpc_module_imports_messages_relatively() -> None:
    # A bare `from runtime.v1 import api_pb2` would only work with api/gen on sys.path.
    text = (GEN / "api_pb2_grpc.py").read_text()
    assert "from . import api_pb2" in text
    assert "from runtime" not in text
