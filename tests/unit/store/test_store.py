from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from pycri.cri import store_schema
from pycri.cri.store import Store, StoreError


def test_fresh_store_is_at_newest_schema_in_wal_mode(tmp_path: Path) -> None:
    store = Store(tmp_path / "meta.db")
    assert store.schema_version() == len(store_schema.MIGRATIONS)
    with store.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_apply_incrementally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(tmp_path / "meta.db").close()
    extra = [*store_schema.MIGRATIONS, "CREATE TABLE extra (x INTEGER);"]
    monkeypatch.setattr("pycri.cri.store.MIGRATIONS", extra)
    store = Store(tmp_path / "meta.db")
    assert store.schema_version() == len(extra)
    with store.transaction() as tx:
        tx.execute("INSERT INTO extra VALUES (1)")


def test_failed_migration_leaves_old_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(tmp_path / "meta.db").close()
    broken = [*store_schema.MIGRATIONS, "CREATE TABLE ok (x INTEGER);\nTHIS IS NOT SQL;"]
    monkeypatch.setattr("pycri.cri.store.MIGRATIONS", broken)
    with pytest.raises(sqlite3.Error):
        Store(tmp_path / "meta.db")
    monkeypatch.undo()
    store = Store(tmp_path / "meta.db")
    assert store.schema_version() == len(store_schema.MIGRATIONS)
    with store.read() as conn, pytest.raises(sqlite3.OperationalError):
        conn.execute("SELECT * FROM ok")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "meta.db")
    conn.execute("PRAGMA user_version=999")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(tmp_path / "meta.db")


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    store = Store(tmp_path / "meta.db")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.execute("INSERT INTO settings VALUES ('a', '1')")
        raise RuntimeError("boom")
    with store.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM settings").fetchone()[0] == 0


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "meta.db")
    with store.transaction() as tx:
        tx.execute("INSERT INTO settings VALUES ('counter', '0')")

    def bump(times: int) -> None:
        for _ in range(times):
            with store.transaction() as tx:
                value = int(tx.execute("SELECT value FROM settings WHERE key='counter'").fetchone()[0])
                tx.execute("UPDATE settings SET value=? WHERE key='counter'", (str(value + 1),))

    threads = [threading.Thread(target=bump, args=(50,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.read() as conn:
        assert conn.execute("SELECT value FROM settings WHERE key='counter'").fetchone()[0] == "400"


def test_second_process_sees_committed_writes(tmp_path: Path) -> None:
    first = Store(tmp_path / "meta.db")
    second = Store(tmp_path / "meta.db")
    with first.transaction() as tx:
        tx.execute("INSERT INTO settings VALUES ('k', 'v')")
    with second.read() as conn:
        assert conn.execute("SELECT value FROM settings").fetchone()[0] == "v"
