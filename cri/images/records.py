"""Image records in the metadata store: ID (config digest), names, content and users.

A name is either a tag (`docker.io/library/busybox:latest`) or a digest name
(`docker.io/library/busybox@sha256:...`); a tag points at one image at a time, so pulling a
tag that moved takes it from the image that had it.
"""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycri.cri.errors import InvalidArgument, NotFound
from pycri.cri.images import reference
from pycri.cri.images.snapshots import COMMITTED, Snapshotter
from pycri.cri.store import Store

log = logging.getLogger(__name__)

TAG = "tag"
DIGEST = "digest"


@dataclass
class ImageRecord:
    id: str
    manifest_digest: str
    config: dict[str, Any]
    size: int
    chain_ids: list[str]
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    layer_dirs: list[Path] = field(default_factory=list)
    pinned: bool = False
    created_at: int = 0
    index_digest: str = ""

    @property
    def user(self) -> str:
        """The image config's USER (`name`, `uid`, `uid:gid`, `name:group`), or ""."""
        return str((self.config.get("config") or {}).get("User") or "")

    def uid_and_username(self) -> tuple[int | None, str]:
        """CRI's split of USER: a numeric user → uid, else a username; the group is dropped."""
        user = self.user.split(":", 1)[0]
        if not user:
            return None, ""
        if user.isdigit():
            return int(user), ""
        return None, user


@dataclass(frozen=True)
class NewImage:
    id: str
    manifest_digest: str
    index_digest: str
    config: bytes
    size: int
    chain_ids: list[str]
    content: list[str]
    names: list[tuple[str, str]]  # (name, kind)


class ImageStore:
    def __init__(self, store: Store, snapshotter: Snapshotter) -> None:
        self.store = store
        self.snapshotter = snapshotter

    def add(self, image: NewImage) -> ImageRecord:
        """Record an image (or add names to an existing one); tags move to this image."""
        with self.store.transaction() as tx:
            tx.execute(
                "INSERT INTO images (id, manifest_digest, index_digest, config, size, chain_ids, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "manifest_digest = excluded.manifest_digest, "
                "index_digest = excluded.index_digest, size = excluded.size",
                (image.id, image.manifest_digest, image.index_digest, image.config, image.size,
                 json.dumps(image.chain_ids), time.time_ns()),
            )
            tx.executemany(
                "INSERT OR IGNORE INTO image_content (image_id, digest) VALUES (?, ?)",
                [(image.id, digest) for digest in image.content],
            )
            tx.executemany(
                "INSERT INTO image_names (name, image_id, kind) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET image_id = excluded.image_id",
                [(name, image.id, kind) for name, kind in image.names],
            )
            record = self._load(tx, image.id)
        assert record is not None
        return record

    def find(self, ref_or_id: str) -> ImageRecord | None:
        """The image an ID, a name, a tag or a digest reference names; None when absent."""
        if not ref_or_id:
            raise InvalidArgument("find image: empty image reference")
        with self.store.read() as conn:
            image_id = self._lookup(conn, ref_or_id)
            return self._load(conn, image_id) if image_id else None

    def resolve(self, ref_or_id: str) -> ImageRecord:
        record = self.find(ref_or_id)
        if record is None:
            raise NotFound(f"resolve image `{ref_or_id}`: not found")
        return record

    def list(self) -> list[ImageRecord]:
        with self.store.read() as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM images ORDER BY created_at")]
            records = [self._load(conn, image_id) for image_id in ids]
        return [r for r in records if r is not None]

    def remove(self, image_id: str) -> bool:
        """Delete an image with all its names; False when it was not there."""
        with self.store.transaction() as tx:
            deleted = tx.execute("DELETE FROM images WHERE id = ?", (image_id,)).rowcount
        return bool(deleted)

    def add_user(self, image_id: str, container_id: str) -> None:
        """Note that a container runs on this image (its layers stay while it exists)."""
        with self.store.transaction() as tx:
            tx.execute(
                "INSERT OR IGNORE INTO image_users (image_id, container_id) VALUES (?, ?)",
                (image_id, container_id),
            )

    def remove_user(self, image_id: str, container_id: str) -> None:
        with self.store.transaction() as tx:
            tx.execute(
                "DELETE FROM image_users WHERE image_id = ? AND container_id = ?",
                (image_id, container_id),
            )

    def users(self, image_id: str) -> builtins.list[str]:
        with self.store.read() as conn:
            return [r[0] for r in conn.execute(
                "SELECT container_id FROM image_users WHERE image_id = ?", (image_id,))]

    def _lookup(self, conn: sqlite3.Connection, text: str) -> str | None:
        if reference.is_image_id(text):
            image_id = text if text.startswith("sha256:") else f"sha256:{text}"
            row = conn.execute("SELECT id FROM images WHERE id = ?", (image_id,)).fetchone()
            return str(row[0]) if row else None
        ref = reference.parse(text)
        names = [ref.with_digest(ref.digest)] if ref.digest else [ref.tagged()]
        for name in names:
            row = conn.execute(
                "SELECT image_id FROM image_names WHERE name = ?", (name,)
            ).fetchone()
            if row:
                return str(row[0])
        if ref.digest:
            # A digest of the manifest or of the index it was chosen from.
            row = conn.execute(
                "SELECT id FROM images WHERE manifest_digest = ? OR index_digest = ?",
                (ref.digest, ref.digest),
            ).fetchone()
            if row:
                return str(row[0])
        return None

    def _load(self, conn: sqlite3.Connection, image_id: str) -> ImageRecord | None:
        row = conn.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone()
        if row is None:
            return None
        names = conn.execute(
            "SELECT name, kind FROM image_names WHERE image_id = ? ORDER BY name", (image_id,)
        ).fetchall()
        chain_ids = json.loads(row["chain_ids"])
        return ImageRecord(
            id=row["id"],
            manifest_digest=row["manifest_digest"],
            index_digest=row["index_digest"],
            config=json.loads(row["config"]),
            size=row["size"],
            chain_ids=chain_ids,
            repo_tags=[n["name"] for n in names if n["kind"] == TAG],
            repo_digests=[n["name"] for n in names if n["kind"] == DIGEST],
            layer_dirs=self._layer_dirs(conn, chain_ids),
            pinned=bool(row["pinned"]),
            created_at=row["created_at"],
        )

    def _layer_dirs(
        self, conn: sqlite3.Connection, chain_ids: Sequence[str]
    ) -> builtins.list[Path]:
        dirs = []
        for chain_id in chain_ids:
            row = conn.execute(
                "SELECT n FROM snapshots WHERE key = ? AND kind = ?", (chain_id, COMMITTED)
            ).fetchone()
            if row is not None:
                dirs.append(self.snapshotter.dir_of(row["n"]) / "fs")
        return dirs
