"""critest's Image Manager, Image Consistency and Image Identifier Consistency suites, and
its RemoveImage idempotence case, re-done over our client against local registries.

critest pulls its own small test images; here every case pushes a busybox image with its own
label, so no two cases (nor the `cri` fixture's busybox) share an image ID."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from pycri.api.cri import pb
from tests.e2e.cri_env import CriEnv
from tests.e2e.critest_helpers import exec_ok, running, sandbox, start
from tests.fixtures.images import Image, build_busybox_image
from tests.fixtures.registry import LocalRegistry

pytestmark = pytest.mark.root


def _image(name: str, **config: Any) -> Image:
    return build_busybox_image(labels={"critest-case": name}, **config)


def _status(cri: CriEnv, ref: str) -> Any:
    reply = cri.client.image_status(ref)
    return reply.image if reply.HasField("image") else None


def _remove(cri: CriEnv, ref: str) -> None:
    """critest's removeImage: look the image up, remove it by ID if present."""
    found = _status(cri, ref)
    if found is not None:
        cri.client.remove_image(found.id)


@pytest.fixture(scope="module")
def other_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    with LocalRegistry(tmp_path_factory.mktemp("registry2")) as reg:
        yield reg


# -- Image Manager -------------------------------------------------------------------------

def _pull_check_remove(cri: CriEnv, ref: str) -> Any:
    _remove(cri, ref)
    cri.client.pull_image(ref)
    status = _status(cri, ref)
    assert status is not None and status.id and status.size
    _remove(cri, ref)
    assert _status(cri, ref) is None
    return status


def test_pull_with_tag(cri: CriEnv, registry: LocalRegistry) -> None:
    ref = registry.push(_image("tag"), "critest/test-image-tag", "test")
    assert list(_pull_check_remove(cri, ref).repo_tags) == [ref]


def test_pull_without_tag(cri: CriEnv, registry: LocalRegistry) -> None:
    registry.push(_image("latest"), "critest/test-image-latest", "latest")
    ref = f"{registry.host}/critest/test-image-latest"
    assert list(_pull_check_remove(cri, ref).repo_tags) == [ref + ":latest"]


def test_pull_with_digest(cri: CriEnv, registry: LocalRegistry) -> None:
    image = _image("digest")
    registry.push(image, "critest/test-image-digest", "only-for-upload")
    ref = f"{registry.host}/critest/test-image-digest@{image.digest}"
    status = _pull_check_remove(cri, ref)
    assert list(status.repo_tags) == []
    assert list(status.repo_digests) == [ref]


def test_pull_times_out_when_asked(cri: CriEnv, registry: LocalRegistry) -> None:
    ref = registry.push(_image("timeout"), "critest/test-image-timeout", "test")
    request = pb.PullImageRequest(image=pb.ImageSpec(image=ref))
    with pytest.raises(grpc.RpcError) as caught:
        cri.client.image.PullImage(request, timeout=0.001)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The abandoned pull must not get in the way of the next one.
    assert cri.client.pull_image(ref)
    _remove(cri, ref)


def test_image_status_by_every_reference(cri: CriEnv, registry: LocalRegistry) -> None:
    ref = registry.push(_image("all"), "critest/test-image-tag", "all")
    _remove(cri, ref)
    cri.client.pull_image(ref)
    status = _status(cri, ref)
    assert status is not None
    assert _status(cri, status.id) == status
    for name in [*status.repo_tags, *status.repo_digests]:
        assert _status(cri, name) == status, name
    _remove(cri, ref)
    assert _status(cri, ref) is None


@pytest.mark.parametrize(("user", "uid", "username"), [
    ("1002", 1002, ""),
    ("www-data", 0, "www-data"),
    ("1003:1003", 1003, ""),
    ("www-data:www-data", 0, "www-data"),
])
def test_image_status_user(cri: CriEnv, registry: LocalRegistry, user: str, uid: int,
                           username: str) -> None:
    ref = registry.push(_image(f"user-{user}", user=user), "critest/test-image-user",
                        user.replace(":", "-"))
    cri.client.pull_image(ref)
    try:
        status = _status(cri, ref)
        assert status.uid.value == uid
        assert status.username == username
    finally:
        _remove(cri, ref)


def test_list_three_different_images(cri: CriEnv, registry: LocalRegistry) -> None:
    refs = [registry.push(_image(f"list-{n}"), f"critest/test-image-{n}", "latest")
            for n in (1, 2, 3)]
    for ref in refs:
        _remove(cri, ref)
    ids = [cri.client.pull_image(ref) for ref in refs]
    try:
        assert len(set(ids)) == 3
        by_id = {i.id: i for i in cri.client.list_images()}
        for image_id, ref in zip(ids, refs, strict=True):
            assert list(by_id[image_id].repo_tags) == [ref]
    finally:
        for ref in refs:
            _remove(cri, ref)


