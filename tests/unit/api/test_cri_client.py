"""CriClient against an in-process fake CRI server on a unix socket."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from pycri.api.cri import pb, pb_grpc
from pycri.cri.client import CriClient, grpc_target


class FakeRuntime(pb_grpc.RuntimeServiceServicer):
    def __init__(self) -> None:
        self.requests: list[Any] = []

    def Version(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return pb.VersionResponse(
            version=request.version, runtime_name="fake", runtime_version="0.0.1",
            runtime_api_version="v1",
        )

    def RunPodSandbox(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return pb.RunPodSandboxResponse(pod_sandbox_id="pod-" + request.config.metadata.name)

    def StopPodSandbox(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return pb.StopPodSandboxResponse()

    def ListPodSandbox(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return pb.ListPodSandboxResponse(items=[pb.PodSandbox(id="a"), pb.PodSandbox(id="b")])

    def StreamContainers(self, request: Any, context: Any) -> Iterator[Any]:
        self.requests.append(request)
        yield pb.StreamContainersResponse(containers=[pb.Container(id="c1"), pb.Container(id="c2")])
        yield pb.StreamContainersResponse(containers=[pb.Container(id="c3")])

    def CreateContainer(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return pb.CreateContainerResponse(container_id="ctr-" + request.config.metadata.name)

    def ExecSync(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return pb.ExecSyncResponse(stdout=" ".join(request.cmd).encode(), exit_code=3)

    def ContainerStatus(self, request: Any, context: Any) -> Any:
        context.abort(grpc.StatusCode.NOT_FOUND, f"container `{request.container_id}`: not found")


class FakeImages(pb_grpc.ImageServiceServicer):
    def __init__(self) -> None:
        self.requests: list[Any] = []

    def PullImage(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return pb.PullImageResponse(image_ref="sha256:" + "ab" * 32)

    def ImageStatus(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return pb.ImageStatusResponse()

    def ListImages(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return pb.ListImagesResponse(images=[pb.Image(id="i1", repo_tags=["busybox:latest"])])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[CriClient, FakeRuntime, FakeImages]]:
    sock = tmp_path / "cri.sock"
    runtime, images = FakeRuntime(), FakeImages()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_RuntimeServiceServicer_to_server(runtime, server)
    pb_grpc.add_ImageServiceServicer_to_server(images, server)
    server.add_insecure_port(f"unix://{sock}")
    server.start()
    client = CriClient(f"unix://{sock}", timeout=30)
    try:
        client.wait_ready(timeout=30)
        yield client, runtime, images
    finally:
        client.close()
        server.stop(grace=None).wait()


def test_grpc_target_accepts_bare_paths() -> None:
    assert grpc_target("/run/x.sock") == "unix:///run/x.sock"
    assert grpc_target("unix:///run/x.sock") == "unix:///run/x.sock"


def test_version_sends_the_api_version(served: Any) -> None:
    client, runtime, _ = served
    response = client.version()
    assert response.runtime_name == "fake"
    assert runtime.requests[-1].version == "v1"


def test_pod_helpers(served: Any) -> None:
    client, runtime, _ = served
    config = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="web", uid="u1"))
    assert client.run_pod_sandbox(config, handler="runc") == "pod-web"
    assert runtime.requests[-1].runtime_handler == "runc"
    client.stop_pod_sandbox("pod-web")
    assert runtime.requests[-1].pod_sandbox_id == "pod-web"
    assert [p.id for p in client.list_pod_sandboxes()] == ["a", "b"]


def test_container_helpers(served: Any) -> None:
    client, runtime, _ = served
    pod = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="web"))
    ctr = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="app"))
    assert client.create_container("pod-web", ctr, pod) == "ctr-app"
    assert runtime.requests[-1].sandbox_config.metadata.name == "web"
    result = client.exec_sync("ctr-app", ["echo", "hi"], timeout=5)
    assert (result.stdout, result.exit_code) == (b"echo hi", 3)
    assert runtime.requests[-1].timeout == 5


def test_streamed_list_flattens_chunks(served: Any) -> None:
    client, _, _ = served
    assert [c.id for c in client.stream_containers()] == ["c1", "c2", "c3"]


def test_errors_keep_their_grpc_status(served: Any) -> None:
    client, _, _ = served
    with pytest.raises(grpc.RpcError) as info:
        client.container_status("nope")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_unimplemented_rpc_reports_unimplemented(served: Any) -> None:
    client, _, _ = served
    with pytest.raises(grpc.RpcError) as info:
        client.status()
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_image_helpers(served: Any) -> None:
    client, _, images = served
    assert client.pull_image("busybox").startswith("sha256:")
    assert images.requests[-1].image.image == "busybox"
    assert not client.image_status("absent").HasField("image")
    assert [i.id for i in client.list_images("busybox")] == ["i1"]
    assert images.requests[-1].filter.image.image == "busybox"
