"""The journal's WAL checkpoints run off the writer's commits, and its page size (adapters/journal.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from services.executor.adapters.journal import _SCHEMA, PAGE_SIZE, Journal
from tests.helpers import eventually


def test_commits_do_not_checkpoint_and_background_thread_does(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = Journal(str(path))
    try:
        assert j.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        assert j.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL kept
        base = path.stat().st_size
        for i in range(300):
            with j.tx():
                iid = j.add_intent("create", "linear", "BTCUSDT", f"l{i}", b"{}" * 200, "pending")
                j.add_order(f"l{i}", iid, "linear", "BTCUSDT", "Buy", "0.01", "20000", "pending")
        # the rows reach the main database file through the background checkpoint
        eventually(lambda: path.stat().st_size > base + 100_000, timeout=10)
        assert len(j.orders()) == 300
    finally:
        j.close()
    assert j._checkpointer is not None and not j._checkpointer.is_alive()
    reopened = Journal(str(path))
    assert len(reopened.orders()) == 300
    reopened.close()


def test_memory_journal_has_no_checkpointer() -> None:
    j = Journal(":memory:")
    assert j._checkpointer is None
    j.close()


def test_new_journal_uses_small_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    new = Journal(str(tmp_path / "new.sqlite3"))
    try:
        assert new.db.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 1024
    finally:
        new.close()
    # a journal written by an earlier version (SQLite's default 4 KiB pages) opens unchanged
    old_path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(old_path, isolation_level=None)
    db.execute("PRAGMA page_size=4096")
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(_SCHEMA)
    db.close()
    old = Journal(str(old_path))
    try:
        assert old.db.execute("PRAGMA page_size").fetchone()[0] == 4096
        with old.tx():
            iid = old.add_intent("create", "linear", "BTCUSDT", "l1", b"{}", "pending")
            old.add_order("l1", iid, "linear", "BTCUSDT", "Buy", "0.01", "20000", "pending")
        assert [o.order_link_id for o in old.orders()] == ["l1"]
    finally:
        old.close()
