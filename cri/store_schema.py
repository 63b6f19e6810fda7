"""Numbered schema migrations of meta.db. Append only: never edit a released migration.

Each entry is one SQL script; its index + 1 is the schema version it brings the database to.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: daemon-wide settings, pod sandboxes and containers.
    """
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE sandboxes (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        namespace TEXT NOT NULL,
        uid TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        config BLOB NOT NULL,
        runtime_handler TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT '{}'
    );
    CREATE UNIQUE INDEX sandboxes_name ON sandboxes (name, namespace, uid, attempt);
    CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        sandbox_id TEXT NOT NULL REFERENCES sandboxes (id),
        name TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        config BLOB NOT NULL,
        image_ref TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT '{}'
    );
    CREATE UNIQUE INDEX containers_name ON containers (sandbox_id, name, attempt);
    """,
    # 2: images, their names and content, layer and container snapshots.
    """
    CREATE TABLE images (
        id TEXT PRIMARY KEY,
        manifest_digest TEXT NOT NULL,
        index_digest TEXT NOT NULL DEFAULT '',
        config BLOB NOT NULL,
        size INTEGER NOT NULL,
        chain_ids TEXT NOT NULL,
        pinned INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE image_names (
        name TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
        kind TEXT NOT NULL
    );
    CREATE INDEX image_names_image ON image_names (image_id);
    CREATE TABLE image_content (
        image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        PRIMARY KEY (image_id, digest)
    );
    CREATE INDEX image_content_digest ON image_content (digest);
    CREATE TABLE image_users (
        image_id TEXT NOT NULL,
        container_id TEXT NOT NULL,
        PRIMARY KEY (image_id, container_id)
    );
    CREATE TABLE snapshots (
        key TEXT PRIMARY KEY,
        n INTEGER NOT NULL UNIQUE,
        parent TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL,
        diff_id TEXT NOT NULL DEFAULT '',
        size INTEGER NOT NULL DEFAULT 0,
        inodes INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    );
    """,
]
