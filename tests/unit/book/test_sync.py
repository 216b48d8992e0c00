"""The per-symbol state machine: states, resync causes and when snapshots are asked for."""

from __future__ import annotations

from services.book.core.sync import (
    BUS_GAP,
    FEED_STATUS,
    LIVE,
    RESYNCING,
    STALE,
    SYNCING,
    U_BACKWARDS,
    U_GAP,
    U_RESTART,
    BookRegistry,
)
from services.common.wire import StreamStatus
from tests.unit.book.conftest import delta, snap

KEY = ("linear", "BTCUSDT")


def live_registry(now: float = 0.0) -> BookRegistry:
    reg = BookRegistry([KEY], now, stale_after=10.0, resync_timeout=5.0)
    reg.on_book(snap(10, [("99", "1")], [("101", "1")]), now)
    return reg


def test_starts_syncing_and_drops_deltas_until_snapshot() -> None:
    reg = BookRegistry([KEY], 0.0)
    assert reg.books[KEY].state == SYNCING
    reg.on_book(delta(5, [("99", "1")], []), 0.0)
    assert reg.books[KEY].state == SYNCING
    assert reg.stats.dropped == {"not_synced": 1}
    reg.on_book(snap(10, [("99", "1")], [("101", "1")]), 0.0)
    assert reg.books[KEY].state == LIVE
    assert {(sb.category, sb.symbol) for sb in reg.take_touched()} == {KEY}


def test_gap_restart_backwards_resync_and_ask_at_once() -> None:
    for u, cause in ((12, U_GAP), (1, U_RESTART), (10, U_BACKWARDS), (9, U_BACKWARDS)):
        reg = live_registry()
        reg.on_book(delta(u, [("98", "1")], []), 1.0)
        sb = reg.books[KEY]
        assert sb.state == RESYNCING, cause
        assert len(sb.book) == 0
        assert reg.stats.gaps == {cause: 1}
        assert reg.stats.resyncs == {cause: 1}
        assert reg.due_requests(1.0, feed_seen=True) == [KEY]
        # deltas are dropped while resyncing; any snapshot (even a lower u) brings it back
        reg.on_book(delta(u + 1, [("98", "1")], []), 1.1)
        assert sb.state == RESYNCING
        reg.on_book(snap(3, [("98", "2")], [("102", "1")]), 1.2)
        assert sb.state == LIVE and sb.u == 3
        reg.on_book(delta(4, [("98", "0")], []), 1.3)
        assert sb.state == LIVE and sb.book.best_bid() is None


def test_invariant_break_resyncs() -> None:
    reg = live_registry()
    reg.on_book(delta(11, [("101.5", "1")], []), 1.0)
    assert reg.books[KEY].state == RESYNCING
    assert reg.stats.resyncs == {"crossed": 1}
    assert reg.due_requests(1.0, feed_seen=True) == [KEY]


def test_feed_status_disconnected_resyncs_without_asking_at_once() -> None:
    reg = live_registry()
    reg.on_status(StreamStatus("linear", "BTCUSDT", "subscribed", "", 0), 1.0)
    assert reg.books[KEY].state == LIVE
    reg.on_status(StreamStatus("linear", "BTCUSDT", "disconnected", "ws closed", 0), 1.0)
    sb = reg.books[KEY]
    assert sb.state == RESYNCING
    assert reg.stats.resyncs == {FEED_STATUS: 1}
    assert reg.due_requests(2.0, feed_seen=True) == []  # the feed resubscribes by itself
    assert reg.due_requests(6.0, feed_seen=True) == [KEY]  # ... unless it takes too long


def test_bus_gap_resyncs_live_book_only() -> None:
    reg = live_registry()
    reg.on_bus_gap("linear", "BTCUSDT", BUS_GAP, 1.0)
    assert reg.books[KEY].state == RESYNCING
    reg.on_bus_gap("linear", "BTCUSDT", BUS_GAP, 1.0)
    assert reg.stats.resyncs == {BUS_GAP: 1}
    assert reg.stats.gaps == {BUS_GAP: 2}


def test_staleness() -> None:
    reg = live_registry(0.0)
    reg.check_stale(9.9)
    assert reg.books[KEY].state == LIVE
    reg.check_stale(10.0)
    assert reg.books[KEY].state == STALE
    assert reg.books[KEY].book.best_bid() == ("99", "1")  # data kept
    reg.on_book(delta(11, [("99", "2")], []), 10.5)
    assert reg.books[KEY].state == LIVE


def test_late_joiner_requests() -> None:
    reg = BookRegistry([KEY, ("spot", "ETHUSDT")], 0.0, resync_timeout=5.0)
    # nothing before the feed is seen...
    assert reg.due_requests(1.0, feed_seen=False) == []
    # ... or before resync_timeout has passed anyway
    assert sorted(reg.due_requests(5.0, feed_seen=False)) == [KEY, ("spot", "ETHUSDT")]
    assert reg.due_requests(6.0, feed_seen=True) == []
    reg.on_book(snap(1, [], []), 7.0)
    # retried every resync_timeout while not synced
    assert reg.due_requests(10.0, feed_seen=True) == [("spot", "ETHUSDT")]
    assert reg.stats.resyncs == {"timeout": 1}


def test_feed_seen_asks_at_once() -> None:
    reg = BookRegistry([KEY], 0.0)
    assert reg.due_requests(0.1, feed_seen=True) == [KEY]


def test_unconfigured_symbols_are_tracked() -> None:
    reg = BookRegistry([], 0.0)
    reg.on_book(snap(1, [("1", "1")], [("2", "1")], sym="SOLUSDT"), 0.0)
    assert reg.books[("linear", "SOLUSDT")].state == LIVE
    assert reg.state_counts() == {"syncing": 0, "live": 1, "stale": 0, "resyncing": 0}
