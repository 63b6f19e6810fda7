"""Auth, mirrors and faults: 5xx, cut and stalled transfers, corrupt blobs, refused connections."""

from __future__ import annotations

import base64

import pytest

from pycri.api.cri import pb
from pycri.cri.errors import DeadlineExceeded, Unauthenticated, Unavailable
from pycri.cri.images.content import DigestMismatch
from pycri.cri.images.service import ImageService
from tests.fixtures.faulty import FaultyProxy
from tests.fixtures.images import build_busybox_image, build_layered_image
from tests.fixtures.plugin import TEST_USERS
from tests.fixtures.registry import free_port

pytestmark = pytest.mark.root
LAYERED = build_layered_image()
BIG_LAYER = LAYERED.layers[0]  # busybox, about a megabyte


async def pull(service: ImageService, ref: str, **auth: str) -> str:
    request = pb.PullImageRequest(image=pb.ImageSpec(image=ref))
    if auth:
        request.auth.CopyFrom(pb.AuthConfig(**auth))
    return str((await service.PullImage(request, None)).image_ref)


def assert_nothing_partial(service: ImageService) -> None:
    manager = service.manager
    assert list((manager.content.root / "ingest").iterdir()) in ([],) or all(
        p.name.startswith("sha256-") for p in (manager.content.root / "ingest").iterdir())
    assert all(s.kind == "committed" for s in manager.snapshotter.list())
    assert manager.images.list() == []


@pytest.fixture
def proxy(registry):
    with FaultyProxy(registry.url) as faulty:
        yield faulty


@pytest.fixture(scope="module")
def layered_repo(registry):
    registry.push(LAYERED, "faults/layered", "v1")
    return "faults/layered:v1"


async def test_basic_auth(service, auth_registry):
    user, password = next(iter(TEST_USERS.items()))
    ref = auth_registry.push(build_busybox_image(), "private/busybox", "v1")
    with pytest.raises(Unauthenticated, match="requires authentication"):
        await pull(service, ref)
    with pytest.raises(Unauthenticated, match="refused the credentials"):
        await pull(service, ref, username=user, password="wrong")
    assert await pull(service, ref, username=user, password=password)
    await service.RemoveImage(pb.RemoveImageRequest(image=pb.ImageSpec(image=ref)), None)
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert await pull(service, ref, auth=encoded)


async def test_connection_refused_is_unavailable(service):
    with pytest.raises(Unavailable, match="connection refused"):
        await pull(service, f"127.0.0.1:{free_port()}/test/busybox:latest")


async def test_cut_transfer_resumes_with_range(service, proxy, layered_repo):
    proxy.fault(BIG_LAYER.digest, "cut", times=2)
    image_id = await pull(service, f"{proxy.host}/{layered_repo}")
    assert image_id == LAYERED.id
    ranges = [r for (_, path, r) in proxy.requests if BIG_LAYER.digest in path and r]
    assert ranges and all(r.startswith("bytes=") and not r.startswith("bytes=0-") for r in ranges)


async def test_server_errors_then_success_on_retry(service, proxy, layered_repo):
    proxy.fault(BIG_LAYER.digest, "500")
    with pytest.raises(Unavailable, match="HTTP 500"):
        await pull(service, f"{proxy.host}/{layered_repo}")
    assert_nothing_partial(service)
    proxy.clear()
    assert await pull(service, f"{proxy.host}/{layered_repo}") == LAYERED.id


async def test_transient_server_error_is_retried(service, proxy, layered_repo):
    proxy.fault("/manifests/", "500", times=1)
    proxy.fault(BIG_LAYER.digest, "500", times=1)
    assert await pull(service, f"{proxy.host}/{layered_repo}") == LAYERED.id


async def test_stalled_transfer_hits_progress_deadline(make_service, proxy, layered_repo):
    service = make_service(pull_progress_timeout=1.0)
    proxy.fault(BIG_LAYER.digest, "stall", times=1)
    with pytest.raises(DeadlineExceeded, match="no progress"):
        await pull(service, f"{proxy.host}/{layered_repo}")
    assert_nothing_partial(service)
    # The retry resumes from the bytes that did arrive.
    assert await pull(service, f"{proxy.host}/{layered_repo}") == LAYERED.id
    assert any(r for (_, path, r) in proxy.requests if BIG_LAYER.digest in path)


async def test_corrupt_blob_stores_nothing(service, proxy, layered_repo):
    proxy.fault(BIG_LAYER.digest, "corrupt")
    with pytest.raises(DigestMismatch):
        await pull(service, f"{proxy.host}/{layered_repo}")
    manager = service.manager
    assert not manager.content.has(BIG_LAYER.digest)
    # Other layers' partial downloads may stay for a resume; the bad bytes may not.
    assert not manager.content.ingest_path(BIG_LAYER.digest).exists()
    assert manager.images.list() == []
    proxy.clear()
    assert await pull(service, f"{proxy.host}/{layered_repo}") == LAYERED.id


async def test_mirror_fallback_in_order(make_service, proxy, registry, layered_repo, tmp_path):
    dead = f"127.0.0.1:{free_port()}"
    upstream = "registry.invalid"
    hosts = tmp_path / "certs.d" / upstream
    hosts.mkdir(parents=True)
    (hosts / "hosts.toml").write_text(
        f'server = "http://{dead}"\n\n'
        f'[host."http://{dead}"]\n  capabilities = ["pull", "resolve"]\n\n'
        f'[host."http://{proxy.host}"]\n  capabilities = ["pull", "resolve"]\n'
    )
    service = make_service()
    assert await pull(service, f"{upstream}/{layered_repo}") == LAYERED.id
    assert any("/manifests/v1" in path for (_, path, _) in proxy.requests)


async def test_server_ignoring_range_restarts_and_unpacks_from_the_blob(service, proxy,
                                                                        layered_repo):
    proxy.fault(BIG_LAYER.digest, "cut", times=1)
    proxy.fault(BIG_LAYER.digest, "norange")
    record = await service.manager.pull(f"{proxy.host}/{layered_repo}")
    assert record.id == LAYERED.id
    assert (record.layer_dirs[0] / "bin/busybox").stat().st_size > 500_000
    assert all(s.kind == "committed" for s in service.manager.snapshotter.list())


async def test_hostile_layer_is_refused_and_leaves_nothing(service, registry, tmp_path):
    import tarfile

    from tests.fixtures.images import LayerBuilder, build_image, busybox_layer

    evil = tarfile.TarInfo("../../escaped")
    evil.size = 4
    hostile = LayerBuilder().raw(evil, b"evil").build()
    image = build_image([busybox_layer(), hostile])
    ref = registry.push(image, "faults/hostile", "v1")
    from pycri.cri.images.unpack import LayerError

    with pytest.raises(LayerError, match="escapes the layer"):
        await pull(service, ref)
    manager = service.manager
    assert manager.images.list() == []
    assert all(s.kind == "committed" for s in manager.snapshotter.list())
    assert not (manager.snapshotter.root.parent / "escaped").exists()
    assert not (manager.snapshotter.root / "escaped").exists()
