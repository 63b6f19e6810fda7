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
]
