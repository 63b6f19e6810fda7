from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pycri.api.cri import pb
from pycri.cri.errors import InvalidArgument
from pycri.cri.specgen import HostFeatures, ImageView, SandboxView, SpecInputs, generate
from pycri.cri.specgen.defaults import DEFAULT_CAPABILITIES


def _image(tmp_path: Path, **config: Any) -> ImageView:
    layer = tmp_path / "layer"
    (layer / "etc").mkdir(parents=True, exist_ok=True)
    (layer / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    (layer / "etc/group").write_text("root:x:0:\napp:x:1001:\nextra:x:2000:app\n")
    return ImageView(id="sha256:abc", name="registry/busybox:1", config=config, layers=[str(layer)])


def _inputs(tmp_path: Path, config: Any, pod: Any | None = None, **image: Any) -> SpecInputs:
    pod = pod or pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name="p", namespace="ns", uid="u"), hostname="podhost"
    )
    sandbox = SandboxView(id="sb1", config=pod, netns_path="/run/netns/x", ipc_path="/ns/ipc",
                          uts_path="/ns/uts", hosts_path="/pod/hosts", resolv_path="/pod/resolv",
                          hostname_path="/pod/hostname", shm_path="/pod/shm")
    return SpecInputs(container_id="c1", config=config, sandbox=sandbox,
                      image=_image(tmp_path, **image), rootfs="/bundle/rootfs",
                      host=HostFeatures(), default_seccomp=lambda caps: {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []})


def _config(**kwargs: Any) -> Any:
    return pb.ContainerConfig(metadata=pb.ContainerMetadata(name="c"), **kwargs)


def test_image_entrypoint_and_cmd_used_when_config_has_none(tmp_path: Path) -> None:
    spec = generate(_inputs(tmp_path, _config(), Entrypoint=["/bin/sh", "-c"], Cmd=["echo hi"]))
    assert spec["process"]["args"] == ["/bin/sh", "-c", "echo hi"]


def test_command_replaces_entrypoint_and_drops_cmd(tmp_path: Path) -> None:
    spec = generate(_inputs(tmp_path, _config(command=["top"]), Entrypoint=["/e"], Cmd=["c"]))
    assert spec["process"]["args"] == ["top"]


def test_args_replace_cmd_only(tmp_path: Path) -> None:
    spec = generate(_inputs(tmp_path, _config(args=["x"]), Entrypoint=["/e"], Cmd=["c"]))
    assert spec["process"]["args"] == ["/e", "x"]


def test_no_command_anywhere_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="no command"):
        generate(_inputs(tmp_path, _config()))


def test_env_merges_over_image_and_sets_path(tmp_path: Path) -> None:
    config = _config(command=["x"], envs=[pb.KeyValue(key="A", value="override")])
    spec = generate(_inputs(tmp_path, config, Env=["A=image", "B=keep"]))
    env = spec["process"]["env"]
    assert "A=override" in env and "B=keep" in env
    assert any(e.startswith("PATH=") for e in env)
    assert "HOSTNAME=podhost" in env


def test_image_user_name_resolved_with_groups(tmp_path: Path) -> None:
    spec = generate(_inputs(tmp_path, _config(command=["x"]), User="app"))
    assert spec["process"]["user"] == {"uid": 1000, "gid": 1001, "additionalGids": [1001, 2000]}


def test_run_as_user_overrides_image_user(tmp_path: Path) -> None:
    context = pb.LinuxContainerSecurityContext(run_as_user=pb.Int64Value(value=1000),
                                               run_as_group=pb.Int64Value(value=5),
                                               supplemental_groups=[7],
                                               supplemental_groups_policy=pb.SupplementalGroupsPolicy.Strict)
    config = _config(command=["x"], linux=pb.LinuxContainerConfig(security_context=context))
    spec = generate(_inputs(tmp_path, config, User="root"))
    assert spec["process"]["user"] == {"uid": 1000, "gid": 5, "additionalGids": [5, 7]}


def test_run_as_group_without_user_is_invalid(tmp_path: Path) -> None:
    context = pb.LinuxContainerSecurityContext(run_as_group=pb.Int64Value(value=5))
    config = _config(command=["x"], linux=pb.LinuxContainerConfig(security_context=context))
    with pytest.raises(InvalidArgument, match="run_as_group"):
        generate(_inputs(tmp_path, config))


def test_unknown_image_user_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="nobody-here"):
        generate(_inputs(tmp_path, _config(command=["x"]), User="nobody-here"))


def test_capabilities_default_add_drop(tmp_path: Path) -> None:
    caps = pb.Capability(add_capabilities=["NET_ADMIN"], drop_capabilities=["CAP_CHOWN", "kill"])
    context = pb.LinuxContainerSecurityContext(capabilities=caps)
    config = _config(command=["x"], linux=pb.LinuxContainerConfig(security_context=context))
    bounding = generate(_inputs(tmp_path, config))["process"]["capabilities"]["bounding"]
    assert "CAP_NET_ADMIN" in bounding
    assert "CAP_CHOWN" not in bounding and "CAP_KILL" not in bounding
    assert set(bounding) >= set(DEFAULT_CAPABILITIES) - {"CAP_CHOWN", "CAP_KILL"}


def test_drop_all_then_add(tmp_path: Path) -> None:
    caps = pb.Capability(add_capabilities=["NET_BIND_SERVICE"], drop_capabilities=["ALL"])
    context = pb.LinuxContainerSecurityContext(capabilities=caps)
    config = _config(command=["x"], linux=pb.LinuxContainerConfig(security_context=context))
    assert generate(_inputs(tmp_path, config))["process"]["capabilities"]["bounding"] == [
        "CAP_NET_BIND_SERVICE"]


