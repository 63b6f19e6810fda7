"""Pod sandboxes over the CRI socket, with real namespaces and Debian's CNI plugins."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from pycri.api.cri import pb
from tests.e2e.cri_env import CriEnv

pytestmark = pytest.mark.root


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code()


def test_run_status_list_stop_remove(cri: CriEnv) -> None:
    pod = cri.pod_config("lifecycle", labels={"app": "x"})
    sandbox_id = cri.client.run_pod_sandbox(pod)
    status = cri.client.pod_sandbox_status(sandbox_id).status
    assert status.state == pb.PodSandboxState.SANDBOX_READY
    assert status.network.ip.startswith("10.")
    assert status.metadata.name == "lifecycle"
    listed = cri.client.list_pod_sandboxes(pb.PodSandboxFilter(label_selector={"app": "x"}))
    assert [p.id for p in listed] == [sandbox_id]
    cri.client.stop_pod_sandbox(sandbox_id)
    assert cri.client.pod_sandbox_status(sandbox_id).status.state == \
        pb.PodSandboxState.SANDBOX_NOTREADY
    cri.client.stop_pod_sandbox(sandbox_id)
    cri.client.remove_pod_sandbox(sandbox_id)
    cri.client.remove_pod_sandbox(sandbox_id)
    assert _code(lambda: cri.client.pod_sandbox_status(sandbox_id)) == grpc.StatusCode.NOT_FOUND


def test_stop_and_remove_of_unknown_pod_succeed(cri: CriEnv) -> None:
    cri.client.stop_pod_sandbox("does-not-exist")
    cri.client.remove_pod_sandbox("does-not-exist")


def test_duplicate_name_is_already_exists(cri: CriEnv) -> None:
    pod = cri.pod_config("dup")
    sandbox_id = cri.client.run_pod_sandbox(pod)
    try:
        assert _code(lambda: cri.client.run_pod_sandbox(pod)) == grpc.StatusCode.ALREADY_EXISTS
    finally:
        cri.client.stop_pod_sandbox(sandbox_id)
        cri.client.remove_pod_sandbox(sandbox_id)


@pytest.mark.parametrize("mutate, fragment", [
    (lambda c: c.metadata.ClearField("name"), "metadata.name"),
    (lambda c: c.metadata.ClearField("uid"), "metadata.uid"),
    (lambda c: c.linux.sysctls.__setitem__("kernel.hostname", "x"), "kernel.hostname"),
])
def test_bad_configs_are_invalid_and_leave_nothing(cri: CriEnv, mutate: object,
                                                    fragment: str) -> None:
    before = cri.client.list_pod_sandboxes()
    pod = cri.pod_config("bad")
    mutate(pod)  # type: ignore[operator]
    with pytest.raises(grpc.RpcError) as caught:
        cri.client.run_pod_sandbox(pod)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in caught.value.details()
    assert len(cri.client.list_pod_sandboxes()) == len(before)


def test_unknown_runtime_handler_is_invalid(cri: CriEnv) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        cri.client.run_pod_sandbox(cri.pod_config("handler"), handler="kata")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "kata" in caught.value.details()


def test_hostname_and_dns_config(cri: CriEnv) -> None:
    dns = pb.DNSConfig(servers=["10.96.0.10"], searches=["svc.cluster.local"],
                       options=["ndots:5"])
    pod = cri.pod_config("dns", hostname="web-0", dns_config=dns)
    sandbox_id, container_id = cri.run(pod, "main", ["sleep", "300"])
    try:
        out = cri.client.exec_sync(container_id, ["sh", "-c", "hostname; cat /etc/resolv.conf"],
                                   timeout=10)
        text = out.stdout.decode()
        assert text.splitlines()[0] == "web-0"
        assert "nameserver 10.96.0.10" in text
        assert "search svc.cluster.local" in text
        assert "options ndots:5" in text
    finally:
        cri.client.stop_pod_sandbox(sandbox_id)
        cri.client.remove_pod_sandbox(sandbox_id)


def test_two_pods_ping_each_other(cri: CriEnv) -> None:
    first, first_c = cri.run(cri.pod_config("ping-a"), "a", ["sleep", "300"])
    second, _ = cri.run(cri.pod_config("ping-b"), "b", ["sleep", "300"])
    try:
        ip_b = cri.client.pod_sandbox_status(second).status.network.ip
        out = cri.client.exec_sync(first_c, ["ping", "-c", "1", "-W", "3", ip_b], timeout=10)
        assert out.exit_code == 0, out.stdout + out.stderr
    finally:
        for pod in (first, second):
            cri.client.stop_pod_sandbox(pod)
            cri.client.remove_pod_sandbox(pod)


def test_host_network_pod_sees_host_interfaces(cri: CriEnv) -> None:
    options = pb.NamespaceOption(network=pb.NamespaceMode.NODE)
    pod = cri.pod_config("hostnet", linux=pb.LinuxPodSandboxConfig(
        security_context=pb.LinuxSandboxSecurityContext(namespace_options=options)))
    context = pb.LinuxContainerSecurityContext(namespace_options=options)
    sandbox_id, container_id = cri.run(pod, "main", ["sleep", "300"],
                                       linux=pb.LinuxContainerConfig(security_context=context))
    try:
        assert cri.client.pod_sandbox_status(sandbox_id).status.network.ip == ""
        inside = cri.client.exec_sync(container_id, ["cat", "/proc/net/dev"], timeout=10)
        host_ifaces = sorted(os.listdir("/sys/class/net"))
        for iface in host_ifaces:
            assert f"{iface}:" in inside.stdout.decode()
        hostname = cri.client.exec_sync(container_id, ["hostname"], timeout=10)
        assert hostname.stdout.decode().strip() == socket.gethostname()
    finally:
        cri.client.stop_pod_sandbox(sandbox_id)
        cri.client.remove_pod_sandbox(sandbox_id)


def shim_pid(cri: CriEnv, sandbox_id: str) -> int:
    info = json.loads(cri.client.pod_sandbox_status(sandbox_id, verbose=True).info["info"])
    pid = int(info["status"]["shim_pid"])
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "pycri-shim"
    return pid


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_host_port_reaches_server_in_pod(cri: CriEnv) -> None:
    host_port = _free_port()
    pod = cri.pod_config("hostport", port_mappings=[
        pb.PortMapping(protocol=pb.Protocol.TCP, container_port=8080, host_port=host_port)])
    sandbox_id, _ = cri.run(pod, "server", [
        "sh", "-c", "mkdir -p /www && echo pycri-hostport > /www/index.html && "
        "exec httpd -f -p 8080 -h /www"])
    try:
        host_ip = subprocess.run(["hostname", "-I"], capture_output=True, text=True
                                 ).stdout.split()[0]
        body = ""
        for _ in range(50):
            try:
                with socket.create_connection((host_ip, host_port), timeout=2) as conn:
                    conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    body = conn.recv(4096).decode()
                if "pycri-hostport" in body:
                    break
            except OSError:
                time.sleep(0.1)
        assert "pycri-hostport" in body
    finally:
        cri.client.stop_pod_sandbox(sandbox_id)
        cri.client.remove_pod_sandbox(sandbox_id)
    rules = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    assert f"--dport {host_port}" not in rules


def test_pod_survives_daemon_kill_and_still_cleans_up(cri: CriEnv) -> None:
    sandbox_id, container_id = cri.run(cri.pod_config("survivor"), "main", ["sleep", "300"])
    ip = cri.client.pod_sandbox_status(sandbox_id).status.network.ip
    cri.restart(kill=True)
    status = cri.client.pod_sandbox_status(sandbox_id).status
    assert status.state == pb.PodSandboxState.SANDBOX_READY
    assert status.network.ip == ip
    state = cri.client.container_status(container_id).status.state
    assert state == pb.ContainerState.CONTAINER_RUNNING
    out = cri.client.exec_sync(container_id, ["echo", "alive"], timeout=10)
    assert out.stdout == b"alive\n"
    cri.client.stop_pod_sandbox(sandbox_id)
    cri.client.remove_pod_sandbox(sandbox_id)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"master {cri.bridge}" not in links


def test_many_cycles_leave_nothing_behind(cri: CriEnv) -> None:
    def snapshot() -> tuple[int, int, int]:
        mounts = Path("/proc/self/mountinfo").read_text().count(str(cri.tmp))
        veths = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True
                               ).stdout.count(f"master {cri.bridge}")
        rules = subprocess.run(["iptables-save"], capture_output=True, text=True
                               ).stdout.count(cri.network)
        return mounts, veths, rules

    cycles = int(os.environ.get("PYCRI_E2E_CYCLES", "20"))
    before = snapshot()
    shims = []
    for n in range(cycles):
        sandbox_id = cri.client.run_pod_sandbox(cri.pod_config(f"cycle-{n}"))
        shims.append(shim_pid(cri, sandbox_id))
        cri.client.stop_pod_sandbox(sandbox_id)
        cri.client.remove_pod_sandbox(sandbox_id)
    # A destroyed namespace's veth peers go away in the kernel's own time: allow it a moment.
    deadline = time.monotonic() + 10
    while snapshot() != before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert snapshot() == before
    # A shim answers its shutdown call, then exits.
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in shims) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in shims if Path(f"/proc/{pid}").exists()] == []


def test_retry_after_client_timeout_gets_the_same_pod(cri: CriEnv) -> None:
    pod = cri.pod_config("slow-retry")
    with pytest.raises(grpc.RpcError) as caught:
        cri.client.runtime.RunPodSandbox(pb.RunPodSandboxRequest(config=pod), timeout=0.02)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    sandbox_id = cri.client.run_pod_sandbox(pod)
    try:
        assert [p.id for p in cri.client.list_pod_sandboxes()
                if p.metadata.name == "slow-retry"] == [sandbox_id]
    finally:
        cri.client.stop_pod_sandbox(sandbox_id)
        cri.client.remove_pod_sandbox(sandbox_id)


def test_exit_while_daemon_down_is_reported_after_restart(cri: CriEnv) -> None:
    pod = cri.pod_config("exit-while-down")
    sandbox_id, container_id = cri.run(pod, "short", ["sh", "-c", "sleep 1; exit 42"])
    cri.daemon.process.kill()
    cri.daemon.process.wait()
    time.sleep(2)
    cri.restart(kill=False)
    try:
        status = cri.wait_exit(container_id)
        assert (status.exit_code, status.reason) == (42, "Error")
    finally:
        cri.client.stop_pod_sandbox(sandbox_id)
        cri.client.remove_pod_sandbox(sandbox_id)


def test_killed_shim_marks_containers_exited_and_pod_cleans_up(cri: CriEnv) -> None:
    pod = cri.pod_config("shim-killed")
    sandbox_id, container_id = cri.run(pod, "main", ["sleep", "300"])
    info = json.loads(cri.client.pod_sandbox_status(sandbox_id, verbose=True).info["info"])
    pod_init = int(info["status"]["pid_init"])
    assert Path(f"/proc/{pod_init}/comm").read_text().strip() == "pycri-pod-init"
    os.kill(shim_pid(cri, sandbox_id), 9)
    try:
        status = cri.wait_exit(container_id)
        assert status.exit_code == 255
        # The pod's PID-namespace init notices its shim is gone and ends the namespace.
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pod_init}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{pod_init}").exists()
    finally:
        cri.client.stop_pod_sandbox(sandbox_id)
        cri.client.remove_pod_sandbox(sandbox_id)
    assert str(cri.tmp) not in Path("/proc/self/mountinfo").read_text()


def test_failed_network_setup_rolls_everything_back(cri: CriEnv) -> None:
    conf_dir = cri.tmp / "net.d"
    broken = conf_dir / "00-broken.conflist"
    broken.write_text(json.dumps({"cniVersion": "1.0.0", "name": "broken", "plugins": [
        {"type": "bridge", "bridge": "pe2ebroken", "ipam": {"type": "host-local",
                                                           "ranges": [[{"subnet": "bad"}]]}}]}))
    before_mounts = Path("/proc/self/mountinfo").read_text().count(str(cri.tmp))
    try:
        with pytest.raises(grpc.RpcError) as caught:
            cri.client.run_pod_sandbox(cri.pod_config("rollback"))
        assert "broken" in caught.value.details()
    finally:
        broken.unlink()
        subprocess.run(["ip", "link", "del", "pe2ebroken"], capture_output=True)
    assert [p for p in cri.client.list_pod_sandboxes() if p.metadata.name == "rollback"] == []
    assert Path("/proc/self/mountinfo").read_text().count(str(cri.tmp)) == before_mounts
    assert list((cri.tmp / "run" / "sandboxes").iterdir()) == []
    assert [p for p in (cri.tmp / "run" / "ns").iterdir()] == []
    sandbox_id = cri.client.run_pod_sandbox(cri.pod_config("rollback"))
    cri.client.stop_pod_sandbox(sandbox_id)
    cri.client.remove_pod_sandbox(sandbox_id)
