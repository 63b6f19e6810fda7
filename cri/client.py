"""A thin CRI v1 client for tests, benchmarks and humans at a Python prompt.

    with CriClient("unix:///run/pycri/pycri.sock") as cri:
        pod_id = cri.run_pod_sandbox(pod_config)
        cid = cri.create_container(pod_id, container_config, pod_config)

`runtime` and `image` are the raw generated stubs for anything the helpers do not cover.
gRPC errors are not translated: callers see `grpc.RpcError` with the runtime's status code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import TracebackType

import grpc

from pycri.api.cri import CRI_API_VERSION, pb, pb_grpc

DEFAULT_ENDPOINT = "unix:///run/pycri/pycri.sock"
# kubelet raises its limit to 16 MiB; the daemon may answer that much.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Added to a call's own duration (exec timeout, stop grace) so the gRPC deadline does not
# fire before the runtime had its chance to answer.
_DEADLINE_SLACK_S = 10.0


def grpc_target(endpoint: str) -> str:
    """Turn `unix:///p`, `unix:/p` or a bare socket path into a gRPC target."""
    if endpoint.startswith("/"):
        return f"unix://{endpoint}"
    return endpoint


class CriClient:
    """One gRPC channel to a CRI endpoint with `runtime` and `image` stubs."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, timeout: float = 120) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._channel = grpc.insecure_channel(
            grpc_target(endpoint),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        self.runtime = pb_grpc.RuntimeServiceStub(self._channel)
        self.image = pb_grpc.ImageServiceStub(self._channel)

    # -- lifecycle -----------------------------------------------------------------------

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until the channel connects; raises `grpc.FutureTimeoutError` otherwise."""
        grpc.channel_ready_future(self._channel).result(timeout=timeout)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> CriClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- runtime -------------------------------------------------------------------------

    def version(self, api_version: str = CRI_API_VERSION) -> pb.VersionResponse:
        return self.runtime.Version(pb.VersionRequest(version=api_version), timeout=self.timeout)

    def status(self, verbose: bool = False) -> pb.StatusResponse:
        return self.runtime.Status(pb.StatusRequest(verbose=verbose), timeout=self.timeout)

    def runtime_config(self) -> pb.RuntimeConfigResponse:
        return self.runtime.RuntimeConfig(pb.RuntimeConfigRequest(), timeout=self.timeout)

    # -- pod sandboxes -------------------------------------------------------------------

    def run_pod_sandbox(self, config: pb.PodSandboxConfig, handler: str = "") -> str:
        request = pb.RunPodSandboxRequest(config=config, runtime_handler=handler)
        return self.runtime.RunPodSandbox(request, timeout=self.timeout).pod_sandbox_id

    def stop_pod_sandbox(self, pod_id: str) -> None:
        request = pb.StopPodSandboxRequest(pod_sandbox_id=pod_id)
        self.runtime.StopPodSandbox(request, timeout=self.timeout)

    def remove_pod_sandbox(self, pod_id: str) -> None:
        request = pb.RemovePodSandboxRequest(pod_sandbox_id=pod_id)
        self.runtime.RemovePodSandbox(request, timeout=self.timeout)

    def pod_sandbox_status(
        self, pod_id: str, verbose: bool = False
    ) -> pb.PodSandboxStatusResponse:
        request = pb.PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=verbose)
        return self.runtime.PodSandboxStatus(request, timeout=self.timeout)

    def list_pod_sandboxes(
        self, filter: pb.PodSandboxFilter | None = None
    ) -> list[pb.PodSandbox]:
        request = pb.ListPodSandboxRequest(filter=filter)
        return list(self.runtime.ListPodSandbox(request, timeout=self.timeout).items)

    def stream_pod_sandboxes(
        self, filter: pb.PodSandboxFilter | None = None
    ) -> Iterator[pb.PodSandbox]:
        """The streamed list: yields sandboxes as the runtime sends its chunks."""
        request = pb.StreamPodSandboxesRequest(filter=filter)
        for chunk in self.runtime.StreamPodSandboxes(request, timeout=self.timeout):
            yield from chunk.pod_sandboxes

    # -- containers ----------------------------------------------------------------------

    def create_container(
        self,
        pod_id: str,
        config: pb.ContainerConfig,
        sandbox_config: pb.PodSandboxConfig,
    ) -> str:
        request = pb.CreateContainerRequest(
            pod_sandbox_id=pod_id, config=config, sandbox_config=sandbox_config
        )
        return self.runtime.CreateContainer(request, timeout=self.timeout).container_id

    def start_container(self, container_id: str) -> None:
        request = pb.StartContainerRequest(container_id=container_id)
        self.runtime.StartContainer(request, timeout=self.timeout)

    def stop_container(self, container_id: str, timeout: int = 0) -> None:
        """Stop with `timeout` seconds of grace before the runtime kills."""
        request = pb.StopContainerRequest(container_id=container_id, timeout=timeout)
        self.runtime.StopContainer(request, timeout=self._deadline(timeout))

    def remove_container(self, container_id: str) -> None:
        request = pb.RemoveContainerRequest(container_id=container_id)
        self.runtime.RemoveContainer(request, timeout=self.timeout)

    def list_containers(self, filter: pb.ContainerFilter | None = None) -> list[pb.Container]:
        request = pb.ListContainersRequest(filter=filter)
        return list(self.runtime.ListContainers(request, timeout=self.timeout).containers)

    def stream_containers(
        self, filter: pb.ContainerFilter | None = None
    ) -> Iterator[pb.Container]:
        request = pb.StreamContainersRequest(filter=filter)
        for chunk in self.runtime.StreamContainers(request, timeout=self.timeout):
            yield from chunk.containers

    def container_status(
        self, container_id: str, verbose: bool = False
    ) -> pb.ContainerStatusResponse:
        request = pb.ContainerStatusRequest(container_id=container_id, verbose=verbose)
        return self.runtime.ContainerStatus(request, timeout=self.timeout)

    def exec_sync(
        self, container_id: str, cmd: Sequence[str], timeout: int = 0
    ) -> pb.ExecSyncResponse:
        """Run `cmd` to completion; `timeout` seconds (0: none) is enforced by the runtime."""
        request = pb.ExecSyncRequest(container_id=container_id, cmd=list(cmd), timeout=timeout)
        return self.runtime.ExecSync(request, timeout=self._deadline(timeout))

    def reopen_container_log(self, container_id: str) -> None:
        request = pb.ReopenContainerLogRequest(container_id=container_id)
        self.runtime.ReopenContainerLog(request, timeout=self.timeout)

    def container_stats(self, container_id: str) -> pb.ContainerStats:
        request = pb.ContainerStatsRequest(container_id=container_id)
        return self.runtime.ContainerStats(request, timeout=self.timeout).stats

    def list_container_stats(
        self, filter: pb.ContainerStatsFilter | None = None
    ) -> list[pb.ContainerStats]:
        request = pb.ListContainerStatsRequest(filter=filter)
        return list(self.runtime.ListContainerStats(request, timeout=self.timeout).stats)

    # -- images --------------------------------------------------------------------------

    def pull_image(
        self,
        image: str,
        auth: pb.AuthConfig | None = None,
        sandbox_config: pb.PodSandboxConfig | None = None,
    ) -> str:
        """Pull `image` and return its image_ref (the image ID)."""
        request = pb.PullImageRequest(
            image=pb.ImageSpec(image=image), auth=auth, sandbox_config=sandbox_config
        )
        return self.image.PullImage(request, timeout=self.timeout).image_ref

    def image_status(self, image: str, verbose: bool = False) -> pb.ImageStatusResponse:
        """Status of `image`; an absent image gives a response without `image` set."""
        request = pb.ImageStatusRequest(image=pb.ImageSpec(image=image), verbose=verbose)
        return self.image.ImageStatus(request, timeout=self.timeout)

    def list_images(self, image: str = "") -> list[pb.Image]:
        """All images, or only those matching `image` when given."""
        filter = pb.ImageFilter(image=pb.ImageSpec(image=image)) if image else None
        request = pb.ListImagesRequest(filter=filter)
        return list(self.image.ListImages(request, timeout=self.timeout).images)

    def remove_image(self, image: str) -> None:
        request = pb.RemoveImageRequest(image=pb.ImageSpec(image=image))
        self.image.RemoveImage(request, timeout=self.timeout)

    def image_fs_info(self) -> pb.ImageFsInfoResponse:
        return self.image.ImageFsInfo(pb.ImageFsInfoRequest(), timeout=self.timeout)

    # -- helpers -------------------------------------------------------------------------

    def _deadline(self, call_seconds: int) -> float:
        if call_seconds <= 0:
            return self.timeout
        return max(self.timeout, call_seconds + _DEADLINE_SLACK_S)
