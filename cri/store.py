"""The metadata store: one sqlite database in WAL mode, every mutation a transaction.

The schema is a list of numbered migrations (`store_schema.MIGRATIONS`); opening the store
applies the ones it has not seen yet, inside one transaction each, so a kill at any instant
leaves either the old or the new schema.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from pycri.cri.store_schema import MIGRATIONS

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0


class StoreError(Exception):
    """The database cannot be opened or migrated."""


class Store:
    """Thread-safe access to meta.db: one connection per thread, writers serialised by sqlite."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode keeps every committed transaction across a process kill;
            # only a power loss can drop the newest ones.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: taken with BEGIN IMMEDIATE so writers never deadlock on upgrade."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent read snapshot."""
        conn = self._connect()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def schema_version(self) -> int:
        with self.read() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        try:
            conn = self._connect()
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"open store `{self.path}`: {exc}") from exc
        newest = len(MIGRATIONS)
        if current > newest:
            raise StoreError(
                f"open store `{self.path}`: schema version {current} is newer than this pycri "
                f"understands ({newest}); upgrade pycri or move the state root aside"
            )
        for version in range(current + 1, newest + 1):
            with self.transaction() as tx:
                for statement in _statements(MIGRATIONS[version - 1]):
                    tx.execute(statement)
                tx.execute(f"PRAGMA user_version={version}")
            log.info("store migrated path=%s version=%d", self.path, version)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _statements(script: str) -> Iterator[str]:
    """Split a migration script into statements (executescript would commit our transaction)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            if statement:
                yield statement
            buffer = ""
    if buffer.strip():
        raise StoreError(f"incomplete statement in migration: {buffer.strip()[:80]}")
