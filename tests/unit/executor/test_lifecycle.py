"""Order lifecycle and crash-recovery decisions, and the SQLite journal that records them."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.executor.adapters.journal import Journal
from services.executor.core.lifecycle import Recovery, map_status, recover, recover_intent, should_apply


@pytest.mark.parametrize(
    ("bybit", "ours"),
    [
        ("New", "new"),
        ("PartiallyFilled", "partially_filled"),
        ("Filled", "filled"),
        ("Cancelled", "cancelled"),
        ("PartiallyFilledCanceled", "cancelled"),
        ("Deactivated", "cancelled"),
        ("Rejected", "rejected"),
        ("Untriggered", "new"),
    ],
)
def test_map_status(bybit: str, ours: str) -> None:
    assert map_status(bybit) == ours


def test_should_apply_never_leaves_final_or_goes_back() -> None:
    assert should_apply("pending", "new") and should_apply("unknown", "filled")
    assert should_apply("accepted", "new") and should_apply("new", "partially_filled")
    assert not should_apply("partially_filled", "new")
    assert not should_apply("filled", "cancelled") and not should_apply("cancelled", "new")


@pytest.mark.parametrize(
    ("journal", "exchange", "action", "status"),
    [
        ("pending", None, Recovery.RESEND, "pending"),  # crashed before (or while) sending: send again
        ("unknown", None, Recovery.RESEND, "pending"),
        ("pending", "New", Recovery.ADOPT, "new"),  # it landed before the crash
        ("unknown", "Filled", Recovery.ADOPT, "filled"),
        ("accepted", "PartiallyFilled", Recovery.ADOPT, "partially_filled"),
        ("new", None, Recovery.KEEP, "new"),  # accepted once: never re-sent
        ("filled", "Filled", Recovery.DONE, "filled"),
        ("rejected", None, Recovery.DONE, "rejected"),
    ],
)
def test_recovery_decisions(journal: str, exchange: str | None, action: Recovery, status: str) -> None:
    decision = recover(journal, exchange)
    assert decision.action is action and decision.status == status


def test_recover_intents() -> None:
    assert recover_intent("cancel", "pending") and recover_intent("amend", "unknown")
    assert not recover_intent("cancel", "done") and not recover_intent("create", "pending")


def test_journal_round_trip_and_survives_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "sub" / "j.sqlite3")
    j = Journal(path)
    with j.tx():
        iid = j.add_intent("create", "linear", "BTCUSDT", "L1", b'{"action":"create"}', "pending")
        j.add_order("L1", iid, "linear", "BTCUSDT", "Buy", "0.010", "100", "pending")
    j.update_order("L1", "accepted", order_id="O1")
    j.close()
    j2 = Journal(path)
    row = j2.get_order("L1")
    assert row is not None and row.status == "accepted" and row.order_id == "O1" and row.intent_id == iid
    assert [i.id for i in j2.open_intents()] == [iid]
    assert [r.order_link_id for r in j2.orders(("accepted",))] == ["L1"]
    assert j2.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    kinds = [r[0] for r in j2.db.execute("SELECT status FROM events ORDER BY id")]
    assert kinds == ["pending", "accepted"]
    j2.close()


def test_journal_rollback_on_error(tmp_path: Path) -> None:
    j = Journal(str(tmp_path / "j.sqlite3"))
    with pytest.raises(RuntimeError), j.tx():
        j.add_intent("create", "linear", "BTCUSDT", "L1", b"{}", "pending")
        raise RuntimeError
    assert j.db.execute("SELECT COUNT(*) FROM intents").fetchone()[0] == 0
    j.close()
