"""Spot checks of the names and numbers kubelet and crictl depend on.

A wrong number here does not fail loudly anywhere else: kubelet would just see an
empty field. These pin the ones whose loss would break a node.
"""

from __future__ import annotations

import pytest

from pycri.api.cri import IMAGE_SERVICE, RUNTIME_SERVICE, pb, pb_grpc

FILE = pb.DESCRIPTOR

RUNTIME_RPCS = {
    "Version", "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus",
    "ListPodSandbox", "StreamPodSandboxes", "CreateContainer", "StartContainer",
    "StopContainer", "RemoveContainer", "ListContainers", "StreamContainers",
    "ContainerStatus", "UpdateContainerResources", "ReopenContainerLog", "ExecSync", "Exec",
    "Attach", "PortForward", "ContainerStats", "ListContainerStats", "StreamContainerStats",
    "PodSandboxStats", "ListPodSandboxStats", "StreamPodSandboxStats", "UpdateRuntimeConfig",
    "Status", "CheckpointContainer", "GetContainerEvents", "ListMetricDescriptors",
    "ListPodSandboxMetrics", "StreamPodSandboxMetrics", "RuntimeConfig",
    "UpdatePodSandboxResources",
}
IMAGE_RPCS = {
    "ListImages", "StreamImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo",
}
SERVER_STREAMING = {
    "StreamPodSandboxes", "StreamContainers", "StreamContainerStats", "StreamPodSandboxStats",
    "StreamPodSandboxMetrics", "GetContainerEvents", "StreamImages",
}


def numbers(message: str) -> dict[str, int]:
    return {f.name: f.number for f in FILE.message_types_by_name[message].fields}


def test_package_and_service_names() -> None:
    assert FILE.package == "runtime.v1"
    assert FILE.services_by_name["RuntimeService"].full_name == RUNTIME_SERVICE
    assert FILE.services_by_name["ImageService"].full_name == IMAGE_SERVICE


def test_every_rpc_is_there_and_nothing_else() -> None:
    runtime = FILE.services_by_name["RuntimeService"].methods_by_name
    image = FILE.services_by_name["ImageService"].methods_by_name
    assert set(runtime) == RUNTIME_RPCS
    assert len(runtime) == 35
    assert set(image) == IMAGE_RPCS
    assert len(image) == 6


def test_streaming_shape_of_each_rpc() -> None:
    for service in ("RuntimeService", "ImageService"):
        for method in FILE.services_by_name[service].methods:
            assert not method.client_streaming, method.name
            assert method.server_streaming == (method.name in SERVER_STREAMING), method.name


def test_events_rpc_uses_its_historical_message_names() -> None:
    method = FILE.services_by_name["RuntimeService"].methods_by_name["GetContainerEvents"]
    assert method.input_type.name == "GetEventsRequest"
    assert method.output_type.name == "ContainerEventResponse"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("PodSandboxConfig", {
            "metadata": 1, "hostname": 2, "log_directory": 3, "dns_config": 4,
            "port_mappings": 5, "labels": 6, "annotations": 7, "linux": 8, "windows": 9,
        }),
        ("PodSandboxMetadata", {"name": 1, "uid": 2, "namespace": 3, "attempt": 4}),
        ("ContainerConfig", {
            "metadata": 1, "image": 2, "command": 3, "args": 4, "working_dir": 5, "envs": 6,
            "mounts": 7, "devices": 8, "labels": 9, "annotations": 10, "log_path": 11,
            "stdin": 12, "stdin_once": 13, "tty": 14, "linux": 15, "windows": 16,
            "CDI_devices": 17, "stop_signal": 18,
        }),
        ("ImageSpec", {
            "image": 1, "annotations": 2, "user_specified_image": 18, "runtime_handler": 19,
            "image_ref": 20,
        }),
        ("Mount", {
            "container_path": 1, "host_path": 2, "readonly": 3, "selinux_relabel": 4,
            "propagation": 5, "uidMappings": 6, "gidMappings": 7, "recursive_read_only": 8,
            "image": 9, "image_sub_path": 10,
        }),
        ("NamespaceOption", {
            "network": 1, "pid": 2, "ipc": 3, "target_id": 4, "userns_options": 5,
        }),
        ("LinuxSandboxSecurityContext", {
            "namespace_options": 1, "selinux_options": 2, "run_as_user": 3,
            "readonly_rootfs": 4, "supplemental_groups": 5, "privileged": 6,
            "seccomp_profile_path": 7, "run_as_group": 8, "seccomp": 9, "apparmor": 10,
            "supplemental_groups_policy": 11,
        }),
        ("LinuxContainerSecurityContext", {
            "capabilities": 1, "privileged": 2, "namespace_options": 3, "selinux_options": 4,
            "run_as_user": 5, "run_as_username": 6, "readonly_rootfs": 7,
            "supplemental_groups": 8, "apparmor_profile": 9, "seccomp_profile_path": 10,
            "no_new_privs": 11, "run_as_group": 12, "masked_paths": 13, "readonly_paths": 14,
            "seccomp": 15, "apparmor": 16, "supplemental_groups_policy": 17,
        }),
        ("LinuxContainerResources", {
            "cpu_period": 1, "cpu_quota": 2, "cpu_shares": 3, "memory_limit_in_bytes": 4,
            "oom_score_adj": 5, "cpuset_cpus": 6, "cpuset_mems": 7, "hugepage_limits": 8,
            "unified": 9, "memory_swap_limit_in_bytes": 10,
        }),
        ("ContainerStatus", {
            "id": 1, "metadata": 2, "state": 3, "created_at": 4, "started_at": 5,
            "finished_at": 6, "exit_code": 7, "image": 8, "image_ref": 9, "reason": 10,
            "message": 11, "labels": 12, "annotations": 13, "mounts": 14, "log_path": 15,
            "resources": 16, "image_id": 17, "user": 18, "stop_signal": 19,
        }),
        ("PodSandboxStatusResponse", {
            "status": 1, "info": 2, "containers_statuses": 3, "timestamp": 4,
        }),
        ("Container", {
            "id": 1, "pod_sandbox_id": 2, "metadata": 3, "image": 4, "image_ref": 5,
            "state": 6, "created_at": 7, "labels": 8, "annotations": 9, "image_id": 10,
        }),
        ("UserNamespace", {"mode": 1, "uids": 2, "gids": 3}),
        ("IDMapping", {"host_id": 1, "container_id": 2, "length": 3}),
        ("StreamPodSandboxesResponse", {"pod_sandboxes": 1}),
        ("StreamContainersResponse", {"containers": 1}),
        ("StreamImagesResponse", {"images": 1}),
        ("UpdatePodSandboxResourcesRequest", {"pod_sandbox_id": 1, "overhead": 2, "resources": 3}),
        ("ExecRequest", {
            "container_id": 1, "cmd": 2, "tty": 3, "stdin": 4, "stdout": 5, "stderr": 6,
            "audit_request_id": 7,
        }),
    ],
)
def test_field_numbers(message: str, expected: dict[str, int]) -> None:
    assert numbers(message) == expected


