"""Overlay snapshots: one directory per unpacked layer, one writable upper per container.

`<root>/<n>/fs` holds a layer's files (committed snapshots are keyed by chain ID, so a layer
shared by several images is unpacked once); a container's snapshot adds `<root>/<n>/fs`
(upperdir) and `<root>/<n>/work` (workdir) on top of its image's layers. The snapshotter
returns mount descriptions and never mounts: the runtime does.

Crash safety: a layer's row is inserted as `extracting` before its directory is written and
turned `committed` after; on start, `extracting` rows and directories without a row go.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pycri.cri.errors import AlreadyExists, NotFound
from pycri.cri.store import Store

log = logging.getLogger(__name__)

COMMITTED = "committed"
EXTRACTING = "extracting"
ACTIVE = "active"
CONTAINER_PREFIX = "container/"


@dataclass(frozen=True)
class Mounts:
    """How to mount a container's rootfs: overlay of `lowerdirs` (topmost first) + upper."""

    lowerdirs: list[str]
    upperdir: str
    workdir: str
    type: str = "overlay"
    source: str = "overlay"
    extra_options: list[str] = field(default_factory=list)

    def options(self) -> list[str]:
        """Mount options for mount(2): `lowerdir=a:b,upperdir=..,workdir=..` as a list."""
        return [
            f"lowerdir={':'.join(self.lowerdirs)}",
            f"upperdir={self.upperdir}",
            f"workdir={self.workdir}",
            *self.extra_options,
        ]

    def data(self) -> str:
        return ",".join(self.options())


@dataclass(frozen=True)
class SnapshotInfo:
    key: str
    n: int
    parent: str
    kind: str
    size: int
    inodes: int


