from __future__ import annotations

import struct

import pytest

from pycri.runtime.oci.cgroups import CgroupError
from pycri.runtime.oci.cgroups.devices_bpf import compile_program

EXIT = 0x95


def insns(prog: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack_from("<BBhi", prog, i) for i in range(0, len(prog), 8)]


def test_catch_all_rule_ends_program() -> None:
    prog = insns(compile_program([{"allow": False, "access": "rwm"}]))
    assert prog[-1][0] == EXIT
    assert prog[-2] == (0xB7, 0, 0, 0)  # r0 = 0: deny
    assert len(prog) == 8  # 6 prologue + mov + exit: nothing unreachable


def test_rules_checked_last_first_with_valid_jumps() -> None:
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
    ]
    prog = insns(compile_program(rules))
    # The first block after the prologue is the allow rule for c 1:3.
    block = prog[6:]
    assert block[0] == (0x55, 2, 7, 2)  # if type != char: skip the rest of the block
    jumps = [(i, off) for i, (code, _r, off, _imm) in enumerate(prog) if code in (0x55, 0x15)]
    for i, off in jumps:
        assert 0 < i + 1 + off < len(prog)
    assert prog[-1][0] == EXIT


def test_no_rules_allow_all() -> None:
    prog = insns(compile_program([]))
    assert prog[-2] == (0xB7, 0, 0, 1)


def test_invalid_rules() -> None:
    with pytest.raises(CgroupError, match="access"):
        compile_program([{"allow": True, "type": "c", "access": "x"}])
    with pytest.raises(CgroupError, match="type"):
        compile_program([{"allow": True, "type": "p"}])
