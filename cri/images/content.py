"""The content store: blobs by digest under `<root>/blobs/<alg>/<hex>`.

A blob is written to `<root>/ingest/<alg>-<hex>` and renamed into place only once its
digest and size match, so a partial or corrupt blob is never visible under `blobs/`.
An ingest file left by an interrupted download is reused (the download resumes from its
length); ingest files of a previous daemon run are removed on start.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from pycri.cri.errors import FailedPrecondition, NotFound
from pycri.cri.images.reference import validate_digest

log = logging.getLogger(__name__)

_HASH_CHUNK = 1 << 20


class DigestMismatch(FailedPrecondition):
    """The bytes received do not hash to the digest (or size) they were fetched by."""


def _hasher(digest: str) -> hashlib._Hash:
    algorithm = digest.partition(":")[0]
    return hashlib.new(algorithm)


def _digest_of(digest: str, data: bytes) -> str:
    hasher = _hasher(digest)
    hasher.update(data)
    return hasher.hexdigest()


class Ingest:
    """An open ingest file for one blob: write, then `commit()` (verify + rename) or `abort()`."""

    def __init__(self, store: ContentStore, digest: str, size: int) -> None:
        self.store = store
        self.digest = digest
        self.size = size
        self.path = store.ingest_path(digest)
        self._hash = _hasher(digest)
        self._file = open(self.path, "ab")  # noqa: SIM115 - closed by commit/abort
        self.offset = self._file.tell()
        if self.offset > size >= 0:
            self._file.truncate(0)
            self.offset = 0
        elif self.offset:
            self._rehash()

    def _rehash(self) -> None:
        with open(self.path, "rb") as existing:
            remaining = self.offset
            while remaining:
                chunk = existing.read(min(_HASH_CHUNK, remaining))
                if not chunk:
                    break
                self._hash.update(chunk)
                remaining -= len(chunk)

    def restart(self) -> None:
        """Drop what was written (the server ignored our Range request)."""
        self._file.truncate(0)
        self._file.seek(0)
        self.offset = 0
        self._hash = _hasher(self.digest)

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)
        self.offset += len(data)
        if self.size >= 0 and self.offset > self.size:
            raise DigestMismatch(
                f"fetch blob `{self.digest}`: received more than the {self.size} bytes expected"
            )

    def commit(self) -> Path:
        """Verify size and digest, fsync, rename into `blobs/`; the ingest file is gone after."""
        try:
            self._file.flush()
            if self.size >= 0 and self.offset != self.size:
                raise DigestMismatch(
                    f"fetch blob `{self.digest}`: got {self.offset} bytes, expected {self.size}"
                )
            actual = f"{self.digest.partition(':')[0]}:{self._hash.hexdigest()}"
            if actual != self.digest:
                raise DigestMismatch(f"fetch blob `{self.digest}`: content has digest `{actual}`")
            os.fsync(self._file.fileno())
        except BaseException:
            self.abort(keep=False)
            raise
        self._file.close()
        target = self.store.blob_path(self.digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path, target)
        return target

    def abort(self, keep: bool = True) -> None:
        """Close; keep the partial file for a resume, or delete it."""
        with contextlib.suppress(OSError):
            self._file.close()
        if not keep:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


class ContentStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        (self.root / "ingest").mkdir(parents=True, exist_ok=True)

    def blob_path(self, digest: str) -> Path:
        validate_digest(digest)
        algorithm, _, hexpart = digest.partition(":")
        return self.root / "blobs" / algorithm / hexpart

    def ingest_path(self, digest: str) -> Path:
        validate_digest(digest)
        return self.root / "ingest" / digest.replace(":", "-")

    def has(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.blob_path(digest).stat().st_size
        except FileNotFoundError as exc:
            raise NotFound(f"read blob `{digest}`: not in the content store") from exc

    def read(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"read blob `{digest}`: not in the content store") from exc

    def ingest(self, digest: str, size: int = -1) -> Ingest:
        return Ingest(self, digest, size)

    def put(self, digest: str, data: bytes) -> Path:
        """Store a small blob held in memory (manifests, configs) after verifying it."""
        target = self.blob_path(digest)
        if target.is_file():
            return target
        actual = f"{digest.partition(':')[0]}:{_digest_of(digest, data)}"
        if actual != digest:
            raise DigestMismatch(f"store blob `{digest}`: content has digest `{actual}`")
        fd, tmp = tempfile.mkstemp(dir=self.root / "ingest", prefix="put-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return target

    def delete(self, digest: str) -> bool:
        try:
            self.blob_path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def digests(self) -> Iterator[str]:
        for algorithm_dir in (self.root / "blobs").iterdir():
            for blob in algorithm_dir.iterdir():
                yield f"{algorithm_dir.name}:{blob.name}"

    def clean_ingest(self) -> int:
        """Remove every ingest file (called on start, before any pull can run)."""
        count = 0
        for leftover in (self.root / "ingest").iterdir():
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
                count += 1
        if count:
            log.info("removed stale ingest files count=%d root=%s", count, self.root)
        return count

    def expire_ingest(self, max_age_s: float) -> int:
        """Remove ingest files untouched for `max_age_s` (a failed pull nobody retried)."""
        count = 0
        cutoff = time.time() - max_age_s
        for leftover in (self.root / "ingest").iterdir():
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    count += 1
        return count

    def usage(self) -> tuple[int, int]:
        """(bytes, inodes) of the blobs."""
        used = inodes = 0
        for algorithm_dir in (self.root / "blobs").iterdir():
            inodes += 1
            with os.scandir(algorithm_dir) as entries:
                for entry in entries:
                    used += entry.stat(follow_symlinks=False).st_blocks * 512
                    inodes += 1
        return used, inodes
