from __future__ import annotations

import errno

import pytest

from pycri.runtime.oci import capabilities as caps
from pycri.runtime.oci.capabilities import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    CapabilityError,
    apply_capabilities,
    keep_caps_for_user_switch,
    prepare,
)


class FakeCaps:
    def __init__(self, fail_prctl: int | None = None) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.fail_prctl = fail_prctl

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0) -> int:
        self.calls.append(("prctl", option, arg2, arg3))
        if option == self.fail_prctl:
            raise OSError(errno.EPERM, "nope")
        return 0

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self.calls.append(("capset", effective, permitted, inheritable))


def test_tables() -> None:
    assert len(ALL_CAPABILITIES) == 41
    assert ALL_CAPABILITIES[21] == "CAP_SYS_ADMIN"
    assert ALL_CAPABILITIES[40] == "CAP_CHECKPOINT_RESTORE"
    assert len(DEFAULT_CAPABILITIES) == 14
    assert set(DEFAULT_CAPABILITIES) <= set(ALL_CAPABILITIES)


def test_unknown_names_listed() -> None:
    with pytest.raises(CapabilityError, match="bounding:CAP_BOGUS, ambient:CAP_NOPE"):
        prepare({"bounding": ["CAP_BOGUS"], "ambient": ["CAP_NOPE"]}, kernel_last_cap=40)


def test_caps_beyond_kernel_skipped() -> None:
    plan = prepare({"bounding": ["CAP_BPF", "CAP_CHOWN"]}, kernel_last_cap=37)
    assert plan.bounding == frozenset({0})


def test_order_and_masks() -> None:
    fake = FakeCaps()
    spec = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "inheritable": ["CAP_NET_RAW"],
        "ambient": ["CAP_NET_RAW"],
    }
    apply_capabilities(spec, syscalls=fake)
    # The kernel's cap_last_cap is used here; every unlisted cap is dropped.
    drops = [c for c in fake.calls if c[1] == caps.PR_CAPBSET_DROP]
    dropped = {c[2] for c in drops}
    assert {0, 5, 13}.isdisjoint(dropped) and 21 in dropped
    capset_at = next(i for i, c in enumerate(fake.calls) if c[0] == "capset")
    assert capset_at == len(drops)  # bounding first, then capset
    assert fake.calls[capset_at] == ("capset", 1 | 1 << 5, 1 | 1 << 5 | 1 << 13, 1 << 13)
    assert fake.calls[-1] == ("prctl", caps.PR_CAP_AMBIENT, caps.PR_CAP_AMBIENT_RAISE, 13)


def test_high_caps_in_second_word() -> None:
    fake = FakeCaps()
    prepare(
        {"effective": ["CAP_BPF"], "permitted": ["CAP_BPF"]}, kernel_last_cap=40, syscalls=fake
    ).apply()
    assert fake.calls[0] == ("capset", 1 << 39, 1 << 39, 0)


def test_errors_name_the_cap() -> None:
    fake = FakeCaps(fail_prctl=caps.PR_CAPBSET_DROP)
    with pytest.raises(CapabilityError, match="drop `CAP_CHOWN` from the bounding set"):
        prepare({}, kernel_last_cap=40, syscalls=fake).drop_bounding()
    fake = FakeCaps(fail_prctl=caps.PR_CAP_AMBIENT)
    with pytest.raises(CapabilityError, match="raise ambient `CAP_KILL`"):
        prepare({"ambient": ["CAP_KILL"]}, kernel_last_cap=40, syscalls=fake).apply()


def test_keep_caps() -> None:
    fake = FakeCaps()
    keep_caps_for_user_switch(fake)
    assert fake.calls == [("prctl", caps.PR_SET_KEEPCAPS, 1, 0)]


def test_lowercase_and_short_names_accepted() -> None:
    plan = prepare({"effective": ["cap_chown", "KILL"]}, kernel_last_cap=40)
    assert plan.effective == frozenset({0, 5})
