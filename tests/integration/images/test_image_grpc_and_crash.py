"""The service over real gRPC (status codes), and a daemon killed in the middle of a pull."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from pycri.api.cri import pb, pb_grpc
from pycri.cri import rpc
from tests.fixtures.images import build_big_image

pytestmark = pytest.mark.root
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
async def stub(service, tmp_path):
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((
        rpc.generic_handler(pb.DESCRIPTOR.services_by_name["ImageService"], [service], pb),))
    sock = tmp_path / "image.sock"
    server.add_insecure_port(f"unix:{sock}")
    await server.start()
    channel = grpc.aio.insecure_channel(f"unix://{sock}")
    yield pb_grpc.ImageServiceStub(channel)
    await channel.close()
    await server.stop(None)


async def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code()


async def test_status_codes(stub, registry, auth_registry, pushed_images):
    spec = pb.ImageSpec
    assert await code_of(stub.PullImage(pb.PullImageRequest(
        image=spec(image=f"{registry.host}/test/absent:v1")))) == grpc.StatusCode.NOT_FOUND
    assert await code_of(stub.PullImage(pb.PullImageRequest(
        image=spec(image="upper/Case")))) == grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of(stub.PullImage(pb.PullImageRequest(
        image=spec(image=f"{auth_registry.host}/private/none:v1"),
        auth=pb.AuthConfig(username="x", password="y")))) == grpc.StatusCode.UNAUTHENTICATED
    ref = pushed_images["busybox:latest"]
    pulled = await stub.PullImage(pb.PullImageRequest(image=spec(image=ref)))
    status = await stub.ImageStatus(pb.ImageStatusRequest(image=spec(image=ref)))
    assert status.image.id == pulled.image_ref
    listed = await stub.ListImages(pb.ListImagesRequest())
    assert [i.id for i in listed.images] == [pulled.image_ref]
    info = await stub.ImageFsInfo(pb.ImageFsInfoRequest())
    assert info.image_filesystems[0].used_bytes.value > 0
    await stub.RemoveImage(pb.RemoveImageRequest(image=spec(image=ref)))
    await stub.RemoveImage(pb.RemoveImageRequest(image=spec(image=ref)))
    absent = await stub.ImageStatus(pb.ImageStatusRequest(image=spec(image=ref)))
    assert not absent.HasField("image")


PULLER = """
import asyncio, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from pycri.cri.images.config import ImageConfig
from pycri.cri.images.manager import ImageManager
from pycri.cri.store import Store

async def main():
    manager = ImageManager(Store(Path({root!r}) / "meta.db"), ImageConfig(state_root=Path({root!r})))
    await manager.pull({ref!r})

asyncio.run(main())
"""


async def test_kill_mid_pull_leaves_nothing_after_restart(make_service, registry, tmp_path):
    ref = registry.push(build_big_image(total_mb=40, layers=4), "crash/big", "v1")
    root = tmp_path / "root"
    proc = subprocess.Popen([sys.executable, "-c",
                             PULLER.format(repo=str(REPO), root=str(root), ref=ref)])
    try:
        deadline = time.monotonic() + 60
        ingest = root / "content" / "ingest"
        while time.monotonic() < deadline and proc.poll() is None:
            if ingest.is_dir() and any(p.stat().st_size > 1_000_000 for p in ingest.iterdir()):
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the pull ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    service = make_service()  # recovers like a daemon start
    manager = service.manager
    assert list((root / "content" / "ingest").iterdir()) == []
    assert all(s.kind == "committed" for s in manager.snapshotter.list())
    owned = {str(s.n) for s in manager.snapshotter.list()}
    assert {p.name for p in manager.snapshotter.root.iterdir()} == owned
    await manager.gc()
    assert manager.snapshotter.list() == [] and list(manager.content.digests()) == []
    record = await manager.pull(ref)
    assert len(record.layer_dirs) == 5
