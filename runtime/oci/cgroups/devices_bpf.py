"""Device access control on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program.

cgroup v2 has no devices.allow/deny; the kernel instead runs an eBPF program attached
to the cgroup for each device open/mknod. We assemble the program from the OCI rules
ourselves (a handful of instruction kinds) and load it with the bpf(2) syscall.

Rule semantics follow the v1 files: rules apply in order and the last matching rule
wins, so the program checks them in reverse and returns at the first match. With no
rule matching, access is allowed (a v1 cgroup starts from its parent's allow-all).
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from pycri.runtime.oci.cgroups.errors import CgroupError, UnsupportedError
from pycri.runtime.oci.lazylog import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)

# bpf_cgroup_dev_ctx.access_type = (access << 16) | type
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
_ACCESS_BITS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}
_TYPES = {"b": DEV_BLOCK, "c": DEV_CHAR}

# Opcodes (classic eBPF encoding) used by the generated program.
_LDX_W = 0x61  # dst = *(u32 *)(src + off)
_AND_K = 0x57  # dst &= imm   (alu64)
_RSH_K = 0x77  # dst >>= imm  (alu64)
_MOV_K = 0xB7  # dst = imm    (alu64)
_MOV_X = 0xBF  # dst = src    (alu64)
_JNE_K = 0x55  # if dst != imm: pc += off
_JEQ_K = 0x15  # if dst == imm: pc += off
_EXIT = 0x95

_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_BPF_PROG_DETACH = 9
_BPF_PROG_GET_FD_BY_ID = 13
_BPF_PROG_QUERY = 16
_PROG_TYPE_CGROUP_DEVICE = 15
_ATTACH_CGROUP_DEVICE = 6
_F_ALLOW_MULTI = 2
_SYS_BPF = {"x86_64": 321, "aarch64": 280, "ppc64le": 361, "s390x": 351, "riscv64": 280}


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _access_mask(access: str) -> int:
    mask = 0
    for ch in access:
        if ch not in _ACCESS_BITS:
            raise CgroupError(f"set devices: invalid access `{access}` (want a subset of rwm)")
        mask |= _ACCESS_BITS[ch]
    return mask


def _rule_block(rule: dict[str, Any]) -> list[bytes]:
    """Instructions that return allow/deny when `rule` matches, else fall through.

    Registers on entry: r2 = device type, r3 = requested access, r4 = major, r5 = minor.
    """
    kind = rule.get("type") or "a"
    if kind not in ("a", "b", "c"):
        raise CgroupError(f"set devices: invalid type `{kind}` (want a, b or c)")
    mask = _access_mask(rule.get("access") or "rwm")
    allow = bool(rule.get("allow"))
    major, minor = rule.get("major"), rule.get("minor")
    checks: list[tuple[int, int, int, int]] = []  # (code, dst, imm) + placeholder
    if kind != "a":
        checks.append((_JNE_K, 2, _TYPES[kind], 0))
    if mask != 0b111:
        if allow:
            # Allow only when every requested bit is granted by the rule.
            checks.append((_AND_K, 1, ~mask & 0b111, 1))
            checks.append((_JNE_K, 1, 0, 0))
        else:
            # Deny as soon as one requested bit is covered by the rule.
            checks.append((_AND_K, 1, mask, 1))
            checks.append((_JEQ_K, 1, 0, 0))
    if kind != "a" and major is not None and int(major) >= 0:
        checks.append((_JNE_K, 4, int(major), 0))
    if kind != "a" and minor is not None and int(minor) >= 0:
        checks.append((_JNE_K, 5, int(minor), 0))
    out: list[bytes] = []
    n_checks = sum(2 if c[3] else 1 for c in checks)  # AND is preceded by r1 = r3
    total = n_checks + 2  # + mov r0, exit
    pos = 0
    for code, dst, imm, is_alu in checks:
        if is_alu:
            out.append(_insn(_MOV_X, dst=1, src=3))
            out.append(_insn(code, dst=dst, imm=imm))
            pos += 2
            continue
        pos += 1
        out.append(_insn(code, dst=dst, off=total - pos, imm=imm))
    out.append(_insn(_MOV_K, dst=0, imm=1 if allow else 0))
    out.append(_insn(_EXIT))
    return out


def compile_program(rules: list[dict[str, Any]]) -> bytes:
    prologue = [
        _insn(_LDX_W, dst=2, src=1, off=0),
        _insn(_AND_K, dst=2, imm=0xFFFF),
        _insn(_LDX_W, dst=3, src=1, off=0),
        _insn(_RSH_K, dst=3, imm=16),
        _insn(_LDX_W, dst=4, src=1, off=4),
        _insn(_LDX_W, dst=5, src=1, off=8),
    ]
    body: list[bytes] = []
    for rule in reversed(rules):
        block = _rule_block(rule)
        body.extend(block)
        if len(block) == 2:
            # A rule matching everything ends the program: the verifier rejects
            # instructions that can never run.
            return b"".join(prologue + body)
    epilogue = [_insn(_MOV_K, dst=0, imm=1), _insn(_EXIT)]
    return b"".join(prologue + body + epilogue)


# ---------------------------------------------------------------- bpf(2)

_libc = ctypes.CDLL(None, use_errno=True)


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    nr = _SYS_BPF.get(os.uname().machine)
    if nr is None:
        raise UnsupportedError(f"bpf syscall number unknown for `{os.uname().machine}`")
    ret = int(_libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), attr, ctypes.c_uint(len(attr))))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def _load(insns: bytes) -> int:
    code = ctypes.create_string_buffer(insns, len(insns))
    license_ = ctypes.create_string_buffer(b"Apache-2.0")
    log_buf = ctypes.create_string_buffer(65536)
    attr = ctypes.create_string_buffer(72)
    struct.pack_into(
        "<IIQQIIQ",
        attr,
        0,
        _PROG_TYPE_CGROUP_DEVICE,
        len(insns) // 8,
        ctypes.addressof(code),
        ctypes.addressof(license_),
        1,
        len(log_buf),
        ctypes.addressof(log_buf),
    )
    try:
        return _bpf(_BPF_PROG_LOAD, attr)
    except OSError as exc:
        verifier = log_buf.value.decode(errors="replace").strip()
        raise CgroupError(
            f"load device cgroup program: {os.strerror(exc.errno or 0).lower()}"
            + (f" (verifier: {verifier[-300:]})" if verifier else "")
        ) from exc


def _attached_ids(cgroup_fd: int) -> list[int]:
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(40)
    struct.pack_into(
        "<IIIIQI", attr, 0, cgroup_fd, _ATTACH_CGROUP_DEVICE, 0, 0, ctypes.addressof(ids), 64
    )
    _bpf(_BPF_PROG_QUERY, attr)
    count = struct.unpack_from("<I", attr, 24)[0]
    return list(ids[: min(count, 64)])


def _detach(cgroup_fd: int, prog_id: int) -> None:
    attr = ctypes.create_string_buffer(16)
    struct.pack_into("<I", attr, 0, prog_id)
    prog_fd = _bpf(_BPF_PROG_GET_FD_BY_ID, attr)
    try:
        attr = ctypes.create_string_buffer(20)
        struct.pack_into("<III", attr, 0, cgroup_fd, prog_fd, _ATTACH_CGROUP_DEVICE)
        _bpf(_BPF_PROG_DETACH, attr)
    finally:
        os.close(prog_fd)


def apply(cgroup_dir: str, rules: list[dict[str, Any]]) -> None:
    """Replace the cgroup's device program with one built from `rules`.

    The new program is attached before the old ones are detached, so the cgroup is never
    without a filter in between.
    """
    insns = compile_program(rules)
    prog_fd = _load(insns)
    try:
        cg_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        os.close(prog_fd)
        raise CgroupError(f"open cgroup `{cgroup_dir}`: {exc.strerror}") from exc
    try:
        try:
            old = _attached_ids(cg_fd)
        except OSError:
            old = []
        attr = ctypes.create_string_buffer(20)
        struct.pack_into("<IIII", attr, 0, cg_fd, prog_fd, _ATTACH_CGROUP_DEVICE, _F_ALLOW_MULTI)
        try:
            _bpf(_BPF_PROG_ATTACH, attr)
        except OSError as exc:
            raise CgroupError(
                f"attach device program to `{cgroup_dir}`: {os.strerror(exc.errno or 0).lower()}"
            ) from exc
        for prog_id in old:
            try:
                _detach(cg_fd, prog_id)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    log.warning("old device program kept prog_id=%d err=%s", prog_id, exc)
        log.debug("device program attached dir=%s rules=%d", cgroup_dir, len(rules))
    finally:
        os.close(cg_fd)
        os.close(prog_fd)
