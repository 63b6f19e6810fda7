"""critest's security-context suite, part two: supplemental-groups policy, seccomp,
no_new_privs, AppArmor, pod sysctls and mount propagation.

Each test makes the same CRI calls with the same config fields as the critest case named in
its docstring and asserts the same outcome; the images critest pulls (an image whose
/etc/group lists its user, a setuid-root probe) are rebuilt from our busybox.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from pycri.api.cri import pb
from tests.e2e.cri_env import CriEnv
from tests.e2e.critest_security_util import (
    PROFILE,
    PodFactory,
    exec_ok,
    log_lines,
    pod_factory,
    rpc_code,
    security_images,
)

pytestmark = pytest.mark.root

SLEEP = ["sleep", "31337"]
Ctx = pb.LinuxContainerSecurityContext


@pytest.fixture
def pods(cri: CriEnv, request: pytest.FixtureRequest) -> Iterator[PodFactory]:
    yield from pod_factory(cri, request)


@pytest.fixture(scope="module")
def images(cri: CriEnv, registry: Any) -> dict[str, str]:
    refs = {}
    for name, image in security_images().items():
        repo, _, tag = name.partition(":")
        refs[name] = registry.push(image, f"critest/{repo}", tag)
        cri.client.pull_image(refs[name])
    return refs


# -- SupplementalGroupsPolicy ------------------------------------------------------------------

@pytest.mark.parametrize("policy, expected", [
    (pb.SupplementalGroupsPolicy.Merge, [1000, 1234, 50000]),
    (pb.SupplementalGroupsPolicy.Strict, [1000, 1234]),
], ids=["merge", "strict"])
def test_supplemental_groups_policy(cri: CriEnv, pods: PodFactory, images: dict[str, str],
                                    policy: int, expected: list[int]) -> None:
    """SupplementalGroupsPolicy=Merge adds the image's groups of the user; Strict does not"""
    assert cri.client.status().features.supplemental_groups_policy
    context = Ctx(run_as_user=pb.Int64Value(value=1000), supplemental_groups=[1234],
                  supplemental_groups_policy=policy)
    container = pods.start(pods.run(), "groups", ["sh", "-c", "id -G; sleep infinity"], context,
                           image=images["predefined-group:latest"])
    user = cri.client.container_status(container).status.user.linux
    assert (user.uid, user.gid, sorted(user.supplemental_groups)) == (1000, 1000, expected)
    line = " ".join(map(str, expected))
    assert exec_ok(cri, container, ["id", "-G"]) == line + "\n"
    assert log_lines(cri, container) == [line]


# -- seccomp -----------------------------------------------------------------------------------

BLOCK_HOSTNAME = {"defaultAction": "SCMP_ACT_ALLOW",
                  "syscalls": [{"names": ["sethostname"], "action": "SCMP_ACT_ERRNO"}]}
BLOCK_CHMOD = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO"}]}


