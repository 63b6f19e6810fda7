from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from pycri.api.cri import pb
from pycri.cri.errors import FailedPrecondition, InvalidArgument, NotFound
from pycri.cri.images.service import ImageService
from tests.fixtures.images import standard_images

pytestmark = pytest.mark.root
IMAGES = standard_images()


def spec(name: str) -> pb.ImageSpec:
    return pb.ImageSpec(image=name)


async def pull(service: ImageService, ref: str, **auth: str) -> str:
    request = pb.PullImageRequest(image=spec(ref))
    if auth:
        request.auth.CopyFrom(pb.AuthConfig(**auth))
    response = await service.PullImage(request, None)
    return str(response.image_ref)


async def status(service: ImageService, ref: str, verbose: bool = False) -> pb.ImageStatusResponse:
    return await service.ImageStatus(pb.ImageStatusRequest(image=spec(ref), verbose=verbose), None)


async def test_pull_records_id_tags_and_digests(service, pushed_images):
    ref = pushed_images["busybox:latest"]
    image_id = await pull(service, ref)
    assert image_id == IMAGES["busybox:latest"].id
    got = (await status(service, ref)).image
    assert got.id == image_id
    assert list(got.repo_tags) == [ref]
    repo = ref.rsplit(":", 1)[0]
    assert list(got.repo_digests) == [f"{repo}@{IMAGES['busybox:latest'].digest}"]
    assert got.size > 500_000
    assert (await status(service, image_id)).image.id == image_id
    assert (await status(service, image_id.removeprefix("sha256:"))).image.id == image_id
    assert (await status(service, got.repo_digests[0])).image.id == image_id


async def test_unpacked_rootfs_has_busybox_with_links_and_modes(service, pushed_images):
    record = await service.manager.pull(pushed_images["busybox:latest"])
    (fs,) = record.layer_dirs
    busybox = os.stat(fs / "bin/busybox")
    assert stat.S_IMODE(busybox.st_mode) == 0o755
    assert os.stat(fs / "bin/sh").st_ino == busybox.st_ino  # hardlink kept
    assert stat.S_IMODE(os.stat(fs / "tmp").st_mode) == 0o1777
    assert os.stat(fs / "home/app").st_uid == 1000
    assert int(os.stat(fs / "etc/passwd").st_mtime) == 1_700_000_000


async def test_image_status_of_absent_image_is_empty(service, registry):
    response = await status(service, f"{registry.host}/test/nothing:here")
    assert not response.HasField("image")


async def test_image_status_user_and_verbose(service, pushed_images):
    await pull(service, pushed_images["busybox:config"])
    await pull(service, pushed_images["busybox:user"])
    numeric = await status(service, pushed_images["busybox:config"], verbose=True)
    assert numeric.image.uid.value == 1000 and numeric.image.username == ""
    info = json.loads(numeric.info["info"])
    assert info["imageSpec"]["config"]["WorkingDir"] == "/home/app"
    assert info["imageSpec"]["config"]["Labels"] == {"org.pycri.test": "yes"}
    named = await status(service, pushed_images["busybox:user"])
    assert named.image.username == "app" and not named.image.HasField("uid")


async def test_list_images_with_filter(service, pushed_images):
    await pull(service, pushed_images["busybox:latest"])
    await pull(service, pushed_images["layered:latest"])
    listed = await service.ListImages(pb.ListImagesRequest(), None)
    assert len(listed.images) == 2
    only = await service.ListImages(
        pb.ListImagesRequest(filter=pb.ImageFilter(image=spec(pushed_images["layered:latest"]))),
        None,
    )
    assert [i.id for i in only.images] == [IMAGES["layered:latest"].id]


