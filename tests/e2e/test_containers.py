"""The CRI container lifecycle over the socket, as kubelet drives it."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from pycri.api.cri import pb
from tests.e2e.cri_env import CriEnv

pytestmark = pytest.mark.root

CAP_NET_RAW = 13
CAP_CHOWN = 0


@pytest.fixture
def pod(cri: CriEnv, request: pytest.FixtureRequest) -> Iterator[tuple[str, object]]:
    config = cri.pod_config(request.node.name[:40].replace("_", "-").strip("-").lower())
    sandbox_id = cri.client.run_pod_sandbox(config)
    try:
        yield sandbox_id, config
    finally:
        cri.client.stop_pod_sandbox(sandbox_id)
        cri.client.remove_pod_sandbox(sandbox_id)


def _start(cri: CriEnv, pod: tuple[str, object], name: str, command: list[str],
           **kwargs: object) -> str:
    sandbox_id, config = pod
    container_id = cri.client.create_container(
        sandbox_id, cri.container_config(name, command, **kwargs), config)
    cri.client.start_container(container_id)
    return container_id


def test_init_container_then_app_container(cri: CriEnv, pod: tuple[str, object],
                                           tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    mount = [pb.Mount(container_path="/shared", host_path=str(shared))]
    init = _start(cri, pod, "init", ["sh", "-c", "echo from-init > /shared/file"], mounts=mount)
    status = cri.wait_exit(init)
    assert (status.exit_code, status.reason) == (0, "Completed")
    app = _start(cri, pod, "app", ["sh", "-c", "cat /shared/file; sleep 300"], mounts=mount)
    out = cri.client.exec_sync(app, ["cat", "/shared/file"], timeout=10)
    assert out.stdout == b"from-init\n"
    listed = cri.client.list_containers(pb.ContainerFilter(pod_sandbox_id=pod[0]))
    assert {c.metadata.name for c in listed} == {"init", "app"}


def test_logs_are_in_cri_format_with_streams(cri: CriEnv, pod: tuple[str, object]) -> None:
    long_line = "head -c 20000 /dev/zero | tr '\\0' a; echo"
    container_id = _start(cri, pod, "logger", ["sh", "-c", f"echo out; echo err >&2; {long_line}"])
    status = cri.wait_exit(container_id)
    lines = Path(status.log_path).read_text().splitlines()
    pattern = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) (stdout|stderr) ([PF]) (.*)$")
    parsed = [pattern.match(line).groups()[1:] for line in lines]  # type: ignore[union-attr]
    assert ("stdout", "F", "out") in parsed
    assert ("stderr", "F", "err") in parsed
    long_parts = [(tag, len(text)) for stream, tag, text in parsed if text.startswith("aaa")]
    assert long_parts == [("P", 16384), ("F", 20000 - 16384)]


def test_exec_sync_exit_codes_and_streams(cri: CriEnv, pod: tuple[str, object]) -> None:
    container_id = _start(cri, pod, "sleeper", ["sleep", "300"])
    out = cri.client.exec_sync(container_id, ["sh", "-c", "echo a; echo b >&2; exit 3"], timeout=10)
    assert (out.stdout, out.stderr, out.exit_code) == (b"a\n", b"b\n", 3)


def test_exec_sync_returns_at_timeout_with_background_child(cri: CriEnv,
                                                            pod: tuple[str, object]) -> None:
    container_id = _start(cri, pod, "bg", ["sleep", "300"])
    started = time.monotonic()
    try:
        out = cri.client.exec_sync(container_id, ["sh", "-c", "sleep 100 & echo hi"], timeout=3)
        assert out.stdout.startswith(b"hi")
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 30


def test_exec_sync_timeout_kills_the_command(cri: CriEnv, pod: tuple[str, object]) -> None:
    container_id = _start(cri, pod, "slow", ["sleep", "300"])
    with pytest.raises(grpc.RpcError) as caught:
        cri.client.exec_sync(container_id, ["sleep", "60"], timeout=1)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_memory_limit_oom_is_reported(cri: CriEnv, pod: tuple[str, object]) -> None:
    resources = pb.LinuxContainerResources(memory_limit_in_bytes=32 << 20)
    container_id = _start(cri, pod, "oom", ["sh", "-c", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo done"],
                          linux=pb.LinuxContainerConfig(resources=resources))
    status = cri.wait_exit(container_id, timeout=60)
    assert status.exit_code == 137
    assert status.reason == "OOMKilled"


def test_stop_honours_grace_period_and_stop_signal(cri: CriEnv, pod: tuple[str, object]) -> None:
    trap = "trap 'echo got-term; exit 7' TERM; while true; do sleep 0.1; done"
    container_id = _start(cri, pod, "graceful", ["sh", "-c", trap])
    time.sleep(0.5)
    cri.client.stop_container(container_id, timeout=10)
    status = cri.client.container_status(container_id).status
    assert status.exit_code == 7
    ignorer = _start(cri, pod, "stubborn", ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"])
    time.sleep(0.5)
    started = time.monotonic()
    cri.client.stop_container(ignorer, timeout=2)
    elapsed = time.monotonic() - started
    status = cri.client.container_status(ignorer).status
    assert status.exit_code == 137
    assert elapsed >= 1.5
    cri.client.stop_container(ignorer, timeout=2)


def test_read_only_rootfs_refuses_writes(cri: CriEnv, pod: tuple[str, object]) -> None:
    context = pb.LinuxContainerSecurityContext(readonly_rootfs=True)
    container_id = _start(cri, pod, "ro", ["sleep", "300"],
                          linux=pb.LinuxContainerConfig(security_context=context))
    out = cri.client.exec_sync(container_id, ["touch", "/newfile"], timeout=10)
    assert out.exit_code != 0
    assert b"Read-only" in out.stderr


def _cap_eff(cri: CriEnv, container_id: str) -> int:
    out = cri.client.exec_sync(container_id, ["grep", "CapEff", "/proc/self/status"], timeout=10)
    return int(out.stdout.split()[1], 16)


def test_dropped_capabilities_are_absent(cri: CriEnv, pod: tuple[str, object]) -> None:
    caps = pb.Capability(drop_capabilities=["NET_RAW", "CHOWN"])
    context = pb.LinuxContainerSecurityContext(capabilities=caps)
    container_id = _start(cri, pod, "caps", ["sleep", "300"],
                          linux=pb.LinuxContainerConfig(security_context=context))
    effective = _cap_eff(cri, container_id)
    assert not effective & (1 << CAP_NET_RAW)
    assert not effective & (1 << CAP_CHOWN)
    default = _start(cri, pod, "default-caps", ["sleep", "300"])
    assert _cap_eff(cri, default) & (1 << CAP_NET_RAW)


def test_runtime_default_seccomp_blocks_unshare(cri: CriEnv, pod: tuple[str, object]) -> None:
    profile = pb.SecurityProfile(profile_type=pb.SecurityProfile.ProfileType.RuntimeDefault)
    context = pb.LinuxContainerSecurityContext(seccomp=profile)
    confined = _start(cri, pod, "seccomp", ["sleep", "300"],
                      linux=pb.LinuxContainerConfig(security_context=context))
    out = cri.client.exec_sync(confined, ["sh", "-c", "unshare -U true"], timeout=10)
    assert out.exit_code != 0
    unconfined = _start(cri, pod, "no-seccomp", ["sleep", "300"])
    assert cri.client.exec_sync(unconfined, ["sh", "-c", "unshare -U true"], timeout=10).exit_code == 0


def test_update_resources_changes_limit_seen_inside(cri: CriEnv, pod: tuple[str, object]) -> None:
    resources = pb.LinuxContainerResources(memory_limit_in_bytes=64 << 20)
    container_id = _start(cri, pod, "update", ["sleep", "300"],
                          linux=pb.LinuxContainerConfig(resources=resources))

    def limit() -> int:
        script = ("cat /sys/fs/cgroup/memory.max 2>/dev/null || "
                  "cat /sys/fs/cgroup/memory/memory.limit_in_bytes")
        return int(cri.client.exec_sync(container_id, ["sh", "-c", script], timeout=10).stdout)

    assert limit() == 64 << 20
    cri.client.runtime.UpdateContainerResources(pb.UpdateContainerResourcesRequest(
        container_id=container_id,
        linux=pb.LinuxContainerResources(memory_limit_in_bytes=128 << 20)))
    assert limit() == 128 << 20
    status = cri.client.container_status(container_id).status
    assert status.resources.linux.memory_limit_in_bytes == 128 << 20


def test_container_status_and_verbose_info(cri: CriEnv, pod: tuple[str, object]) -> None:
    container_id = _start(cri, pod, "inspect", ["sleep", "300"], labels={"tier": "web"})
    response = cri.client.container_status(container_id, verbose=True)
    status = response.status
    assert status.state == pb.ContainerState.CONTAINER_RUNNING
    assert status.started_at >= status.created_at > 0
    assert status.labels["tier"] == "web"
    assert '"pid"' in response.info["info"]
    assert "runtimeSpec" in response.info["info"]


def test_restart_attempt_keeps_previous_record(cri: CriEnv, pod: tuple[str, object]) -> None:
    first = _start(cri, pod, "restarter", ["sh", "-c", "exit 1"])
    cri.wait_exit(first)
    sandbox_id, config = pod
    again = cri.container_config("restarter", ["sleep", "300"])
    again.metadata.attempt = 1
    second = cri.client.create_container(sandbox_id, again, config)
    cri.client.start_container(second)
    assert cri.client.container_status(first).status.exit_code == 1
    assert second != first
    duplicate = cri.container_config("restarter", ["sleep", "1"])
    duplicate.metadata.attempt = 1
    with pytest.raises(grpc.RpcError) as caught:
        cri.client.create_container(sandbox_id, duplicate, config)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert second in caught.value.details()


@pytest.mark.parametrize("mutate, code", [
    (lambda c: setattr(c.image, "image", "127.0.0.1:1/none/such:tag"), grpc.StatusCode.NOT_FOUND),
    (lambda c: c.mounts.append(pb.Mount(container_path="relative", host_path="/tmp")),
     grpc.StatusCode.INVALID_ARGUMENT),
    (lambda c: setattr(c, "log_path", "/abs/log"), grpc.StatusCode.INVALID_ARGUMENT),
])
def test_bad_input_is_rejected_and_leaves_nothing(cri: CriEnv, pod: tuple[str, object],
                                                  mutate: object, code: grpc.StatusCode) -> None:
    sandbox_id, config = pod
    container = cri.container_config("bad", ["sleep", "1"])
    mutate(container)  # type: ignore[operator]
    with pytest.raises(grpc.RpcError) as caught:
        cri.client.create_container(sandbox_id, container, config)
    assert caught.value.code() == code
    assert cri.client.list_containers(pb.ContainerFilter(pod_sandbox_id=sandbox_id)) == []
    assert list((cri.tmp / "run" / "bundles").iterdir()) == []


def test_unknown_pod_is_not_found(cri: CriEnv) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        cri.client.create_container("nope", cri.container_config("x", ["true"]),
                                    cri.pod_config("nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_remove_running_container_and_idempotence(cri: CriEnv, pod: tuple[str, object]) -> None:
    container_id = _start(cri, pod, "removable", ["sleep", "300"])
    cri.client.remove_container(container_id)
    cri.client.remove_container(container_id)
    cri.client.stop_container(container_id, 1)
    with pytest.raises(grpc.RpcError) as caught:
        cri.client.container_status(container_id)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_image_volume_is_mounted_read_only(cri: CriEnv, pod: tuple[str, object],
                                           pushed_images: dict[str, str]) -> None:
    volume_image = pushed_images["busybox:config"]
    cri.client.pull_image(volume_image)
    mounts = [pb.Mount(container_path="/vol", image=pb.ImageSpec(image=volume_image),
                       readonly=True),
              pb.Mount(container_path="/sub", image=pb.ImageSpec(image=volume_image),
                       image_sub_path="etc", readonly=True)]
    container_id = _start(cri, pod, "imagevol", ["sleep", "300"], mounts=mounts)
    out = cri.client.exec_sync(container_id, ["sh", "-c", "ls /vol/bin/busybox && cat /sub/passwd"],
                               timeout=10)
    assert out.exit_code == 0, out.stderr
    assert b"root:x:0:0" in out.stdout
    write = cri.client.exec_sync(container_id, ["touch", "/vol/x"], timeout=10)
    assert write.exit_code != 0
    # Removing the image while a container uses it must not pull the files from under it.
    cri.client.remove_image(volume_image)
    again = cri.client.exec_sync(container_id, ["cat", "/sub/passwd"], timeout=10)
    assert b"root:x:0:0" in again.stdout
    cri.client.remove_container(container_id)
    assert "imagevols" not in Path("/proc/self/mountinfo").read_text()


@pytest.fixture
def shared_dir(tmp_path: Path) -> Iterator[Path]:
    shared = tmp_path / "shared-mount"
    shared.mkdir()
    subprocess.run(["mount", "--bind", str(shared), str(shared)], check=True)
    subprocess.run(["mount", "--make-rshared", str(shared)], check=True)
    try:
        yield shared
    finally:
        subprocess.run(["umount", "-R", "-l", str(shared)], check=False)


def test_mount_propagation_host_to_container(cri: CriEnv, pod: tuple[str, object],
                                             shared_dir: Path) -> None:
    mounts = [pb.Mount(container_path="/mnt/host", host_path=str(shared_dir),
                       propagation=pb.MountPropagation.PROPAGATION_HOST_TO_CONTAINER)]
    container_id = _start(cri, pod, "slave", ["sleep", "300"], mounts=mounts)
    (shared_dir / "late").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "late", str(shared_dir / "late")], check=True)
    out = cri.client.exec_sync(container_id, ["cat", "/proc/self/mountinfo"], timeout=10)
    assert b"/mnt/host/late" in out.stdout


def test_mount_propagation_bidirectional(cri: CriEnv, shared_dir: Path) -> None:
    privileged = pb.LinuxSandboxSecurityContext(privileged=True)
    pod = cri.pod_config("bidirectional", linux=pb.LinuxPodSandboxConfig(
        security_context=privileged))
    context = pb.LinuxContainerSecurityContext(privileged=True)
    mounts = [pb.Mount(container_path="/mnt/host", host_path=str(shared_dir),
                       propagation=pb.MountPropagation.PROPAGATION_BIDIRECTIONAL)]
    sandbox_id, container_id = cri.run(pod, "shared", ["sleep", "300"], mounts=mounts,
                                       linux=pb.LinuxContainerConfig(security_context=context))
    try:
        out = cri.client.exec_sync(container_id, ["sh", "-c", "mkdir -p /mnt/host/inner && "
                                   "mount -t tmpfs inner /mnt/host/inner"], timeout=10)
        assert out.exit_code == 0, out.stderr
        assert f"{shared_dir}/inner" in Path("/proc/self/mountinfo").read_text()
    finally:
        cri.client.stop_pod_sandbox(sandbox_id)
        cri.client.remove_pod_sandbox(sandbox_id)


def test_privileged_container_sees_host_devices_and_full_caps(cri: CriEnv) -> None:
    privileged = pb.LinuxSandboxSecurityContext(privileged=True)
    pod = cri.pod_config("privileged", linux=pb.LinuxPodSandboxConfig(
        security_context=privileged))
    context = pb.LinuxContainerSecurityContext(privileged=True)
    sandbox_id, container_id = cri.run(pod, "priv", ["sleep", "300"],
                                       linux=pb.LinuxContainerConfig(security_context=context))
    try:
        host_caps = next(line for line in Path("/proc/self/status").read_text().splitlines()
                         if line.startswith("CapEff"))
        assert _cap_eff(cri, container_id) == int(host_caps.split()[1], 16)
        host_devices = {p.name for p in Path("/dev").iterdir() if p.is_block_device()}
        inside = cri.client.exec_sync(container_id, ["ls", "/dev"], timeout=10).stdout.decode()
        assert host_devices <= set(inside.split())
        out = cri.client.exec_sync(container_id, ["sh", "-c", "mkdir -p /scratch && mount -t tmpfs scratch /scratch"],
                                   timeout=10)
        assert out.exit_code == 0, out.stderr
    finally:
        cri.client.stop_pod_sandbox(sandbox_id)
        cri.client.remove_pod_sandbox(sandbox_id)


def test_reopen_container_log_after_rotation(cri: CriEnv, pod: tuple[str, object]) -> None:
    container_id = _start(cri, pod, "rotating",
                          ["sh", "-c", "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.1; done"])
    log_path = Path(cri.client.container_status(container_id).status.log_path)
    time.sleep(0.5)
    rotated = log_path.with_suffix(".1")
    log_path.rename(rotated)
    cri.client.reopen_container_log(container_id)
    deadline = time.monotonic() + 10
    while (not log_path.exists() or "line-" not in log_path.read_text()) and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert "stdout F line-" in log_path.read_text()
    assert "stdout F line-0" in rotated.read_text()


def test_stop_uses_configured_stop_signal(cri: CriEnv, pod: tuple[str, object]) -> None:
    script = "trap 'exit 9' USR1; trap '' TERM; while true; do sleep 0.1; done"
    container_id = _start(cri, pod, "usr1", ["sh", "-c", script], stop_signal=pb.Signal.SIGUSR1)
    time.sleep(0.5)
    started = time.monotonic()
    cri.client.stop_container(container_id, timeout=10)
    assert cri.client.container_status(container_id).status.exit_code == 9
    assert time.monotonic() - started < 5


def test_status_reports_stop_signal(cri: CriEnv, pod: tuple[str, object],
                                    pushed_images: dict[str, str]) -> None:
    image = pushed_images["busybox:config"]
    cri.client.pull_image(image)
    from_image = _start(cri, pod, "quit", ["sleep", "300"], image=image)
    assert cri.client.container_status(from_image).status.stop_signal == pb.Signal.SIGQUIT
    default = _start(cri, pod, "term", ["sleep", "300"])
    assert cri.client.container_status(default).status.stop_signal == pb.Signal.SIGTERM