class Snapshotter:
    def __init__(self, store: Store, root: str | os.PathLike[str]) -> None:
        self.store = store
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # -- layers -------------------------------------------------------------------------

    def dir_of(self, n: int) -> Path:
        return self.root / str(n)

    def layer_dir(self, chain_id: str) -> Path | None:
        """The `fs` dir of a committed layer, or None."""
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT n FROM snapshots WHERE key = ? AND kind = ?", (chain_id, COMMITTED)
            ).fetchone()
        return self.dir_of(row["n"]) / "fs" if row else None

    def begin_layer(self, chain_id: str, parent: str, diff_id: str) -> Path:
        """Reserve a directory for a layer about to be unpacked; returns its (empty) `fs`."""
        with self.store.transaction() as tx:
            existing = tx.execute(
                "SELECT kind FROM snapshots WHERE key = ?", (chain_id,)
            ).fetchone()
            if existing is not None:
                raise AlreadyExists(f"prepare layer `{chain_id}`: snapshot exists ({existing[0]})")
            n = self._insert(tx, chain_id, parent, EXTRACTING, diff_id)
        directory = self.dir_of(n)
        _remove_tree(directory)  # a leftover without a row is garbage by definition
        (directory / "fs").mkdir(parents=True)
        os.chmod(directory / "fs", 0o755)
        return directory / "fs"

    def commit_layer(self, chain_id: str, size: int, inodes: int) -> None:
        with self.store.transaction() as tx:
            tx.execute(
                "UPDATE snapshots SET kind = ?, size = ?, inodes = ? WHERE key = ? AND kind = ?",
                (COMMITTED, size, inodes, chain_id, EXTRACTING),
            )

    def abort_layer(self, chain_id: str) -> None:
        with self.store.transaction() as tx:
            row = tx.execute(
                "SELECT n FROM snapshots WHERE key = ? AND kind = ?", (chain_id, EXTRACTING)
            ).fetchone()
            tx.execute("DELETE FROM snapshots WHERE key = ? AND kind = ?", (chain_id, EXTRACTING))
        if row is not None:
            _remove_tree(self.dir_of(row["n"]))

    def _insert(
        self, tx: sqlite3.Connection, key: str, parent: str, kind: str, diff_id: str = ""
    ) -> int:
        n = int(tx.execute("SELECT COALESCE(MAX(n), 0) + 1 FROM snapshots").fetchone()[0])
        tx.execute(
            "INSERT INTO snapshots (key, n, parent, kind, diff_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (key, n, parent, kind, diff_id, time.time_ns()),
        )
        return n

    # -- containers ---------------------------------------------------------------------

    def prepare(self, container_id: str, image_id: str) -> Mounts:
        """Create the writable snapshot of a container on its image's layers."""
        key = CONTAINER_PREFIX + container_id
        with self.store.transaction() as tx:
            image = tx.execute("SELECT chain_ids FROM images WHERE id = ?", (image_id,)).fetchone()
            if image is None:
                raise NotFound(f"prepare rootfs of container `{container_id}`: image "
                               f"`{image_id}` not found")
            chain_ids: list[str] = json.loads(image["chain_ids"])
            if tx.execute("SELECT 1 FROM snapshots WHERE key = ?", (key,)).fetchone():
                raise AlreadyExists(f"prepare rootfs of container `{container_id}`: exists")
            lowers = self._layer_dirs(tx, chain_ids, container_id)
            n = self._insert(tx, key, chain_ids[-1] if chain_ids else "", ACTIVE)
            tx.execute(
                "INSERT OR IGNORE INTO image_users (image_id, container_id) VALUES (?, ?)",
                (image_id, container_id),
            )
            directory = self.dir_of(n)
            _remove_tree(directory)
            (directory / "fs").mkdir(parents=True)
            (directory / "work").mkdir()
            os.chmod(directory / "fs", 0o755)
        return self._mounts(directory, lowers)

    def mounts(self, container_id: str) -> Mounts:
        """The mounts of an already prepared container snapshot."""
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT n, parent FROM snapshots WHERE key = ?", (CONTAINER_PREFIX + container_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"get rootfs of container `{container_id}`: no snapshot")
            chain = self._chain(conn, row["parent"])
            lowers = self._layer_dirs(conn, chain, container_id)
        return self._mounts(self.dir_of(row["n"]), lowers)

    def remove(self, container_id: str) -> None:
        """Delete a container's snapshot (idempotent); its layers stay until GC."""
        key = CONTAINER_PREFIX + container_id
        with self.store.transaction() as tx:
            row = tx.execute("SELECT n FROM snapshots WHERE key = ?", (key,)).fetchone()
            tx.execute("DELETE FROM snapshots WHERE key = ?", (key,))
            tx.execute("DELETE FROM image_users WHERE container_id = ?", (container_id,))
        if row is not None:
            _remove_tree(self.dir_of(row["n"]))

    def usage(self, container_id: str) -> tuple[int, int]:
        """(bytes, inodes) written by the container (its upperdir)."""
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT n FROM snapshots WHERE key = ?", (CONTAINER_PREFIX + container_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"get usage of container `{container_id}`: no snapshot")
        return tree_usage(self.dir_of(row["n"]) / "fs")

    def _mounts(self, directory: Path, lowers: Sequence[Path]) -> Mounts:
        return Mounts(
            lowerdirs=[str(p) for p in reversed(lowers)],
            upperdir=str(directory / "fs"),
            workdir=str(directory / "work"),
        )

    def _chain(self, conn: sqlite3.Connection, top: str) -> list[str]:
        chain: list[str] = []
        while top:
            chain.append(top)
            row = conn.execute("SELECT parent FROM snapshots WHERE key = ?", (top,)).fetchone()
            top = row["parent"] if row else ""
        return list(reversed(chain))

    def _layer_dirs(
        self, conn: sqlite3.Connection, chain_ids: Sequence[str], container_id: str
    ) -> list[Path]:
        dirs = []
        for chain_id in chain_ids:
            row = conn.execute(
                "SELECT n FROM snapshots WHERE key = ? AND kind = ?", (chain_id, COMMITTED)
            ).fetchone()
            if row is None:
                raise NotFound(f"prepare rootfs of container `{container_id}`: layer "
                               f"`{chain_id}` is not unpacked")
            dirs.append(self.dir_of(row["n"]) / "fs")
        return dirs

    # -- housekeeping -------------------------------------------------------------------

    def list(self) -> list[SnapshotInfo]:
        with self.store.read() as conn:
            rows = conn.execute(
                "SELECT key, n, parent, kind, size, inodes FROM snapshots"
            ).fetchall()
        return [SnapshotInfo(r["key"], r["n"], r["parent"], r["kind"], r["size"], r["inodes"])
                for r in rows]

    def recover(self) -> int:
        """On start: drop half-extracted layers and directories no row owns."""
        with self.store.transaction() as tx:
            tx.execute("DELETE FROM snapshots WHERE kind = ?", (EXTRACTING,))
            owned = {int(r[0]) for r in tx.execute("SELECT n FROM snapshots")}
        removed = 0
        for entry in self.root.iterdir():
            if entry.name.isdigit() and int(entry.name) in owned:
                continue
            _remove_tree(entry)
            removed += 1
        if removed:
            log.info("removed stale snapshot dirs count=%d root=%s", removed, self.root)
        return removed

    def delete_layers(self, keys: Sequence[str]) -> int:
        """Delete committed layer snapshots (GC decided they are unreferenced)."""
        removed = 0
        for key in keys:
            with self.store.transaction() as tx:
                row = tx.execute(
                    "SELECT n FROM snapshots WHERE key = ? AND kind = ?", (key, COMMITTED)
                ).fetchone()
                tx.execute("DELETE FROM snapshots WHERE key = ? AND kind = ?", (key, COMMITTED))
            if row is not None:
                _remove_tree(self.dir_of(row["n"]))
                removed += 1
        return removed

    def usage_total(self) -> tuple[int, int]:
        """(bytes, inodes) of all committed layers, from the numbers recorded at unpack."""
        with self.store.read() as conn:
            row = conn.execute(
                "SELECT COALESCE(SUM(size), 0), COALESCE(SUM(inodes), 0) FROM snapshots "
                "WHERE kind = ?",
                (COMMITTED,),
            ).fetchone()
        return int(row[0]), int(row[1])

    def active_keys(self) -> builtins.list[str]:
        with self.store.read() as conn:
            return [r[0] for r in conn.execute(
                "SELECT key FROM snapshots WHERE kind = ?", (ACTIVE,))]


def tree_usage(path: Path) -> tuple[int, int]:
    """(bytes by allocated blocks, inodes) under `path`, not following symlinks."""
    used = inodes = 0
    seen: set[tuple[int, int]] = set()
    stack = [str(path)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                info = entry.stat(follow_symlinks=False)
                if (info.st_dev, info.st_ino) in seen:
                    continue
                if info.st_nlink > 1:
                    seen.add((info.st_dev, info.st_ino))
                used += info.st_blocks * 512
                inodes += 1
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return used, inodes


def _remove_tree(path: Path) -> None:
    """Rename to a hidden name first so a half-deleted tree is never taken for a live one."""
    if not path.exists() and not path.is_symlink():
        return
    hidden = path.with_name(f".del-{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, hidden)
    except FileNotFoundError:
        return
    shutil.rmtree(hidden, ignore_errors=True)
