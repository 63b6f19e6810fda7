"""critest's Container, Multiple Containers, Container OOM, Container Mount Readonly and
Networking suites, re-done over our client."""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
import time
from pathlib import Path

import grpc
import pytest

from pycri.api.cri import pb
from tests.e2e.cri_env import CriEnv
from tests.e2e.critest_helpers import (
    DEFAULT_LOG,
    ECHO_HELLO,
    create,
    eventually,
    exec_ok,
    http_get,
    running,
    sandbox,
    start,
    state,
)

pytestmark = pytest.mark.root

EXITED = pb.ContainerState.CONTAINER_EXITED


def _listed(cri: CriEnv, container_id: str) -> bool:
    return any(c.id == container_id
               for c in cri.client.list_containers(pb.ContainerFilter(id=container_id)))


def _stat_ids(cri: CriEnv, flt: pb.ContainerStatsFilter | None) -> list[str]:
    return [s.attributes.id for s in cri.client.list_container_stats(flt)]


# -- basic operations ----------------------------------------------------------------------

def test_create_start_stop_and_remove(cri: CriEnv) -> None:
    with sandbox(cri, "container-basic-") as pod:
        created = create(cri, pod, "container-for-remove-created-test-")
        assert _listed(cri, created)
        cri.client.remove_container(created)
        assert not _listed(cri, created)

        started = start(cri, pod, "container-for-start-test-")
        running(cri, started)
        cri.client.stop_container(started, 60)
        eventually(lambda: state(cri, started) == EXITED)
        cri.client.remove_container(started)
        assert not _listed(cri, started)

        live = start(cri, pod, "container-for-remove-running-test-")
        running(cri, live)
        cri.client.remove_container(live)
        assert not _listed(cri, live)


def test_exec_sync_output(cri: CriEnv) -> None:
    with sandbox(cri, "container-exec-") as pod:
        container_id = start(cri, pod, "container-for-execSync-test-")
        assert exec_ok(cri, container_id, ECHO_HELLO) == "hello"


def test_exec_sync_timeout_kills_the_command(cri: CriEnv) -> None:
    with sandbox(cri, "container-exec-timeout-") as pod:
        container_id = start(cri, pod, "container-for-execSync-timeout-test-")
        # kubelet's client gives the call the command's timeout plus its own request timeout,
        # so it is the runtime that ends the call with an error, after killing the command.
        with pytest.raises(grpc.RpcError) as caught:
            cri.client.exec_sync(container_id, ["sleep", "4321"], timeout=1)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # ... and the timed-out process must be gone by the time the runtime is asked again
        # (critest uses pgrep; our busybox has no pgrep applet, ps does the same job).
        probe = ["sh", "-c", "ps | grep '[s]leep 4321' || true"]
        assert exec_ok(cri, container_id, probe).strip() == ""


def test_container_stats(cri: CriEnv) -> None:
    labels = {"foo": "bar"}
    with sandbox(cri, "container-stats-") as pod:
        ids = [start(cri, pod, "container-for-stats-", labels=labels)]
        ids += [start(cri, pod, "container-for-stats-with-nil-filter-") for _ in range(3)]
        stats = cri.client.container_stats(ids[0])
        assert stats.attributes.id == ids[0]
        assert stats.attributes.metadata.name.startswith("container-for-stats-")
        assert stats.cpu.timestamp != 0 and stats.memory.timestamp != 0
        assert ids[0] in _stat_ids(cri, pb.ContainerStatsFilter(id=ids[0]))
        assert set(ids) <= set(_stat_ids(cri, None))
        assert ids[0] in _stat_ids(cri, pb.ContainerStatsFilter(label_selector=labels))
        wrong = pb.ContainerStatsFilter(label_selector={"foo": "baz"})
        assert ids[0] not in _stat_ids(cri, wrong)


# -- volumes -------------------------------------------------------------------------------

@pytest.mark.parametrize("through_symlink", [False, True])
def test_host_path_volume(cri: CriEnv, through_symlink: bool) -> None:
    host = Path(tempfile.mkdtemp(prefix="critest-volume-"))
    link = Path(f"{host}-symlink")
    try:
        (host / "testVolume.file").touch()
        source = host
        if through_symlink:
            link.symlink_to(host)
            source = link
        with sandbox(cri, "container-volume-") as pod:
            mount = pb.Mount(host_path=str(source), container_path=str(source),
                             selinux_relabel=True)
            container_id = start(cri, pod, "container-with-volume-test-", mounts=[mount])
            running(cri, container_id)
            assert exec_ok(cri, container_id, ["ls", "-A", str(source)]) != ""
    finally:
        link.unlink(missing_ok=True)
        shutil.rmtree(host, ignore_errors=True)


# -- logs ----------------------------------------------------------------------------------