async def test_remove_by_tag_removes_all_tags_and_collects(service, pushed_images, registry):
    ref = pushed_images["busybox:latest"]
    docker_ref = pushed_images["busybox:docker"]  # same config, so the same image ID
    await pull(service, ref)
    await pull(service, docker_ref)
    got = (await status(service, ref)).image
    assert sorted(got.repo_tags) == sorted([ref, docker_ref])
    await service.RemoveImage(pb.RemoveImageRequest(image=spec(docker_ref)), None)
    assert not (await status(service, ref)).HasField("image")
    assert service.manager.snapshotter.list() == []
    assert list(service.manager.content.digests()) == []
    # Idempotent.
    await service.RemoveImage(pb.RemoveImageRequest(image=spec(ref)), None)
    await service.RemoveImage(pb.RemoveImageRequest(image=spec(got.id)), None)


async def test_remove_by_id_and_by_digest(service, pushed_images):
    image_id = await pull(service, pushed_images["busybox:latest"])
    await service.RemoveImage(pb.RemoveImageRequest(image=spec(image_id)), None)
    assert (await service.ListImages(pb.ListImagesRequest(), None)).images == []
    await pull(service, pushed_images["busybox:latest"])
    digest_ref = (await status(service, image_id)).image.repo_digests[0]
    await service.RemoveImage(pb.RemoveImageRequest(image=spec(digest_ref)), None)
    assert (await service.ListImages(pb.ListImagesRequest(), None)).images == []


async def test_shared_layers_survive_removal_of_one_image(service, pushed_images):
    await pull(service, pushed_images["busybox:latest"])
    await pull(service, pushed_images["layered:latest"])
    await service.RemoveImage(pb.RemoveImageRequest(image=spec(pushed_images["layered:latest"])),
                              None)
    record = await service.manager.resolve(pushed_images["busybox:latest"])
    assert (record.layer_dirs[0] / "bin/busybox").exists()
    assert len(service.manager.snapshotter.list()) == 1


async def test_pull_by_digest(service, pushed_images):
    repo = pushed_images["layered:latest"].rsplit(":", 1)[0]
    image = IMAGES["layered:latest"]
    image_id = await pull(service, f"{repo}@{image.digest}")
    assert image_id == image.id
    got = (await status(service, image_id)).image
    assert list(got.repo_tags) == [] and list(got.repo_digests) == [f"{repo}@{image.digest}"]


@pytest.mark.parametrize("tag", ["layered:latest", "layered:zstd"])
async def test_whiteouts_and_opaque_dirs(service, pushed_images, tag):
    record = await service.manager.pull(pushed_images[tag])
    _base, add, change = record.layer_dirs
    gone = os.stat(change / "data/gone", follow_symlinks=False)
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(change / "data/cache", "trusted.overlay.opaque") == b"y"
    assert (change / "data/cache/c").read_bytes() == b"c\n"
    assert not (change / "data/cache/.wh..wh..opq").exists()
    assert os.readlink(add / "data/link") == "keep"
    motd = os.stat(add / "etc/motd")
    assert (motd.st_uid, motd.st_gid, stat.S_IMODE(motd.st_mode)) == (1000, 1000, 0o600)


async def test_multiplatform_index_picks_node_platform(make_service, pushed_images):
    amd64 = make_service()
    record = await amd64.manager.pull(pushed_images["multiplatform:latest"])
    assert record.config["config"]["Labels"] == {"platform": "amd64"}
    assert record.index_digest == IMAGES["multiplatform:latest"].digest


async def test_multiplatform_variant(make_service, pushed_images, tmp_path):
    arm = make_service(platform="linux/arm64", state_root=tmp_path / "arm")
    record = await arm.manager.pull(pushed_images["multiplatform:latest"])
    assert record.config["config"]["Labels"] == {"platform": "arm64"}
    riscv = make_service(platform="linux/riscv64", state_root=tmp_path / "riscv")
    with pytest.raises(NotFound, match="no manifest for platform linux/riscv64"):
        await riscv.manager.pull(pushed_images["multiplatform:latest"])


async def test_unknown_repository_and_tag_are_not_found(service, registry, pushed_images):
    with pytest.raises(NotFound, match="not found"):
        await pull(service, f"{registry.host}/test/absent:latest")
    with pytest.raises(NotFound, match="not found"):
        await pull(service, pushed_images["busybox:latest"].rsplit(":", 1)[0] + ":nosuchtag")


