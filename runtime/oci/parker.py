"""The parker: a tiny static x86-64 program the init becomes once setup is done, so a
created-but-not-started container holds a few KiB instead of a whole interpreter.

The init execs it (from a sealed memfd, by fd: the host's files are out of reach after
pivot_root) with

    argv = [NAME, "/proc/self/fd/<fifo>", "<fifo>", "<sock>", exe, *user_argv]

and it: turns itself non-dumpable (exec made it dumpable again, and its fds lead to the
host's state dir), then closes the init's socket (the parent's `create` returns on that
end-of-file, so nobody sees the parker dumpable), opens the exec fifo for writing
(blocks until `start` opens the read side), closes the inherited O_PATH fifo fd, writes
one byte, and execve's the user process with the environment it got. The write end is
close-on-exec, so `start` sees end-of-file once the user process is in place, as with
the Python path. Any failure: a line on stderr and exit 1, like the Python init.

The machine code is assembled here by a small builder (no compiler on nodes); the unit
tests check it against objdump where binutils exist, and run it.
"""

from __future__ import annotations

import os

from pycri.runtime.oci.lazylog import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)

NAME = "pyrunc-init"
_BASE = 0x400000  # load address of the single PT_LOAD segment
_EHDR = 64
_PHDR = 56
_FAIL_MSG = b"pyrunc init: parker: open exec fifo or exec failed\n"

# x86-64 syscall numbers the parker (and the exec of it) needs; a seccomp profile loaded
# before parking must allow each of them unconditionally.
_SYS_WRITE, _SYS_CLOSE, _SYS_EXECVE, _SYS_PRCTL = 1, 3, 59, 157
_SYS_EXIT_GROUP, _SYS_OPENAT, _SYS_EXECVEAT = 231, 257, 322
NEEDED_SYSCALLS = (_SYS_WRITE, _SYS_CLOSE, _SYS_EXECVE, _SYS_PRCTL, _SYS_OPENAT,
                   _SYS_EXECVEAT)
_AT_FDCWD = -100
_O_WRONLY_CLOEXEC = 0o1 | 0o2000000
_PR_SET_DUMPABLE = 4