def _log_lines(path: Path) -> list[tuple[str, str, str]]:
    """(stream, tag, text) of each CRI log line; the timestamp must parse as RFC 3339."""
    out = []
    for line in path.read_text().splitlines():
        stamp, stream, tag, text = line.split(" ", 3)
        assert stamp[:4].isdigit() and "T" in stamp and stamp.endswith("Z"), line
        out.append((stream, tag, text))
    return out


def test_container_log(cri: CriEnv) -> None:
    with sandbox(cri, "PodSandbox-with-log-directory-") as pod:
        log_dir = Path(pod[1].log_directory)
        container_id = start(cri, pod, "container-with-log-test-", ["echo", DEFAULT_LOG])
        cri.wait_exit(container_id, timeout=60)
        log_path = log_dir / cri.client.container_status(container_id).status.log_path
        assert ("stdout", "F", DEFAULT_LOG) in _log_lines(log_path)


def test_reopen_container_log(cri: CriEnv) -> None:
    loop = ["sh", "-c", f"while true; do echo {DEFAULT_LOG}; sleep 1; done"]
    with sandbox(cri, "PodSandbox-with-log-directory-") as pod:
        container_id = start(cri, pod, "container-reopen-log-test-", loop)
        log_path = Path(cri.client.container_status(container_id).status.log_path)
        log_path = Path(pod[1].log_directory) / log_path
        eventually(lambda: log_path.exists() and _log_lines(log_path))
        rotated = log_path.with_name(log_path.name + ".new")
        log_path.rename(rotated)
        cri.client.reopen_container_log(container_id)
        assert log_path.exists()
        eventually(lambda: _log_lines(log_path))
        before = len(_log_lines(rotated))
        time.sleep(2)
        assert len(_log_lines(rotated)) == before


# -- multiple containers -------------------------------------------------------------------

def test_multiple_containers_share_the_pod(cri: CriEnv) -> None:
    # critest runs httpd:2.4 on port 80; busybox's httpd serves the same purpose here.
    server = ["sh", "-c", "mkdir -p /www && echo httpd > /www/index.html && "
              "echo httpd started && exec httpd -f -p 80 -h /www"]
    ports = [pb.PortMapping(container_port=80)]
    with sandbox(cri, "PodSandbox-for-multi-container-test-", port_mappings=ports) as pod:
        httpd = start(cri, pod, "httpd", server)
        running(cri, httpd)
        busybox = start(cri, pod, "busybox", ["sh", "-c", f"echo {DEFAULT_LOG}; sleep 1000"])
        running(cri, busybox)
        ip = cri.client.pod_sandbox_status(pod[0]).status.network.ip
        assert b"httpd" in http_get(f"http://{ip}:80/")
        for container_id, expected in ((httpd, "httpd"), (busybox, DEFAULT_LOG)):
            path = Path(pod[1].log_directory) / cri.client.container_status(
                container_id).status.log_path
            eventually(lambda p=path, e=expected: p.exists() and e in p.read_text())
        assert exec_ok(cri, httpd, ["echo", "httpd"]) == "httpd\n"
        assert exec_ok(cri, busybox, ["echo", "busybox"]) == "busybox\n"




# -- OOM -----------------------------------------------------------------------------------

def test_oom_killed_container_reports_137(cri: CriEnv) -> None:
    limits = pb.LinuxContainerResources(memory_limit_in_bytes=15 << 20,
                                        memory_swap_limit_in_bytes=15 << 20)
    with sandbox(cri, "OOM-") as pod:
        container_id = start(cri, pod, "OOM-test-",
                             ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=20M"],
                             linux=pb.LinuxContainerConfig(resources=limits))
        status = cri.wait_exit(container_id, timeout=60)
        status = eventually(lambda: (s := cri.client.container_status(container_id).status)
                            .reason == "OOMKilled" and s)
        assert status.exit_code == 137


# -- readonly mounts -----------------------------------------------------------------------

def _mount(source: str, target: str, fstype: str | None, flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(source.encode(), target.encode(),
                  fstype.encode() if fstype else None, flags, None) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}")