async def test_malformed_reference_is_invalid_argument(service):
    for bad in ("Busybox", "busybox:bad tag", "a//b", "busybox@sha256:abc", ""):
        with pytest.raises(InvalidArgument):
            await pull(service, bad)


async def test_concurrent_pulls_share_one_download(service, pushed_images, monkeypatch):
    from pycri.cri.images.registry import RegistryClient

    calls: list[str] = []
    original = RegistryClient.fetch_blob

    async def counting(self, digest, ingest, sink=None):
        calls.append(digest)
        await original(self, digest, ingest, sink)

    monkeypatch.setattr(RegistryClient, "fetch_blob", counting)
    ref = pushed_images["layered:latest"]
    ids = await asyncio.gather(*(pull(service, ref) for _ in range(4)))
    assert len(set(ids)) == 1
    assert sorted(calls) == sorted(set(calls)) and len(calls) == 3


async def test_state_survives_restart_and_leftovers_are_cleaned(make_service, pushed_images,
                                                                 tmp_path):
    first = make_service()
    image_id = await pull(first, pushed_images["busybox:latest"])
    ingest = first.manager.content.root / "ingest" / ("sha256-" + "0" * 64)
    ingest.write_bytes(b"partial")
    fs = first.manager.snapshotter.begin_layer("sha256:" + "1" * 64, "", "")
    (fs / "half").write_bytes(b"x")
    stray = first.manager.snapshotter.root / "99"
    stray.mkdir()
    second = make_service()
    assert (await status(second, pushed_images["busybox:latest"])).image.id == image_id
    assert not ingest.exists() and not fs.exists() and not stray.exists()
    assert len(second.manager.snapshotter.list()) == 1


async def test_schema1_is_refused(service, registry):
    import httpx

    body = json.dumps({"schemaVersion": 1, "name": "test/old", "tag": "v1", "fsLayers": []})
    with httpx.Client(base_url=registry.url) as client:
        response = client.put("/v2/test/old/manifests/v1", content=body, headers={
            "Content-Type": "application/vnd.docker.distribution.manifest.v1+json"})
    if response.status_code >= 400:
        pytest.skip(f"registry refuses schema1 pushes ({response.status_code})")
    with pytest.raises(FailedPrecondition, match="schema 1"):
        await pull(service, f"{registry.host}/test/old:v1")


async def test_image_fs_info(service, pushed_images):
    await pull(service, pushed_images["layered:latest"])
    info = await service.ImageFsInfo(pb.ImageFsInfoRequest(), None)
    (image_fs,) = info.image_filesystems
    assert image_fs.used_bytes.value > 1_000_000 and image_fs.inodes_used.value > 20
    assert image_fs.fs_id.mountpoint.endswith("snapshots")
    assert len(info.container_filesystems) == 1


async def test_container_snapshot_mounts_and_keeps_layers(service, pushed_images):
    record = await service.manager.pull(pushed_images["layered:latest"])
    manager = service.manager
    mounts = manager.snapshotter.prepare("c1", record.id)
    assert mounts.lowerdirs == [str(p) for p in reversed(record.layer_dirs)]
    assert os.path.isdir(mounts.upperdir) and os.path.isdir(mounts.workdir)
    assert manager.images.users(record.id) == ["c1"]
    await service.RemoveImage(pb.RemoveImageRequest(image=spec(record.id)), None)
    # The container keeps its layers after the image is gone.
    assert all(os.path.isdir(d) for d in mounts.lowerdirs)
    assert manager.snapshotter.mounts("c1") == mounts
    Path(mounts.upperdir, "new").write_bytes(b"x" * 10000)
    used, inodes = manager.snapshotter.usage("c1")
    assert used >= 10000 and inodes == 1
    manager.snapshotter.remove("c1")
    await manager.gc()
    assert manager.snapshotter.list() == [] and not Path(mounts.upperdir).exists()