class _Asm:
    """Just enough of an assembler: raw encodings written by hand (each with its text),
    plus rel8 jumps and rel32 operands (call, rip-relative lea) resolved against labels."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any, str]] = []

    def ins(self, code: bytes, text: str) -> None:
        self.items.append(("ins", code, text))

    def imm32(self, opcode: bytes, value: int, text: str) -> None:
        self.ins(opcode + (value & 0xFFFFFFFF).to_bytes(4, "little"), text)

    def jump(self, opcode: int, label: str, text: str) -> None:
        self.items.append(("jump", (opcode, label), text))

    def rel32(self, prefix: bytes, label: str, text: str) -> None:
        self.items.append(("rip", (prefix, label), text))

    def label(self, name: str) -> None:
        self.items.append(("label", name, ""))

    def data(self, blob: bytes) -> None:
        self.items.append(("data", blob, ""))

    def assemble(self) -> bytes:
        sizes = {"jump": 2}
        labels: dict[str, int] = {}
        pos = 0
        for kind, val, _ in self.items:
            if kind == "label":
                labels[val] = pos
            elif kind == "rip":
                pos += len(val[0]) + 4
            else:
                pos += sizes.get(kind) or len(val)
        out = bytearray()
        for kind, val, _ in self.items:
            if kind in ("ins", "data"):
                out += val
            elif kind == "jump":
                rel = labels[val[1]] - (len(out) + 2)
                if not -128 <= rel <= 127:
                    raise ValueError(f"jump to {val[1]} out of rel8 range")
                out += bytes([val[0], rel & 0xFF])
            elif kind == "rip":
                rel = labels[val[1]] - (len(out) + len(val[0]) + 4)
                out += val[0] + rel.to_bytes(4, "little", signed=True)
        return bytes(out)

    def listing(self) -> list[str]:
        """The instruction texts in order (what objdump should print)."""
        return [t for kind, _, t in self.items if kind in ("ins", "jump", "rip")]


def program() -> _Asm:
    """The parker's code. Registers: rbp = the initial stack (argc, argv..., 0, envp...),
    rbx = the fifo's write fd; syscalls clobber only rax, rcx and r11."""
    a = _Asm()
    a.ins(b"\x48\x89\xe5", "mov rbp,rsp")
    a.imm32(b"\xbf", _PR_SET_DUMPABLE, "mov edi,0x4")
    a.ins(b"\x31\xf6", "xor esi,esi")
    a.imm32(b"\xb8", _SYS_PRCTL, "mov eax,0x9d")
    a.ins(b"\x0f\x05", "syscall")  # prctl(PR_SET_DUMPABLE, 0)
    a.ins(b"\x48\x83\x7d\x00\x06", "cmp QWORD PTR [rbp+0x0],0x6")  # argc >= 6
    a.jump(0x7C, "fail", "jl fail")
    # close(argv[3]): the init's socket; its end-of-file lets `create` return.
    a.ins(b"\x48\x8b\x75\x20", "mov rsi,QWORD PTR [rbp+0x20]")
    a.rel32(b"\xe8", "atoi", "call atoi")
    a.imm32(b"\xb8", _SYS_CLOSE, "mov eax,0x3")
    a.ins(b"\x0f\x05", "syscall")
    # fd = openat(AT_FDCWD, argv[1], O_WRONLY|O_CLOEXEC): blocks until `start` reads.
    a.imm32(b"\xbf", _AT_FDCWD, "mov edi,0xffffff9c")
    a.ins(b"\x48\x8b\x75\x10", "mov rsi,QWORD PTR [rbp+0x10]")
    a.imm32(b"\xba", _O_WRONLY_CLOEXEC, "mov edx,0x80001")
    a.ins(b"\x45\x31\xd2", "xor r10d,r10d")
    a.imm32(b"\xb8", _SYS_OPENAT, "mov eax,0x101")
    a.ins(b"\x0f\x05", "syscall")
    a.ins(b"\x48\x85\xc0", "test rax,rax")
    a.jump(0x78, "fail", "js fail")
    a.ins(b"\x48\x89\xc3", "mov rbx,rax")
    # close(argv[2]): the inherited O_PATH fd of the fifo.
    a.ins(b"\x48\x8b\x75\x18", "mov rsi,QWORD PTR [rbp+0x18]")
    a.rel32(b"\xe8", "atoi", "call atoi")
    a.imm32(b"\xb8", _SYS_CLOSE, "mov eax,0x3")
    a.ins(b"\x0f\x05", "syscall")
    # write(fd, "0", 1): `start` now waits for end-of-file, i.e. our exec.
    a.ins(b"\x48\x89\xdf", "mov rdi,rbx")
    a.rel32(b"\x48\x8d\x35", "zero", "lea rsi,[rip+zero]")
    a.imm32(b"\xba", 1, "mov edx,0x1")
    a.imm32(b"\xb8", _SYS_WRITE, "mov eax,0x1")
    a.ins(b"\x0f\x05", "syscall")
    a.ins(b"\x48\x83\xf8\x01", "cmp rax,0x1")
    a.jump(0x75, "fail", "jne fail")
    # execve(argv[4], &argv[5], envp), envp = &argv[argc + 1] = rbp + 8 * argc + 16.
    a.ins(b"\x48\x8b\x7d\x28", "mov rdi,QWORD PTR [rbp+0x28]")
    a.ins(b"\x48\x8d\x75\x30", "lea rsi,[rbp+0x30]")
    a.ins(b"\x48\x8b\x55\x00", "mov rdx,QWORD PTR [rbp+0x0]")
    a.ins(b"\x48\xc1\xe2\x03", "shl rdx,0x3")
    a.ins(b"\x48\x01\xea", "add rdx,rbp")
    a.ins(b"\x48\x83\xc2\x10", "add rdx,0x10")
    a.imm32(b"\xb8", _SYS_EXECVE, "mov eax,0x3b")
    a.ins(b"\x0f\x05", "syscall")
    a.label("fail")
    a.imm32(b"\xbf", 2, "mov edi,0x2")
    a.rel32(b"\x48\x8d\x35", "msg", "lea rsi,[rip+msg]")
    a.imm32(b"\xba", len(_FAIL_MSG), f"mov edx,{len(_FAIL_MSG):#x}")
    a.imm32(b"\xb8", _SYS_WRITE, "mov eax,0x1")
    a.ins(b"\x0f\x05", "syscall")
    a.imm32(b"\xbf", 1, "mov edi,0x1")
    a.imm32(b"\xb8", _SYS_EXIT_GROUP, "mov eax,0xe7")
    a.ins(b"\x0f\x05", "syscall")
    # atoi: edi = the decimal string at rsi (digits only, as exec_parker writes them).
    a.label("atoi")
    a.ins(b"\x31\xff", "xor edi,edi")
    a.label("digit")
    a.ins(b"\x0f\xb6\x06", "movzx eax,BYTE PTR [rsi]")
    a.ins(b"\x85\xc0", "test eax,eax")
    a.jump(0x74, "done", "je done")
    a.ins(b"\x83\xe8\x30", "sub eax,0x30")
    a.ins(b"\x6b\xff\x0a", "imul edi,edi,0xa")
    a.ins(b"\x01\xc7", "add edi,eax")
    a.ins(b"\x48\xff\xc6", "inc rsi")
    a.jump(0xEB, "digit", "jmp digit")
    a.label("done")
    a.ins(b"\xc3", "ret")
    a.label("zero")
    a.data(b"0")
    a.label("msg")
    a.data(_FAIL_MSG)
    return a


