"""Unit tests for the bus contract (services.common.wire) and loss detection (bus.SeqTracker)."""

from __future__ import annotations

import msgspec
import pytest

from services.common import topics, wire
from services.common.bus import SeqTracker
from services.common.errors import WireDecodeError


def test_every_message_round_trips_exactly() -> None:
    msgs: list[wire.BusMessage] = [
        wire.BookUpdate("linear", "BTCUSDT", 50, "snapshot", [("65000.10", "1.234")], [], 7, 9, 1, 2, 3),
        wire.Trades("spot", "BTCUSDT", [wire.Trade("229", 1, "43774", "0.0026", "Sell", True)], 1, 2),
        wire.Ticker("linear", "BTCUSDT", "delta", {"lastPrice": "1.00"}, ["lastPrice"], 5, 1, 2),
        wire.StreamStatus("linear", "BTCUSDT", "disconnected", "closed", 1),
        wire.Heartbeat("feed", 1, {"md.book.linear.BTCUSDT": 3}, {"conn": "up"}),
        wire.Bbo("linear", "BTCUSDT", "live", "1", "2", "3", "4", 5, 6, 7, 8),
        wire.ExecReport("filled", "create", "linear", "BTCUSDT", "a-1", "o-1", "0", "", 1, {"avgPrice": "2"}),
    ]
    for msg in msgs:
        assert wire.decode(wire.encode(msg)) == msg


def test_payload_is_a_self_describing_msgpack_map() -> None:
    msg = wire.BookUpdate("linear", "XRPUSDT", 50, "delta", [("1.9531", "0")], [], 2, 3, 4, 5, 6)
    plain = msgspec.msgpack.decode(wire.encode(msg))
    assert plain["kind"] == "book"
    assert plain["bids"] == [["1.9531", "0"]]
    assert plain["type"] == "delta"


@pytest.mark.parametrize("payload", [b"", b"\x00\x01", msgspec.msgpack.encode({"kind": "nope"})])
def test_garbage_payload_is_a_typed_error(payload: bytes) -> None:
    with pytest.raises(WireDecodeError):
        wire.decode(payload)


def test_seq_tracker_reports_gaps_but_not_late_joins_or_restarts() -> None:
    tracker = SeqTracker()
    assert tracker.observe("t", epoch=1, seq=5) is None  # late join
    assert tracker.observe("t", epoch=1, seq=6) is None
    gap = tracker.observe("t", epoch=1, seq=9)
    assert gap is not None and (gap.expected, gap.got, gap.lost) == (7, 9, 2)
    assert tracker.observe("t", epoch=2, seq=1) is None  # publisher restarted
    assert (tracker.gaps, tracker.restarts) == (1, 1)


def test_heartbeat_reveals_a_lost_tail() -> None:
    tracker = SeqTracker()
    tracker.observe("md.book.linear.BTCUSDT", 1, 10)
    hb = wire.Heartbeat("feed", 0, {"md.book.linear.BTCUSDT": 12, "md.book.spot.X": 4}, epoch=1)
    gaps = tracker.observe_heartbeat(hb)
    assert [(g.topic, g.expected) for g in gaps] == [("md.book.linear.BTCUSDT", 11)]
    assert tracker.observe("md.book.linear.BTCUSDT", 1, 13) is None


def test_topics_build_split_and_match() -> None:
    name = topics.topic(topics.BOOK, "inverse", "BTCUSD")
    assert name == "md.book.inverse.BTCUSD"
    assert topics.split(name) == ("md.book", "inverse", "BTCUSD")
    assert topics.matches(name, "md.book")
    assert topics.matches(name, "md.book.inverse.BTCUSD")
    assert not topics.matches("md.book.inverse.BTCUSDH26", "md.book.inverse.BTCUSD")
