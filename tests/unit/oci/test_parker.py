"""The parker's machine code and ELF, its seccomp check, and running it (unprivileged)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from types import SimpleNamespace

import pytest

from pycri.runtime.oci import parker

x86_only = pytest.mark.skipif(not parker.supported(), reason="the parker is x86-64 only")


def test_elf_header_and_single_load_segment():
    elf = parker.build_elf()
    assert elf[:4] == b"\x7fELF" and elf[4] == 2 and elf[5] == 1
    assert int.from_bytes(elf[18:20], "little") == 62  # EM_X86_64
    entry = int.from_bytes(elf[24:32], "little")
    assert entry == 0x400000 + 64 + 56
    ph = elf[64:120]
    assert int.from_bytes(ph[0:4], "little") == 1  # PT_LOAD
    assert int.from_bytes(ph[32:40], "little") == len(elf)
    assert len(elf) < 512


@pytest.mark.skipif(shutil.which("objdump") is None, reason="no binutils")
def test_code_disassembles_to_its_listing(tmp_path):
    prog = parker.program()
    code = prog.assemble()
    blob = tmp_path / "code.bin"
    blob.write_bytes(code)
    out = subprocess.run(["objdump", "-D", "-b", "binary", "-mi386:x86-64", "-M", "intel",
                          str(blob)], capture_output=True, text=True, check=True).stdout
    got = []
    for line in out.splitlines():
        m = re.match(r"\s*[0-9a-f]+:\t(?:[0-9a-f]{2} )+\s*\t(.*)", line)
        if m:
            got.append(re.sub(r"\s+", " ", m.group(1).split("#")[0]).strip())
    want = prog.listing()
    # Jumps and rip-relative leas name labels in the listing, addresses in objdump's.
    for g, w in zip(got, want, strict=False):
        if re.search(r"\b(fail|digit|done|atoi|zero|msg)\b", w):
            assert g.split()[0] == w.split()[0], (g, w)
        else:
            assert g == w, (g, w)
    assert len(got) >= len(want)


def _filter(default, rules):
    from pycri.runtime.oci import seccomp_lib

    acts = {"allow": seccomp_lib.ACT_ALLOW, "errno": seccomp_lib.act_errno(1),
            "kill": seccomp_lib.ACT_KILL_PROCESS}
    return SimpleNamespace(
        default_action=acts[default],
        rules=[SimpleNamespace(number=nr, action=acts[a], conditions=cond)
               for nr, a, cond in rules])


def test_seccomp_check():
    pytest.importorskip("pycri.runtime.oci.seccomp_lib")
    need = parker.NEEDED_SYSCALLS
    assert parker.seccomp_allows(_filter("allow", [(165, "errno", ())]))
    assert not parker.seccomp_allows(_filter("allow", [(1, "errno", ())]))
    allow_all = [(nr, "allow", ()) for nr in need]
    assert parker.seccomp_allows(_filter("errno", allow_all))
    assert not parker.seccomp_allows(_filter("errno", allow_all[1:]))
    cond = [(nr, "allow", ((0, 4, 1, 0),) if nr == 1 else ()) for nr in need]
    assert not parker.seccomp_allows(_filter("kill", cond))
    assert not parker.seccomp_allows(_filter("errno", [*allow_all, (59, "kill", ())]))


def test_not_used_with_start_container_hooks():
    spec = {"hooks": {"startContainer": [{"path": "/bin/true"}]}}
    assert parker.fd_for(spec, None) is None


def _run_parked(tmp_path, exe, args, env, *, start=True):
    fifo = str(tmp_path / "exec.fifo")
    os.mkfifo(fifo)
    pfd = parker.open_parker()
    ffd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
    import socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child execs
        os.dup2(w, 1)
        os.dup2(w, 2)
        # As the init does: nothing but stdio, the fifo and the parker past this point.
        keep = sorted((pfd, ffd, theirs.fileno()))
        for lo, hi in zip([2, *keep], [*keep, 1 << 16], strict=True):
            os.closerange(lo + 1, hi)
        parker.exec_parker(pfd, ffd, theirs.fileno(), exe, args, env)
        os._exit(99)
    os.close(w)
    os.close(ffd)
    theirs.close()
    # End-of-file on the socket: the parker is running and no longer dumpable.
    assert ours.recv(16) == b""
    with open(f"/proc/{pid}/status") as f:
        assert "State:\tS" in f.read() or not start
    ours.close()
    got = b""
    if start:
        rd = os.open(fifo, os.O_RDONLY)
        got = os.read(rd, 1) + os.read(rd, 1)  # the byte, then end-of-file at exec
        os.close(rd)
    out = b""
    while chunk := os.read(r, 4096):
        out += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return got, out.decode(), os.waitstatus_to_exitcode(status)


@x86_only
def test_parker_waits_writes_and_execs(tmp_path):
    got, out, code = _run_parked(
        tmp_path, "/bin/sh",
        ["sh", "-c", "echo $0 $1 $FOO; ls /proc/self/fd; grep -E '^Name' /proc/self/status",
         "a b"],
        {"FOO": "bar"})
    assert got == b"0"
    lines = out.splitlines()
    assert lines[0] == "a b bar"
    # stdio plus ls's own directory fd: neither the fifo's fds nor the parker's leak.
    assert sorted(lines[1:-1], key=int) == ["0", "1", "2", "3"]
    assert lines[-1].split() == ["Name:", "grep"]
    assert code == 0


@x86_only
def test_parker_exec_failure_exits_1(tmp_path):
    got, out, code = _run_parked(tmp_path, "/nonexistent", ["x"], {})
    assert got == b"0"
    assert "pyrunc init: parker" in out
    assert code == 1


@x86_only
def test_parker_is_sealed():
    import fcntl

    fd = parker.open_parker()
    assert parker.open_parker() == fd
    seals = fcntl.fcntl(fd, 1034)  # F_GET_SEALS
    assert seals & 0xF == 0xF
    # Root opens even a 0555 file for writing; the seal still refuses every write.
    try:
        wfd = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
    except PermissionError:
        return
    try:
        with pytest.raises(PermissionError):
            os.write(wfd, b"x")
    finally:
        os.close(wfd)