def build_elf() -> bytes:
    """A static ELF64 executable: header, one PT_LOAD (R+X) mapping the whole file at
    _BASE, then the code; entry right after the headers."""
    code = program().assemble()
    entry = _BASE + _EHDR + _PHDR
    size = _EHDR + _PHDR + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, LE, v1, SysV ABI
    ehdr = ident + b"".join([
        (2).to_bytes(2, "little"),        # e_type: ET_EXEC
        (62).to_bytes(2, "little"),       # e_machine: EM_X86_64
        (1).to_bytes(4, "little"),        # e_version
        entry.to_bytes(8, "little"),      # e_entry
        _EHDR.to_bytes(8, "little"),      # e_phoff
        (0).to_bytes(8, "little"),        # e_shoff: no sections
        (0).to_bytes(4, "little"),        # e_flags
        _EHDR.to_bytes(2, "little"),      # e_ehsize
        _PHDR.to_bytes(2, "little"),      # e_phentsize
        (1).to_bytes(2, "little"),        # e_phnum
        (64).to_bytes(2, "little"),       # e_shentsize
        (0).to_bytes(2, "little"),        # e_shnum
        (0).to_bytes(2, "little"),        # e_shstrndx
    ])
    phdr = b"".join([
        (1).to_bytes(4, "little"),        # p_type: PT_LOAD
        (5).to_bytes(4, "little"),        # p_flags: R | X
        (0).to_bytes(8, "little"),        # p_offset
        _BASE.to_bytes(8, "little"),      # p_vaddr
        _BASE.to_bytes(8, "little"),      # p_paddr
        size.to_bytes(8, "little"),       # p_filesz
        size.to_bytes(8, "little"),       # p_memsz
        (0x1000).to_bytes(8, "little"),   # p_align
    ])
    return ehdr + phdr + code


def supported() -> bool:
    return os.uname().machine == "x86_64"