def _umount(target: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(target.encode(), 2)  # MNT_DETACH


def test_non_recursive_readonly_mount_keeps_submounts_writable(cri: CriEnv) -> None:
    host = Path(tempfile.mkdtemp(prefix="critest-ro-"))
    tmpfs = host / "tmpfs"
    tmpfs.mkdir()
    _mount("none", str(tmpfs), "tmpfs", 0)
    try:
        with sandbox(cri, "container-readonly-") as pod:
            mount = pb.Mount(host_path=str(host), container_path="/mnt", readonly=True,
                             selinux_relabel=True)
            container_id = start(cri, pod, "test-mount-", mounts=[mount])
            assert len(cri.client.container_status(container_id, verbose=True)
                       .status.mounts) == 1
            running(cri, container_id)
            exec_ok(cri, container_id, ["touch", "/mnt/tmpfs/file"])
    finally:
        _umount(str(tmpfs))
        shutil.rmtree(host, ignore_errors=True)


def test_recursive_readonly_cases_skip_without_the_feature(cri: CriEnv) -> None:
    # critest skips its three RRO cases unless the handler advertises the feature; what it
    # needs from us is that the advertisement and the behaviour agree.
    handlers = cri.client.status().runtime_handlers
    rro = any(h.name == "" and h.features.recursive_read_only_mounts for h in handlers)
    if rro:
        pytest.skip("runtime advertises recursive readonly mounts; covered elsewhere")
    host = tempfile.mkdtemp(prefix="critest-rro-")
    try:
        with sandbox(cri, "container-rro-") as pod:
            mount = pb.Mount(host_path=host, container_path="/mnt", readonly=True,
                             recursive_read_only=True)
            with pytest.raises(grpc.RpcError):
                create(cri, pod, "test-mount-", mounts=[mount])
    finally:
        os.rmdir(host)


# -- mount propagation ---------------------------------------------------------------------

MS_BIND, MS_REC, MS_PRIVATE, MS_SHARED = 0x1000, 0x4000, 1 << 18, 1 << 20
PRIVATE = pb.MountPropagation.PROPAGATION_PRIVATE
HOST_TO_CONTAINER = pb.MountPropagation.PROPAGATION_HOST_TO_CONTAINER
BIDIRECTIONAL = pb.MountPropagation.PROPAGATION_BIDIRECTIONAL


@pytest.mark.parametrize("propagation", [PRIVATE, BIDIRECTIONAL, HOST_TO_CONTAINER])
def test_mount_propagation(cri: CriEnv, propagation: int) -> None:
    host = Path(tempfile.mkdtemp(prefix="critest-prop-"))
    source, flag_dir = host / "mnt", host / "propagationSrcDir"
    host_point, container_point = source / "propagationMnt", source / "containerMntPoint"
    host_point.mkdir(parents=True)
    flag_dir.mkdir()
    (flag_dir / "flagFile").touch()
    _mount(str(source), str(source), None, MS_BIND | MS_REC)
    try:
        _mount("", str(source), None, (MS_PRIVATE if propagation == PRIVATE else MS_SHARED)
               | MS_REC)
        linux = pb.LinuxPodSandboxConfig(
            security_context=pb.LinuxSandboxSecurityContext(privileged=True))
        with sandbox(cri, "mount-propagation-", linux=linux) as pod:
            mount = pb.Mount(host_path=str(source), container_path=str(source),
                             propagation=propagation)
            privileged = pb.LinuxContainerConfig(
                security_context=pb.LinuxContainerSecurityContext(privileged=True))
            container_id = create(cri, pod, "mount-propagation-test-", mounts=[mount],
                                  linux=privileged)
            mounts = cri.client.container_status(container_id, verbose=True).status.mounts
            assert [(m.container_path, m.host_path, m.readonly, m.selinux_relabel,
                     m.propagation) for m in mounts] == \
                [(str(source), str(source), False, False, propagation)]
            cri.client.start_container(container_id)
            running(cri, container_id)

            _mount(str(flag_dir), str(host_point), None, MS_BIND | MS_REC)
            seen_inside = exec_ok(cri, container_id, ["ls", "-A", str(host_point)])
            assert (seen_inside != "") == (propagation != PRIVATE)

            exec_ok(cri, container_id, ["sh", "-c", f"mkdir -p {container_point}"])
            exec_ok(cri, container_id, ["sh", "-c", f"mount --bind /etc {container_point}"])
            seen_outside = os.listdir(container_point)
            assert bool(seen_outside) == (propagation == BIDIRECTIONAL)
    finally:
        for point in (container_point, host_point, source):
            _umount(str(point))
        shutil.rmtree(host, ignore_errors=True)


# -- pod stats -----------------------------------------------------------------------------

def test_pod_sandbox_stats(cri: CriEnv) -> None:
    labels = {"pod-stats": "yes"}
    with sandbox(cri, "pod-stats-", labels=labels) as pod:
        container_id = start(cri, pod, "container-for-pod-stats-")
        running(cri, container_id)
        stats = cri.client.runtime.PodSandboxStats(
            pb.PodSandboxStatsRequest(pod_sandbox_id=pod[0]), timeout=30).stats
        assert stats.attributes.id == pod[0]
        assert stats.linux.cpu.timestamp and stats.linux.memory.timestamp
        assert container_id in [c.attributes.id for c in stats.linux.containers]

        def listed(flt: pb.PodSandboxStatsFilter | None) -> list[str]:
            reply = cri.client.runtime.ListPodSandboxStats(
                pb.ListPodSandboxStatsRequest(filter=flt), timeout=30)
            return [s.attributes.id for s in reply.stats]

        assert listed(pb.PodSandboxStatsFilter(id=pod[0])) == [pod[0]]
        assert pod[0] in listed(None)
        assert pod[0] in listed(pb.PodSandboxStatsFilter(label_selector=labels))
        assert pod[0] not in listed(pb.PodSandboxStatsFilter(label_selector={"pod-stats": "no"}))
