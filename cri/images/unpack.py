"""Apply one image layer (a tar stream, gzip/zstd/plain) into an empty snapshot directory.

OCI whiteouts become overlay whiteouts: `.wh.<name>` → a 0:0 character device `<name>`,
`.wh..wh..opq` → the directory gets `trusted.overlay.opaque=y`. Ownership, modes, xattrs,
hardlinks, device nodes and mtimes are kept. Entries that would land outside the layer
(absolute names, `..`, a path through a symlink) are refused. The uncompressed stream is
hashed on the way: its digest is the layer's diff ID.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import zstandard

from pycri.cri.errors import FailedPrecondition

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
READ_CHUNK = 1 << 20
COPY_BUFFER = 1 << 20
# tarfile's stream mode copies its whole buffer on each small read: keep it modest.
TAR_BUFFER = 64 << 10


class LayerError(FailedPrecondition):
    """The layer cannot be applied: bad compression, bad tar, or an entry that escapes."""


class MissingLinkTarget(LayerError):
    """A hardlink names a file that is not (yet) there: maybe in a parent layer."""


@dataclass
class LayerStats:
    diff_id: str
    size: int
    inodes: int


class _HashingReader:
    """Decompress a blob file on read, hashing the decompressed bytes (the diff ID)."""

    def __init__(self, raw: IO[bytes], compression: str) -> None:
        self.raw = raw
        self.compression = compression
        self.hash = hashlib.sha256()
        self._buffer = bytearray()
        self._pos = 0
        self._zlib: Any = zlib.decompressobj(wbits=31) if compression == "gzip" else None
        self._zstd: Any = None
        if compression == "zstd":
            self._zstd = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        self._eof = False

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            parts = []
            while chunk := self.read(READ_CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        while len(self._buffer) - self._pos < size and not self._eof:
            if self._pos:
                # Drop what was consumed before growing: keeps the buffer about one chunk.
                del self._buffer[: self._pos]
                self._pos = 0
            self._fill()
        data = bytes(self._buffer[self._pos : self._pos + size])
        self._pos += len(data)
        return data

    def _produce(self, chunk: bytes) -> None:
        if chunk:
            self.hash.update(chunk)
            self._buffer += chunk

    def _fill(self) -> None:
        try:
            if self._zstd is not None:
                chunk = self._zstd.read(READ_CHUNK)
                self._eof = not chunk
                self._produce(chunk)
                return
            compressed = self.raw.read(READ_CHUNK)
            if self._zlib is None:
                self._eof = not compressed
                self._produce(compressed)
                return
            if not compressed:
                self._eof = True
                if not self._zlib.eof and self._zlib.unused_data == b"":
                    self._produce(self._zlib.flush())
                return
            while compressed:
                self._produce(self._zlib.decompress(compressed))
                if self._zlib.eof:
                    # Concatenated gzip members: start a new stream on the rest.
                    compressed = self._zlib.unused_data
                    self._zlib = zlib.decompressobj(wbits=31)
                else:
                    compressed = b""
        except (zlib.error, zstandard.ZstdError) as exc:
            raise LayerError(f"unpack layer: {self.compression} stream is corrupt: {exc}") from exc

    def drain(self) -> None:
        """Decompress to the end so the diff ID covers the padding after the tar end marker."""
        while not self._eof:
            self._buffer.clear()
            self._pos = 0
            self._fill()


def apply_layer(
    blob: Path, compression: str, dest: Path, lowers: Sequence[Path] = ()
) -> LayerStats:
    """Unpack the layer `blob` into `dest` (an empty directory); return its stats."""
    with open(blob, "rb") as raw:
        return apply_stream(raw, compression, dest, lowers, name=blob.name)


def apply_stream(
    raw: IO[bytes] | Any,
    compression: str,
    dest: Path,
    lowers: Sequence[Path] = (),
    name: str = "",
) -> LayerStats:
    """Unpack a layer read from `raw` (anything with `read(n)`) into `dest`."""
    reader = _HashingReader(raw, compression)
    applier = _Applier(dest, lowers)
    try:
        with tarfile.open(  # type: ignore[call-overload]
            fileobj=reader, mode="r|", errorlevel=2, bufsize=TAR_BUFFER
        ) as archive:
            for member in archive:
                applier.apply(archive, member)
    except tarfile.TarError as exc:
        raise LayerError(f"unpack layer `{name}`: bad tar stream: {exc}") from exc
    reader.drain()
    applier.finish()
    return LayerStats(
        diff_id="sha256:" + reader.hash.hexdigest(), size=applier.size, inodes=applier.inodes
    )


class _Applier:
    def __init__(self, dest: Path, lowers: Sequence[Path]) -> None:
        self.dest = str(dest)
        self.lowers = [str(p) for p in lowers]
        self.size = 0
        self.inodes = 1
        self._dirs: list[tuple[str, tarfile.TarInfo]] = []
        self._safe_dirs: set[str] = {""}
        self._privileged = os.geteuid() == 0

    def apply(self, archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = _clean_name(member.name)
        if rel == "":
            if member.isdir():
                self._dirs.append((self.dest, member))
            return
        parent_rel, _, base = rel.rpartition("/")
        self._ensure_parent(parent_rel, member.name)
        parent = os.path.join(self.dest, parent_rel) if parent_rel else self.dest
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parent, base)
            return
        path = os.path.join(parent, base)
        self._make_room(path, member)
        if member.isreg():
            self._write_file(archive, member, path)
        elif member.isdir():
            if not os.path.isdir(path):
                os.mkdir(path, 0o700)
            self._safe_dirs.add(rel)
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            self._hardlink(member, path)
            return
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        elif member.isfifo():
            os.mkfifo(path, 0o600)
        else:
            log.debug("skipping tar entry of unknown type name=%s type=%r", rel, member.type)
            return
        self.inodes += 1
        self._metadata(path, member)
        if member.isdir():
            self._dirs.append((path, member))

    def finish(self) -> None:
        """Directory mtimes last: writing their children changed them."""
        for path, member in reversed(self._dirs):
            self._metadata(path, member)
            os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)

    def _ensure_parent(self, parent_rel: str, name: str) -> None:
        if parent_rel in self._safe_dirs:
            return
        current = ""
        for part in parent_rel.split("/"):
            current = f"{current}/{part}" if current else part
            if current in self._safe_dirs:
                continue
            path = os.path.join(self.dest, current)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                os.mkdir(path, 0o755)
                self.inodes += 1
            else:
                if not stat.S_ISDIR(info.st_mode):
                    raise LayerError(
                        f"unpack layer: entry `{name}` goes through `{current}`, which is not a "
                        "directory (a symlink would let it escape the layer)"
                    )
            self._safe_dirs.add(current)

    def _check_no_symlink(self, parent_rel: str, name: str) -> None:
        current = ""
        for part in parent_rel.split("/") if parent_rel else []:
            current = f"{current}/{part}" if current else part
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISLNK(os.lstat(os.path.join(self.dest, current)).st_mode):
                    raise LayerError(
                        f"unpack layer: hardlink `{name}` goes through the symlink `{current}`"
                    )

    def _whiteout(self, parent: str, base: str) -> None:
        if base == OPAQUE_MARKER:
            _setxattr(parent, OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # other aufs metadata (.wh..wh.plnk ...) has no overlay meaning
        target = os.path.join(parent, base[len(WHITEOUT_PREFIX) :])
        _remove(target)
        os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        self.inodes += 1

    def _make_room(self, path: str, member: tarfile.TarInfo) -> None:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return
        if member.isdir() and stat.S_ISDIR(info.st_mode):
            return
        _remove(path)

    def _write_file(self, archive: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
        source = archive.extractfile(member)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            if source is not None:
                shutil.copyfileobj(source, out, COPY_BUFFER)
        self.size += member.size

    def _hardlink(self, member: tarfile.TarInfo, path: str) -> None:
        target_rel = _clean_name(member.linkname)
        if target_rel == "":
            raise LayerError(f"unpack layer: hardlink `{member.name}` points at the layer root")
        target = os.path.join(self.dest, target_rel)
        self._check_no_symlink(target_rel.rpartition("/")[0], member.name)
        if not os.path.lexists(target):
            self._copy_up(target_rel, target, member)
        os.link(target, path, follow_symlinks=False)

    def _copy_up(self, target_rel: str, target: str, member: tarfile.TarInfo) -> None:
        """A hardlink to a file of a lower layer: bring the file into this layer first."""
        for lower in self.lowers:
            candidate = os.path.join(lower, target_rel)
            if os.path.lexists(candidate):
                parent_rel = target_rel.rpartition("/")[0]
                self._ensure_parent(parent_rel, member.linkname)
                shutil.copy2(candidate, target, follow_symlinks=False)
                with contextlib.suppress(PermissionError):
                    st = os.lstat(candidate)
                    os.lchown(target, st.st_uid, st.st_gid)
                return
        raise MissingLinkTarget(
            f"unpack layer: hardlink `{member.name}` points at `{member.linkname}`, "
            "which is in neither this layer nor a parent"
        )

    def _metadata(self, path: str, member: tarfile.TarInfo) -> None:
        try:
            os.lchown(path, member.uid, member.gid)
        except PermissionError:
            if self._privileged:
                raise
        if not member.issym():
            os.chmod(path, member.mode & 0o7777)
        for key, value in member.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                name = key[len("SCHILY.xattr.") :]
                _setxattr(path, name, value.encode("utf-8", "surrogateescape"))
        if not member.isdir():
            os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)


def _clean_name(name: str) -> str:
    """The entry's path relative to the layer root; LayerError when it escapes."""
    if name.startswith("/"):
        raise LayerError(f"unpack layer: entry `{name}` has an absolute path")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise LayerError(f"unpack layer: entry `{name}` escapes the layer with `..`")
        parts.append(part)
    return "/".join(parts)


def _remove(path: str) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _setxattr(path: str, name: str, value: bytes) -> None:
    try:
        os.setxattr(path, name, value, follow_symlinks=False)
    except OSError as exc:
        # An unprivileged unpack (unit tests) cannot set trusted.*; real pulls run as root.
        if exc.errno in (errno.EPERM, errno.ENOTSUP) and os.geteuid() != 0:
            log.debug("xattr skipped path=%s name=%s reason=%s", path, name, exc)
            return
        raise