def test_privileged_needs_privileged_pod_and_unmasks(tmp_path: Path) -> None:
    context = pb.LinuxContainerSecurityContext(privileged=True)
    config = _config(command=["x"], linux=pb.LinuxContainerConfig(security_context=context))
    with pytest.raises(InvalidArgument, match="privileged pod"):
        generate(_inputs(tmp_path, config))
    pod = pb.PodSandboxConfig(metadata=pb.PodSandboxMetadata(name="p"), linux=pb.LinuxPodSandboxConfig(
        security_context=pb.LinuxSandboxSecurityContext(privileged=True)))
    spec = generate(_inputs(tmp_path, config, pod=pod))
    assert "maskedPaths" not in spec["linux"]
    sys_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sys_mount["options"]


def test_default_masked_and_readonly_paths(tmp_path: Path) -> None:
    spec = generate(_inputs(tmp_path, _config(command=["x"])))
    assert "/proc/kcore" in spec["linux"]["maskedPaths"]
    assert "/proc/sys" in spec["linux"]["readonlyPaths"]


def test_seccomp_runtime_default_unconfined_and_localhost(tmp_path: Path) -> None:
    def with_profile(profile: Any) -> dict[str, Any]:
        context = pb.LinuxContainerSecurityContext(seccomp=profile)
        config = _config(command=["x"], linux=pb.LinuxContainerConfig(security_context=context))
        return generate(_inputs(tmp_path, config))

    assert "seccomp" not in generate(_inputs(tmp_path, _config(command=["x"])))["linux"]
    runtime_default = with_profile(pb.SecurityProfile(profile_type=pb.SecurityProfile.ProfileType.RuntimeDefault))
    assert runtime_default["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    unconfined = with_profile(pb.SecurityProfile(profile_type=pb.SecurityProfile.ProfileType.Unconfined))
    assert "seccomp" not in unconfined["linux"]
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}))
    local = with_profile(pb.SecurityProfile(profile_type=pb.SecurityProfile.ProfileType.Localhost,
                                            localhost_ref=str(profile)))
    assert local["linux"]["seccomp"]["syscalls"][0]["names"] == ["mkdir"]
    with pytest.raises(InvalidArgument, match="not found"):
        with_profile(pb.SecurityProfile(profile_type=pb.SecurityProfile.ProfileType.Localhost,
                                        localhost_ref=str(tmp_path / "missing.json")))


def test_apparmor_localhost_without_apparmor_is_invalid(tmp_path: Path) -> None:
    context = pb.LinuxContainerSecurityContext(apparmor=pb.SecurityProfile(
        profile_type=pb.SecurityProfile.ProfileType.Localhost, localhost_ref="custom"))
    config = _config(command=["x"], linux=pb.LinuxContainerConfig(security_context=context))
    with pytest.raises(InvalidArgument, match="AppArmor"):
        generate(_inputs(tmp_path, config))


def test_mounts_pod_files_and_cri_mounts(tmp_path: Path) -> None:
    host = tmp_path / "data"
    config = _config(command=["x"], mounts=[
        pb.Mount(container_path="/data", host_path=str(host), readonly=True,
                 propagation=pb.MountPropagation.PROPAGATION_HOST_TO_CONTAINER)])
    spec = generate(_inputs(tmp_path, config))
    by_dest = {m["destination"]: m for m in spec["mounts"]}
    assert host.is_dir(), "missing host paths are created"
    assert by_dest["/data"]["options"] == ["rbind", "rslave", "ro"]
    assert by_dest["/etc/resolv.conf"]["source"] == "/pod/resolv"
    assert by_dest["/dev/shm"]["source"] == "/pod/shm"


def test_relative_mount_path_is_invalid(tmp_path: Path) -> None:
    config = _config(command=["x"], mounts=[pb.Mount(container_path="data", host_path="/tmp")])
    with pytest.raises(InvalidArgument, match="absolute"):
        generate(_inputs(tmp_path, config))


def test_namespaces_join_pod_pins(tmp_path: Path) -> None:
    spec = generate(_inputs(tmp_path, _config(command=["x"])))
    namespaces = {n["type"]: n.get("path") for n in spec["linux"]["namespaces"]}
    assert namespaces["network"] == "/run/netns/x"
    assert namespaces["ipc"] == "/ns/ipc"
    assert namespaces["uts"] == "/ns/uts"
    assert namespaces["mount"] is None and namespaces["pid"] is None
    assert spec["hostname"] == "podhost"


def test_resources_and_cgroup_path(tmp_path: Path) -> None:
    resources = pb.LinuxContainerResources(cpu_shares=512, cpu_quota=50000, cpu_period=100000,
                                           memory_limit_in_bytes=64 << 20, cpuset_cpus="0",
                                           oom_score_adj=500, unified={"memory.high": "max"})
    config = _config(command=["x"], linux=pb.LinuxContainerConfig(resources=resources))
    spec = generate(_inputs(tmp_path, config))
    assert spec["linux"]["resources"]["cpu"] == {"shares": 512, "quota": 50000, "period": 100000,
                                                 "cpus": "0"}
    assert spec["linux"]["resources"]["memory"] == {"limit": 64 << 20}
    assert spec["linux"]["resources"]["unified"] == {"memory.high": "max"}
    assert spec["process"]["oomScoreAdj"] == 500
    assert spec["linux"]["cgroupsPath"] == "/pycri/sb1/c1"
