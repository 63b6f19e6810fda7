from __future__ import annotations

import errno

import pytest

from pycri.runtime.oci import seccomp_lib
from pycri.runtime.oci.seccomp import SeccompError, compile_filter, default_profile


def base(**extra):
    spec = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}
    spec.update(extra)
    return spec


def test_errno_default_and_custom() -> None:
    f = compile_filter(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            ],
        }
    )
    assert f.default_action == seccomp_lib.act_errno(38)
    actions = {r.name: r.action for r in f.rules}
    assert actions["mkdir"] == seccomp_lib.act_errno(errno.EPERM)
    assert actions["read"] == seccomp_lib.ACT_ALLOW
    assert len(f.arches) == 2


def test_unknown_syscalls_skipped() -> None:
    f = compile_filter(
        base(syscalls=[{"names": ["nosuchcall", "getpid"], "action": "SCMP_ACT_KILL"}])
    )
    assert [r.name for r in f.rules] == ["getpid"]
    assert f.skipped == ["nosuchcall"]


def test_rule_equal_to_default_dropped() -> None:
    f = compile_filter(base(syscalls=[{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]))
    assert f.rules == []


def test_args_same_index_split_into_rules() -> None:
    args = [
        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
        {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
    ]
    f = compile_filter(
        base(syscalls=[{"names": ["personality"], "action": "SCMP_ACT_LOG", "args": args}])
    )
    assert [r.conditions for r in f.rules] == [((0, 4, 1, 0),), ((0, 4, 2, 0),)]
    args = [
        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
        {"index": 1, "value": 0xFF, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"},
    ]
    f = compile_filter(
        base(syscalls=[{"names": ["socket"], "action": "SCMP_ACT_LOG", "args": args}])
    )
    assert f.rules[0].conditions == ((0, 4, 1, 0), (1, 7, 0xFF, 3))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, r"defaultAction: missing"),
        ({"defaultAction": "SCMP_ACT_BOGUS"}, r"defaultAction: unknown action `SCMP_ACT_BOGUS`"),
        (base(listenerPath="/run/agent.sock"), r"listenerPath: seccomp notify"),
        (base(flags=["SECCOMP_FILTER_FLAG_NOPE"]), r"flags: unknown flag"),
        (base(architectures=["SCMP_ARCH_VAX"]), r"architectures: unknown architecture"),
        (base(architectures=["x86_64"]), r"architectures: unknown architecture"),
        (base(syscalls=[{"action": "SCMP_ACT_KILL"}]), r"syscalls\[0\]\.names"),
        (base(syscalls=[{"names": ["read"]}]), r"syscalls\[0\]\.action: missing"),
        (
            base(
                syscalls=[
                    {"names": ["read"], "action": "SCMP_ACT_KILL"},
                    {"names": ["x"], "action": "nope"},
                ]
            ),
            r"syscalls\[1\]\.action: unknown action `nope`",
        ),
        (
            base(syscalls=[{"names": ["read"], "action": "SCMP_ACT_KILL", "errnoRet": 5}]),
            r"errnoRet is only valid",
        ),
        (
            base(
                syscalls=[
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_KILL",
                        "args": [{"index": 6, "op": "SCMP_CMP_EQ"}],
                    }
                ]
            ),
            r"args\[0\]\.index",
        ),
        (
            base(
                syscalls=[
                    {
                        "names": ["read"],
                        "action": "SCMP_ACT_KILL",
                        "args": [{"index": 0, "op": "SCMP_CMP_XX"}],
                    }
                ]
            ),
            r"args\[0\]\.op: unknown operator `SCMP_CMP_XX`",
        ),
        (
            base(syscalls=[{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]),
            r"NOTIFY is not supported",
        ),
    ],
)
def test_validation_names_the_field(spec, message) -> None:
    with pytest.raises(SeccompError, match=message):
        compile_filter(spec)


def test_flags_accepted() -> None:
    f = compile_filter(base(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]))
    assert (seccomp_lib.ATTR_CTL_LOG, 1) in f.attrs
    assert (seccomp_lib.ATTR_CTL_NNP, 0) in f.attrs


def test_default_profile_shape() -> None:
    plain = default_profile()
    assert plain["defaultAction"] == "SCMP_ACT_ERRNO" and plain["defaultErrnoRet"] == 1
    names = {n for r in plain["syscalls"] for n in r["names"]}
    assert {"read", "write", "execve", "clone", "socket"} <= names
    assert {"mount", "ptrace", "unshare", "kexec_load", "bpf", "reboot"}.isdisjoint(names)
    assert all(set(r) <= {"names", "action", "args", "errnoRet"} for r in plain["syscalls"])
    clone = [r for r in plain["syscalls"] if r["names"] == ["clone"]]
    assert clone[0]["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"
    admin = default_profile(["CAP_SYS_ADMIN"])
    admin_names = {n for r in admin["syscalls"] for n in r["names"]}
    assert {"mount", "unshare", "setns"} <= admin_names
    assert not [r for r in admin["syscalls"] if r["names"] == ["clone3"]]
    compile_filter(plain)
    compile_filter(admin)