def test_list_one_image_with_three_tags(cri: CriEnv, registry: LocalRegistry) -> None:
    image = _image("tags")
    refs = sorted(registry.push(image, "critest/test-image-tags", tag) for tag in "123")
    for ref in refs:
        _remove(cri, ref)
    ids = {cri.client.pull_image(ref) for ref in refs}
    try:
        assert len(ids) == 1
        (image_id,) = ids
        listed = [i for i in cri.client.list_images() if i.id == image_id]
        assert len(listed) == 1 and sorted(listed[0].repo_tags) == refs
    finally:
        _remove(cri, refs[0])


# -- Image Consistency ---------------------------------------------------------------------

def _tagged(cri: CriEnv, ref: str) -> bool:
    return any(ref in i.repo_tags for i in cri.client.list_images())


def test_removed_image_is_gone_at_once(cri: CriEnv, registry: LocalRegistry) -> None:
    ref = registry.push(_image("consistency"), "critest/test-image-tag", "consistency")
    _remove(cri, ref)
    cri.client.pull_image(ref)
    assert _tagged(cri, ref) and _status(cri, ref) is not None
    streamed = [i for chunk in cri.client.image.StreamImages(
        pb.StreamImagesRequest(filter=pb.ImageFilter(image=pb.ImageSpec(image=ref))),
        timeout=30) for i in chunk.images]
    assert [list(i.repo_tags) for i in streamed] == [[ref]]
    _remove(cri, ref)
    assert not _tagged(cri, ref)
    assert _status(cri, ref) is None


def test_simultaneous_removes_all_succeed(cri: CriEnv, registry: LocalRegistry) -> None:
    ref = registry.push(_image("concurrent"), "critest/test-image-tag", "concurrent")
    image_id = cri.client.pull_image(ref)
    results: list[tuple[BaseException | None, bool]] = []
    lock = threading.Lock()

    def remove() -> None:
        error: BaseException | None = None
        try:
            cri.client.remove_image(image_id)
        except grpc.RpcError as exc:
            error = exc
        found = _status(cri, image_id) is not None
        with lock:
            results.append((error, found))

    threads = [threading.Thread(target=remove) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [(None, False)] * 5
    assert _status(cri, image_id) is None


def test_remove_absent_image_twice(cri: CriEnv) -> None:
    absent = "0" * 64
    cri.client.remove_image(absent)
    cri.client.remove_image(absent)


# -- Image Identifier Consistency ----------------------------------------------------------

def _container_image_ids(cri: CriEnv, pulled: str, name: str) -> tuple[str, str]:
    with sandbox(cri, "id-consistency-") as pod:
        config = cri.container_config("id-consistency", ["sleep", "300"], image=pulled)
        config.image.user_specified_image = name
        container_id = cri.client.create_container(pod[0], config, pod[1])
        cri.client.start_container(container_id)
        status = cri.client.container_status(container_id).status
        listed = cri.client.list_containers(pb.ContainerFilter(id=container_id))
        assert len(listed) == 1
        return status.image_id, listed[0].image_id


def test_one_image_id_across_apis(cri: CriEnv, registry: LocalRegistry) -> None:
    ref = registry.push(_image("id"), "critest/test-image-tag", "id")
    image_ref = cri.client.pull_image(ref)
    try:
        assert image_ref and _status(cri, ref).id == image_ref
        assert _container_image_ids(cri, image_ref, ref) == (image_ref, image_ref)
    finally:
        _remove(cri, ref)


def test_one_image_id_across_registries(cri: CriEnv, registry: LocalRegistry,
                                        other_registry: LocalRegistry) -> None:
    image = _image("two-registries")
    refs = [reg.push(image, "critest/test-image-tag", "same")
            for reg in (registry, other_registry)]
    first, second = (cri.client.pull_image(ref) for ref in refs)
    try:
        assert first == second
        assert [_status(cri, ref).id for ref in refs] == [first, first]
        status_id, _ = _container_image_ids(cri, second, refs[1])
        assert status_id == first
    finally:
        _remove(cri, refs[0])
        _remove(cri, refs[1])


# -- in use, and the image filesystem ------------------------------------------------------

def test_pull_and_remove_of_an_image_in_use(cri: CriEnv, registry: LocalRegistry) -> None:
    ref = registry.push(_image("in-use"), "critest/test-image-tag", "in-use")
    image_id = cri.client.pull_image(ref)
    with sandbox(cri, "image-in-use-") as pod:
        container_id = start(cri, pod, "user-of-image", ["sleep", "300"], image=ref)
        running(cri, container_id)
        # Pulling again what a running container uses gives the same image, untouched.
        assert cri.client.pull_image(ref) == image_id
        assert exec_ok(cri, container_id, ["echo", "still"]) == "still\n"
        # kubelet's image GC only removes unused images, but a removal must not break
        # the container that still runs on it.
        _remove(cri, ref)
        assert exec_ok(cri, container_id, ["echo", "still"]) == "still\n"
    _remove(cri, ref)


def test_image_fs_info(cri: CriEnv) -> None:
    info = cri.client.image_fs_info()
    assert info.image_filesystems
    for usage in info.image_filesystems:
        assert usage.timestamp and usage.fs_id.mountpoint
        assert usage.used_bytes.value > 0 and usage.inodes_used.value > 0