_cached: tuple[int, int] | None = None  # (pid that made it, fd)
_MFD_CLOEXEC, _MFD_ALLOW_SEALING, _MFD_EXEC = 0x1, 0x2, 0x10
_F_ADD_SEALS = 1033
_SEALS = 0x1 | 0x2 | 0x4 | 0x8  # SEAL, SHRINK, GROW, WRITE


def open_parker() -> int:
    """A read-only, close-on-exec fd of a sealed memfd holding the parker, made once per
    process. Sealed, nobody (not even root in a container that finds it through
    /proc/<pid>/exe) can change what the next init execs."""
    global _cached
    if _cached is not None and _cached[0] == os.getpid():
        return _cached[1]
    try:
        mfd = os.memfd_create(NAME, _MFD_CLOEXEC | _MFD_ALLOW_SEALING | _MFD_EXEC)
    except OSError:
        # Kernels before 6.3 know no MFD_EXEC (their memfds are executable anyway).
        mfd = os.memfd_create(NAME, _MFD_CLOEXEC | _MFD_ALLOW_SEALING)
    try:
        elf = build_elf()
        if os.write(mfd, elf) != len(elf):
            raise OSError(5, "write parker memfd: short write")
        os.fchmod(mfd, 0o555)
        import fcntl

        fcntl.fcntl(mfd, _F_ADD_SEALS, _SEALS)
        # A read-only fd of its own: exec refuses a file someone holds open for writing.
        fd = os.open(f"/proc/self/fd/{mfd}", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(mfd)
    _cached = (os.getpid(), fd)
    return fd


def seccomp_allows(filt: Any) -> bool:
    """Whether a compiled filter surely lets the parker run: every syscall it needs is
    allowed unconditionally. Anything unclear keeps the Python path."""
    from pycri.runtime.oci import seccomp_lib

    ok = (seccomp_lib.ACT_ALLOW, seccomp_lib.ACT_LOG)
    for nr in NEEDED_SYSCALLS:
        rules = [r for r in filt.rules if r.number == nr]
        if any(r.action not in ok for r in rules):
            return False
        if filt.default_action in ok:
            continue
        if not any(r.action in ok and not r.conditions for r in rules):
            return False
    return True


_warned = False


def fd_for(spec: dict[str, Any], seccomp: Any) -> int | None:
    """In the parent: the parker's fd if this container's init can park in it, else None
    (the init then parks in Python, as before)."""
    global _warned
    proc = spec.get("process") or {}
    # Labels the kernel applies at the next exec would land on the parker, not the user
    # process; PYRUNC_NO_PARKER is for comparisons (tests/bench).
    if ((spec.get("hooks") or {}).get("startContainer") or not supported()
            or proc.get("apparmorProfile") or proc.get("selinuxLabel")
            or os.environ.get("PYRUNC_NO_PARKER")):
        return None
    if seccomp is not None and not seccomp_allows(seccomp):
        log.debug("seccomp profile may block the parker: parking in Python")
        return None
    try:
        return open_parker()
    except OSError as exc:
        if not _warned:
            _warned = True
            log.warning("parker unavailable, inits park in Python error=%s", exc)
        return None


def exec_parker(fd: int, fifo_fd: int, sock_fd: int, exe: str, args: list[str],
                env: dict[str, str]) -> OSError:
    """In the init: become the parker. Returns (the error) only if the exec failed; the
    fifo and socket fds are then close-on-exec again, so the caller can park in Python."""
    os.set_inheritable(fifo_fd, True)
    os.set_inheritable(sock_fd, True)
    try:
        os.execve(fd, [NAME, f"/proc/self/fd/{fifo_fd}", str(fifo_fd), str(sock_fd), exe,
                       *args], env)
    except OSError as exc:
        os.set_inheritable(fifo_fd, False)
        os.set_inheritable(sock_fd, False)
        return exc
    raise AssertionError("unreachable")  # pragma: no cover
