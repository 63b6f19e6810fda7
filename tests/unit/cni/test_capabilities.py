from __future__ import annotations

from pycri.cni.capabilities import capability_args, pod_cni_args, port_mapping


def test_port_mapping_shapes() -> None:
    assert port_mapping({"container_port": 80, "host_port": 0}) is None
    assert port_mapping({"containerPort": 80}) is None
    assert port_mapping({"hostPort": 8080, "containerPort": 80, "protocol": "TCP"}) == {
        "hostPort": 8080, "containerPort": 80, "protocol": "tcp"}
    assert port_mapping({"host_port": 53, "container_port": 53, "protocol": 2,
                         "host_ip": "10.0.0.1"}) == {
        "hostPort": 53, "containerPort": 53, "protocol": "sctp", "hostIP": "10.0.0.1"}


def test_capability_args_leave_out_empty_values() -> None:
    assert capability_args() == {}
    caps = capability_args(
        port_mappings=[{"hostPort": 1, "containerPort": 2}],
        bandwidth={"ingressRate": 100},
        dns={"servers": ["1.1.1.1"], "searches": [], "options": ["ndots:5"]},
        cgroup_path="/kubepods/pod1",
        ips=["10.0.0.9/24"],
        mac="02:00:00:00:00:09",
    )
    assert caps["dns"] == {"servers": ["1.1.1.1"], "options": ["ndots:5"]}
    assert caps["cgroupPath"] == "/kubepods/pod1"
    assert caps["portMappings"][0]["protocol"] == "tcp"
    assert set(caps) == {"portMappings", "bandwidth", "dns", "cgroupPath", "ips", "mac"}


def test_pod_cni_args() -> None:
    assert dict(pod_cni_args("id", "n", "ns", "u")) == {
        "IgnoreUnknown": "1", "K8S_POD_NAMESPACE": "ns", "K8S_POD_NAME": "n",
        "K8S_POD_INFRA_CONTAINER_ID": "id", "K8S_POD_UID": "u"}
