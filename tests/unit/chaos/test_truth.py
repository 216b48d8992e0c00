"""The chaos checker's truth table: it must pass a correct book and catch every wrong one."""

from __future__ import annotations

from chaos.truth import (
    BLIND,
    EVICTED,
    MATCH,
    MISMATCH,
    PENDING,
    STREAM_GAP,
    UNKNOWN_KEY,
    TopicTruth,
    sort_levels,
)
from services.common.wire import BookUpdate

EPOCH = 1_790_000_000_000_000_000


def msg(kind, u, seq, bids=(), asks=(), bus_seq=1, epoch=EPOCH):
    return BookUpdate(
        category="linear",
        symbol="BTCUSDT",
        depth=50,
        type=kind,
        bids=[tuple(x) for x in bids],
        asks=[tuple(x) for x in asks],
        u=u,
        seq=seq,
        ts=0,
        cts=0,
        recv_ns=0,
        epoch=epoch,
        bus_seq=bus_seq,
    )


def book(bids, asks):
    return sort_levels(dict(bids), True), sort_levels(dict(asks), False)


def started() -> TopicTruth:
    tt = TopicTruth()
    tt.on_message(msg("snapshot", 100, 1000, [("10.0", "1"), ("9.9", "2")], [("10.1", "3")], bus_seq=1))
    tt.on_message(msg("delta", 101, 1010, [("9.9", "0"), ("9.8", "5")], [("10.2", "1")], bus_seq=2))
    return tt


def test_correct_books_match_at_each_u() -> None:
    tt = started()
    assert tt.verdict_book(100, 1000, *book([("10.0", "1"), ("9.9", "2")], [("10.1", "3")])) == MATCH
    after = book([("10.0", "1"), ("9.8", "5")], [("10.1", "3"), ("10.2", "1")])
    assert tt.verdict_book(101, 1010, *after) == MATCH
    assert tt.verdict_top(101, 1010, ("10.0", "1", "10.1", "3")) == MATCH


def test_a_wrong_level_a_stale_level_or_a_wrong_u_is_a_mismatch() -> None:
    tt = started()
    assert (
        tt.verdict_book(101, 1010, *book([("10.0", "1"), ("9.8", "4")], [("10.1", "3"), ("10.2", "1")]))
        == MISMATCH
    )
    # the delete of 9.9 not applied
    stale = book([("10.0", "1"), ("9.9", "2"), ("9.8", "5")], [("10.1", "3"), ("10.2", "1")])
    assert tt.verdict_book(101, 1010, *stale) == MISMATCH
    # the book of u=100 served as if it were u=101
    assert tt.verdict_book(101, 1010, *book([("10.0", "1"), ("9.9", "2")], [("10.1", "3")])) == MISMATCH
    assert tt.verdict_top(101, 1010, ("10.0", "1", "10.1", "2")) == MISMATCH
    # a (u, seq) the stream never carried
    assert tt.verdict_book(105, 1005, *stale) == UNKNOWN_KEY


def test_live_inside_a_u_gap_is_a_violation_until_the_next_snapshot() -> None:
    tt = started()
    tt.on_message(msg("delta", 103, 1030, [("9.7", "1")], [], bus_seq=3))  # u 102 skipped
    tt.on_message(msg("delta", 104, 1040, [("9.6", "1")], [], bus_seq=4))
    anything = book([("10.0", "1")], [("10.1", "3")])
    assert tt.verdict_book(103, 1030, *anything) == STREAM_GAP
    assert tt.verdict_book(104, 1040, *anything) == STREAM_GAP
    tt.on_message(msg("snapshot", 105, 1050, [("10.0", "1")], [("10.1", "3")], bus_seq=5))
    assert tt.verdict_book(105, 1050, *anything) == MATCH
    assert tt.verdict_book(106, 1060, *anything) == PENDING


def test_u_restart_delta_opens_a_gap_and_a_restart_snapshot_does_not() -> None:
    tt = started()
    tt.on_message(msg("delta", 1, 1020, [("9.7", "1")], [], bus_seq=3))
    assert tt.verdict_book(1, 1020, *book([("10.0", "1")], [])) == STREAM_GAP
    tt.on_message(msg("snapshot", 1, 1030, [("10.0", "1")], [("10.1", "3")], bus_seq=4))
    assert tt.verdict_book(1, 1030, *book([("10.0", "1")], [("10.1", "3")])) == MATCH


def test_own_losses_are_blind_not_passed() -> None:
    tt = started()
    tt.on_message(msg("delta", 102, 1020, [("9.7", "1")], [], bus_seq=5))  # bus_seq 3, 4 lost
    assert tt.verdict_book(102, 1020, *book([("10.0", "1")], [])) == BLIND
    tt.on_message(msg("snapshot", 110, 1100, [("10.0", "1")], [("10.1", "3")], bus_seq=6))
    # a new feed epoch that starts with a delta: blind until a snapshot
    tt.on_message(msg("delta", 111, 1110, [], [("10.1", "0")], bus_seq=1, epoch=EPOCH + 1))
    assert tt.verdict_book(111, 1110, *book([("10.0", "1")], [])) == BLIND
    late = TopicTruth()
    late.on_message(msg("delta", 5, 50, [("1", "1")], [], bus_seq=9))
    assert late.verdict_book(5, 50, *book([("1", "1")], [])) == BLIND


def test_history_is_bounded() -> None:
    tt = TopicTruth(keep=3)
    tt.on_message(msg("snapshot", 1, 10, [("1.0", "1")], [("2.0", "1")], bus_seq=1))
    for i in range(2, 8):
        tt.on_message(msg("delta", i, 10 * i, [("1.0", str(i))], [], bus_seq=i))
    assert len(tt.entries) == 3
    assert tt.verdict_book(1, 10, *book([("1.0", "1")], [("2.0", "1")])) == EVICTED
    assert tt.verdict_book(7, 70, *book([("1.0", "7")], [("2.0", "1")])) == MATCH


def test_the_tail_of_a_dead_feed_is_blind_not_unknown() -> None:
    """A killed feed may have delivered a last message to the book but not to the checker."""
    tt = started()
    tt.on_message(msg("snapshot", 200, 2000, [("10.0", "1")], [("10.1", "3")], bus_seq=1, epoch=EPOCH + 1))
    assert tt.verdict_book(102, 1020, *book([("10.0", "1")], [])) == BLIND
    assert tt.verdict_book(200, 2000, *book([("10.0", "1")], [("10.1", "3")])) == MATCH


def test_before_the_first_message_is_blind_even_from_a_snapshot() -> None:
    """The book may hold an earlier snapshot (same seq, lower u: a re-activated stream)."""
    tt = TopicTruth()
    tt.on_message(msg("snapshot", 997, 544, [("10.0", "1")], [("10.1", "3")], bus_seq=1))
    assert tt.verdict_book(996, 544, *book([("10.0", "1")], [("10.1", "3")])) == BLIND
    assert tt.verdict_book(990, 500, *book([("10.0", "1")], [("10.1", "3")])) == BLIND
    assert tt.verdict_book(997, 544, *book([("10.0", "1")], [("10.1", "3")])) == MATCH