@pytest.fixture
def profiles(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, body in (("block-host-name.json", BLOCK_HOSTNAME),
                       ("block-chmod.json", BLOCK_CHMOD)):
        (tmp_path / name).write_text(json.dumps(body))
        paths[name] = str(tmp_path / name)
    return paths


def _seccomp_pod(pods: PodFactory, profile: Any) -> str:
    """Pod and container both carry the profile, as critest's seccomp sandboxes do."""
    pod = pods.run(seccomp=profile)
    context = Ctx() if profile is None else Ctx(seccomp=profile)
    return pods.start(pod, "seccomp", SLEEP, context)


def _seccomp_mode(cri: CriEnv, container: str) -> str:
    return exec_ok(cri, container, ["grep", "Seccomp:", "/proc/self/status"]).split()[1]


@pytest.mark.parametrize("profile, mode", [
    (pb.SecurityProfile(profile_type=PROFILE.Unconfined), "0"),
    (pb.SecurityProfile(), "2"),
    (None, "0"),
], ids=["unconfined", "default", "nil"])
def test_seccomp_mode_in_status(cri: CriEnv, pods: PodFactory, profile: Any, mode: str) -> None:
    """should support seccomp unconfined / default / nil profile on the container"""
    assert _seccomp_mode(cri, _seccomp_pod(pods, profile)) == mode


def test_seccomp_localhost_profile(cri: CriEnv, pods: PodFactory,
                                   profiles: dict[str, str]) -> None:
    """should support seccomp localhost profile on the container"""
    profile = pb.SecurityProfile(profile_type=PROFILE.Localhost,
                                 localhost_ref=profiles["block-chmod.json"])
    out = cri.client.exec_sync(_seccomp_pod(pods, profile), ["chmod", "400", "/"], timeout=20)
    assert out.exit_code != 0
    assert b"Operation not permitted" in out.stderr


def test_seccomp_missing_localhost_profile_is_rejected(cri: CriEnv, pods: PodFactory,
                                                       tmp_path: Path) -> None:
    """(kubelet) a Localhost profile that is not on the node fails CreateContainer cleanly"""
    pod = pods.run()
    profile = pb.SecurityProfile(profile_type=PROFILE.Localhost,
                                 localhost_ref=str(tmp_path / "absent.json"))
    code = rpc_code(lambda: pods.create(pod, "noprofile", SLEEP, Ctx(seccomp=profile)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert cri.client.list_containers(pb.ContainerFilter(pod_sandbox_id=pod[0])) == []


def _sethostname_allowed(cri: CriEnv, container: str) -> bool:
    out = cri.client.exec_sync(container, ["hostname", "ANewHostName"], timeout=20)
    return out.exit_code == 0


@pytest.mark.parametrize("privileged, localhost, allowed", [
    (False, False, True), (False, True, False), (True, True, True),
], ids=["unconfined-sysadmin", "blocking-sysadmin", "blocking-privileged-ignored"])
def test_seccomp_sethostname(cri: CriEnv, pods: PodFactory, profiles: dict[str, str],
                             privileged: bool, localhost: bool, allowed: bool) -> None:
    """runtime should not block setting host name with unconfined seccomp and SYS_ADMIN /
    should support a seccomp profile that blocks setting hostname with SYS_ADMIN /
    should ignore a seccomp profile that blocks setting hostname when privileged"""
    if localhost:
        profile = pb.SecurityProfile(profile_type=PROFILE.Localhost,
                                     localhost_ref=profiles["block-host-name.json"])
    else:
        profile = pb.SecurityProfile(profile_type=PROFILE.Unconfined)
    caps = pb.Capability(add_capabilities=[] if privileged else ["SYS_ADMIN"])
    pod = pods.run(privileged=privileged)
    container = pods.start(pod, "sethostname", ["sleep", "60"],
                           Ctx(privileged=privileged, capabilities=caps, seccomp=profile))
    assert _sethostname_allowed(cri, container) is allowed


# -- NoNewPrivs --------------------------------------------------------------------------------

@pytest.mark.parametrize("no_new_privs, euid", [(True, 1000), (False, 0)],
                         ids=["true", "false"])
def test_no_new_privs(cri: CriEnv, pods: PodFactory, images: dict[str, str],
                      no_new_privs: bool, euid: int) -> None:
    """should not allow privilege escalation when true / should allow it when false"""
    context = Ctx(no_new_privs=no_new_privs, run_as_user=pb.Int64Value(value=1000))
    container = pods.start(pods.run(), "nnp", [], context, image=images["nonewprivs:latest"])
    assert cri.wait_exit(container).exit_code == 0
    assert log_lines(cri, container) == [f"Effective uid: {euid}"]


# -- AppArmor ----------------------------------------------------------------------------------

def _apparmor_enabled() -> bool:
    try:
        return Path("/sys/module/apparmor/parameters/enabled").read_text().startswith("Y")
    except OSError:
        return False


@pytest.mark.skipif(_apparmor_enabled(), reason="checks a host without AppArmor")
@pytest.mark.parametrize("field", ["apparmor", "apparmor_profile", "both"])
def test_apparmor_profile_without_apparmor_fails_cleanly(cri: CriEnv, pods: PodFactory,
                                                         field: str) -> None:
    """should fail with an unloaded apparmor profile (here: no AppArmor at all)"""
    context = Ctx()
    if field in ("apparmor", "both"):
        context.apparmor.CopyFrom(pb.SecurityProfile(
            profile_type=PROFILE.Localhost, localhost_ref="localhost/cri-validate-deny-write"))
    if field in ("apparmor_profile", "both"):
        context.apparmor_profile = "localhost/non-existent-profile"
    pod = pods.run()
    code = rpc_code(lambda: pods.create(pod, "apparmor", ["touch", "/tmp/foo"], context))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert cri.client.list_containers(pb.ContainerFilter(pod_sandbox_id=pod[0])) == []
    assert list((cri.tmp / "run" / "bundles").iterdir()) == []


@pytest.mark.skipif(_apparmor_enabled(), reason="checks a host without AppArmor")
def test_apparmor_default_and_unconfined_run_without_apparmor(cri: CriEnv,
                                                              pods: PodFactory) -> None:
    """kubelet sends RuntimeDefault for every pod: it must run where AppArmor is absent"""
    pod = pods.run()
    for kind in (PROFILE.RuntimeDefault, PROFILE.Unconfined):
        context = Ctx(apparmor=pb.SecurityProfile(profile_type=kind))
        container = pods.start(pod, f"aa{kind}", ["touch", "/tmp/foo"], context)
        assert cri.wait_exit(container).exit_code == 0


@pytest.mark.skipif(not _apparmor_enabled(), reason="AppArmor is disabled on this host")
def test_apparmor_enforcement() -> None:
    """should enforce a profile blocking writes / a permissive (audit) profile"""
    pytest.skip("AppArmor enforcement checks need apparmor_parser and loaded test profiles")


# -- sysctls -----------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value", [("kernel.shm_rmid_forced", "1"),
                                        ("fs.mqueue.msg_max", "100")], ids=["safe", "unsafe"])
def test_pod_sysctls(cri: CriEnv, pods: PodFactory, key: str, value: str) -> None:
    """should support safe sysctls / should support unsafe sysctls"""
    before = Path("/proc/sys", *key.split(".")).read_text()
    container = pods.start(pods.run(sysctls={key: value}), "sysctl", SLEEP)
    path = "/proc/sys/" + key.replace(".", "/")
    assert exec_ok(cri, container, ["cat", path]).strip() == value
    assert Path("/proc/sys", *key.split(".")).read_text() == before


# -- mount propagation -------------------------------------------------------------------------

PROPAGATION = pb.MountPropagation


@pytest.fixture
def propagation_dirs(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Path]]:
    source, flag_dir = tmp_path / "mnt", tmp_path / "propagationSrcDir"
    (source / "propagationMnt").mkdir(parents=True)
    flag_dir.mkdir()
    (flag_dir / "flagFile").touch()
    mode = "--make-rshared" if request.param != PROPAGATION.PROPAGATION_PRIVATE \
        else "--make-rprivate"
    subprocess.run(["mount", "--rbind", str(source), str(source)], check=True)
    try:
        subprocess.run(["mount", mode, str(source)], check=True)
        yield {"source": source, "flags": flag_dir, "point": source / "propagationMnt"}
    finally:
        subprocess.run(["umount", "-R", "-l", str(source)], check=False)