def test_stream_responses_carry_lists() -> None:
    field = FILE.message_types_by_name["StreamContainersResponse"].fields_by_name["containers"]
    assert field.is_repeated
    assert field.message_type.name == "Container"


@pytest.mark.parametrize(
    ("enum", "expected"),
    [
        ("ContainerState", {
            "CONTAINER_CREATED": 0, "CONTAINER_RUNNING": 1, "CONTAINER_EXITED": 2,
            "CONTAINER_UNKNOWN": 3,
        }),
        ("PodSandboxState", {"SANDBOX_READY": 0, "SANDBOX_NOTREADY": 1}),
        ("NamespaceMode", {"POD": 0, "CONTAINER": 1, "NODE": 2, "TARGET": 3}),
        ("CgroupDriver", {"SYSTEMD": 0, "CGROUPFS": 1}),
        ("ContainerEventType", {
            "CONTAINER_CREATED_EVENT": 0, "CONTAINER_STARTED_EVENT": 1,
            "CONTAINER_STOPPED_EVENT": 2, "CONTAINER_DELETED_EVENT": 3,
        }),
        ("MountPropagation", {
            "PROPAGATION_PRIVATE": 0, "PROPAGATION_HOST_TO_CONTAINER": 1,
            "PROPAGATION_BIDIRECTIONAL": 2,
        }),
    ],
)
def test_enum_values(enum: str, expected: dict[str, int]) -> None:
    values = {v.name: v.number for v in FILE.enum_types_by_name[enum].values}
    assert values == expected


def test_signal_enum_ends_at_sigrtmax() -> None:
    values = {v.name: v.number for v in FILE.enum_types_by_name["Signal"].values}
    assert len(values) == 66
    assert values["RUNTIME_DEFAULT"] == 0
    assert values["SIGKILL"] == 13
    assert values["SIGTERM"] == 23
    assert values["SIGRTMAX"] == 65


def test_bytes_on_the_wire() -> None:
    # Field 1 (metadata, length-delimited) holding field 1 (name) = "x".
    config = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="x"))
    assert config.SerializeToString() == b"\x0a\x03\x0a\x01x"
    # ImageSpec.user_specified_image is field 18: tag (18 << 3 | 2) = 146 = 0x92 0x01.
    spec = pb.ImageSpec(user_specified_image="a")
    assert spec.SerializeToString() == b"\x92\x01\x01a"


def test_grpc_method_paths() -> None:
    # kubelet dials these exact paths; the stub derives them from the service name.
    with open(pb_grpc.__file__) as fh:
        text = fh.read()
    assert "'/runtime.v1.RuntimeService/RunPodSandbox'" in text
    assert "'/runtime.v1.ImageService/PullImage'" in text
    assert "'/runtime.v1.RuntimeService/StreamContainers'" in text
