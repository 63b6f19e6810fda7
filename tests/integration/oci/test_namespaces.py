"""namespaces: new ones, joined by path, user namespace maps, hostname, sysctl."""

from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = pytest.mark.root


def test_new_namespaces_differ_from_the_host(make_bundle, run):
    code, out = run(make_bundle(["sh", "-c", "echo $$; for n in net uts ipc mnt; do "
                                 "readlink /proc/self/ns/$n; done"]))
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == "1"
    for line, kind in zip(lines[1:], ("net", "uts", "ipc", "mnt"), strict=True):
        assert line != os.readlink(f"/proc/self/ns/{kind}")


def test_hostname_domainname_sysctl(make_bundle, run, spec_for):
    spec = spec_for(["sh", "-c", "hostname; cat /proc/sys/kernel/domainname "
                     "/proc/sys/net/ipv4/ip_forward"], hostname="box1")
    spec["domainname"] = "example.test"
    spec["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    code, out = run(make_bundle([], spec=spec))
    assert code == 0, out
    assert out.split() == ["box1", "example.test", "1"]


def test_join_network_namespace_by_path(make_bundle, run, spec_for):
    holder = subprocess.Popen(["unshare", "--net", "sleep", "300"])
    try:
        path = f"/proc/{holder.pid}/ns/net"
        for _ in range(100):
            if os.readlink(path) != os.readlink("/proc/self/ns/net"):
                break
            os.sched_yield()
        spec = spec_for(["readlink", "/proc/self/ns/net"])
        spec["linux"]["namespaces"] = [
            {"type": "network", "path": path} if ns["type"] == "network" else ns
            for ns in spec["linux"]["namespaces"]]
        code, out = run(make_bundle([], spec=spec))
        assert code == 0, out
        assert out.strip() == os.readlink(path)
    finally:
        holder.kill()
        holder.wait()


def test_shared_namespace_when_not_listed(make_bundle, run, spec_for):
    spec = spec_for(["readlink", "/proc/self/ns/net"])
    spec["linux"]["namespaces"] = [ns for ns in spec["linux"]["namespaces"]
                                   if ns["type"] != "network"]
    spec["mounts"] = [m for m in spec["mounts"] if m["type"] != "sysfs"]
    code, out = run(make_bundle([], spec=spec))
    assert code == 0, out
    assert out.strip() == os.readlink("/proc/self/ns/net")


def test_user_namespace_with_mappings(make_bundle, run, spec_for, tmp_path):
    spec = spec_for(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u"])
    spec["linux"]["namespaces"].append({"type": "user"})
    spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    # sysfs and cgroup mounts need privileges a mapped root lacks over the host.
    spec["mounts"] = [m for m in spec["mounts"] if m["type"] not in ("sysfs", "cgroup")]
    # The mapped root must be able to reach the rootfs: no 0700 dirs on the way.
    for d in (tmp_path.parent, tmp_path.parent.parent, tmp_path):
        d.chmod(0o755)
    # The init is a grandchild here (see runtime/oci/init.py): reap it as a subreaper.
    from pycri.runtime.sys import prctl
    from pycri.runtime.sys.constants import PR_SET_CHILD_SUBREAPER

    prctl(PR_SET_CHILD_SUBREAPER, 1)
    try:
        code, out = run(make_bundle([], spec=spec))
    finally:
        prctl(PR_SET_CHILD_SUBREAPER, 0)
    assert code == 0, out
    fields = out.split()
    assert fields[:3] == ["0", "100000", "65536"]
    assert fields[3:6] == ["0", "100000", "65536"]
    assert fields[-1] == "0"