@pytest.mark.parametrize("propagation_dirs, propagation, into, out_of", [
    (PROPAGATION.PROPAGATION_PRIVATE, PROPAGATION.PROPAGATION_PRIVATE, False, False),
    (PROPAGATION.PROPAGATION_BIDIRECTIONAL, PROPAGATION.PROPAGATION_BIDIRECTIONAL, True, True),
    (PROPAGATION.PROPAGATION_HOST_TO_CONTAINER, PROPAGATION.PROPAGATION_HOST_TO_CONTAINER,
     True, False),
], ids=["rprivate", "rshared", "rslave"], indirect=["propagation_dirs"])
def test_mount_propagation(cri: CriEnv, pods: PodFactory, propagation_dirs: dict[str, Path],
                           propagation: int, into: bool, out_of: bool) -> None:
    """mount with 'rprivate' / 'rshared' / 'rslave' propagates as named"""
    source = str(propagation_dirs["source"])
    pod = pods.run(privileged=True)
    mount = pb.Mount(host_path=source, container_path=source, propagation=propagation)
    container = pods.start(pod, "propagation", SLEEP, Ctx(privileged=True), mounts=[mount])
    mounts = cri.client.container_status(container).status.mounts
    assert [(m.container_path, m.host_path, m.readonly, m.selinux_relabel, m.propagation)
            for m in mounts] == [(source, source, False, False, propagation)]

    point = propagation_dirs["point"]
    subprocess.run(["mount", "--rbind", str(propagation_dirs["flags"]), str(point)], check=True)
    listed = exec_ok(cri, container, ["ls", "-A", str(point)])
    assert bool(listed.strip()) is into

    inner = propagation_dirs["source"] / "containerMntPoint"
    exec_ok(cri, container, ["sh", "-c", f"mkdir -p {inner}"])
    exec_ok(cri, container, ["sh", "-c", f"mount --bind /etc {inner}"])
    assert bool(os.listdir(inner)) is out_of


# -- user namespaces ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [pb.NamespaceMode.POD, pb.NamespaceMode.CONTAINER,
                                  pb.NamespaceMode.TARGET], ids=["pod", "container", "target"])
def test_user_namespaces_are_reported_unsupported_and_refused(cri: CriEnv, pods: PodFactory,
                                                               mode: int) -> None:
    """critest skips its UserNamespaces cases when no handler reports the feature; a pod
    that asks for one anyway must fail, not run with the host's users"""
    handlers = cri.client.status(verbose=True).runtime_handlers
    assert handlers and not any(h.features.user_namespaces for h in handlers)
    mapping = [pb.IDMapping(container_id=0, host_id=1000, length=100000)]
    options = pb.NamespaceOption(userns_options=pb.UserNamespace(
        mode=mode, uids=mapping, gids=mapping))
    before = len(cri.client.list_pod_sandboxes())
    assert rpc_code(lambda: pods.run(namespaces=options)) == grpc.StatusCode.INVALID_ARGUMENT
    assert len(cri.client.list_pod_sandboxes()) == before


def test_host_user_namespace_runs(cri: CriEnv, pods: PodFactory) -> None:
    """runtime should support NamespaceMode_NODE: the container sees the host's uid_map"""
    options = pb.NamespaceOption(userns_options=pb.UserNamespace(mode=pb.NamespaceMode.NODE))
    container = pods.start(pods.run(namespaces=options), "hostusers",
                           ["cat", "/proc/self/uid_map"], Ctx(namespace_options=options))
    cri.wait_exit(container)
    host = Path("/proc/self/uid_map").read_text().split()
    assert [line.split() for line in log_lines(cri, container)] == [host]
