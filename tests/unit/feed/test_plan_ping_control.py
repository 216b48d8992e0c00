"""Unit tests for the feed's pure helpers: connection plan, subscribe batches, channels,
ping/pong decisions and control-request parsing."""

from __future__ import annotations

import pytest

from services.common.errors import ConfigError
from services.feed.core.control import BadRequest, PingRequest, Resnapshot, StatusRequest, parse_request
from services.feed.core.heartbeat import PingState
from services.feed.core.normalize import TopicError, exchange_topic, route_for
from services.feed.core.plan import batches, parse_channels, plan_connections


def test_plan_groups_by_category_and_shards_keeping_symbols_together() -> None:
    pairs = [("linear", f"L{i}") for i in range(5)] + [("spot", "BTCUSDT"), ("inverse", "BTCUSD")]
    plans = plan_connections(pairs, ("book", "trade", "ticker"), 200, topics_per_connection=6)
    assert [(p.conn_id, p.symbols) for p in plans] == [
        ("linear-0", ("L0", "L1")), ("linear-1", ("L2", "L3")), ("linear-2", ("L4",)),
        ("spot-0", ("BTCUSDT",)), ("inverse-0", ("BTCUSD",)),
    ]  # fmt: skip
    assert plans[0].topics == (
        "orderbook.200.L0", "publicTrade.L0", "tickers.L0",
        "orderbook.200.L1", "publicTrade.L1", "tickers.L1",
    )  # fmt: skip
    assert all(len(p.topics) <= 6 for p in plans)


def test_plan_never_has_an_empty_connection_with_tiny_limits() -> None:
    plans = plan_connections([("linear", "A"), ("linear", "B")], ("book", "trade", "ticker"), 50, 1)
    assert [p.symbols for p in plans] == [("A",), ("B",)]


def test_batches_respect_spot_limit() -> None:
    topics = [f"t{i}" for i in range(23)]
    assert [len(b) for b in batches("spot", topics)] == [10, 10, 3]
    assert [len(b) for b in batches("linear", topics)] == [23]
    assert [t for b in batches("spot", topics) for t in b] == topics


def test_channels() -> None:
    assert parse_channels("book, trade,book") == ("book", "trade")
    with pytest.raises(ConfigError, match="unknown channel 'kline'"):
        parse_channels("book,kline")
    with pytest.raises(ConfigError):
        parse_channels(" , ")


def test_routes() -> None:
    r = route_for("inverse", "orderbook.1.BTCUSD")
    assert (r.kind, r.depth, r.symbol, r.wire_topic, r.gap_check) == (
        "book",
        1,
        "BTCUSD",
        "md.book.inverse.BTCUSD",
        False,
    )
    assert route_for("spot", "tickers.BTCUSDT").wire_topic == "md.ticker.spot.BTCUSDT"
    assert route_for("spot", "publicTrade.BTCUSDT").wire_topic == "md.trade.spot.BTCUSDT"
    for bad in ("kline.5.X", "orderbook.x.Y", "orderbook.50", "tickers."):
        with pytest.raises(TopicError):
            route_for("linear", bad)
    with pytest.raises(TopicError):
        exchange_topic("kline", "X", 50)


def test_ping_state_pings_every_interval_and_times_out() -> None:
    p = PingState(interval=20, timeout=10)
    p.start(100.0)
    assert p.next_wakeup(100.0) == 20.0
    assert p.poll(119.0) is None
    assert p.poll(120.0) == "ping"
    assert p.next_wakeup(120.0) == 10.0
    p.on_pong()
    assert p.poll(135.0) is None and p.next_wakeup(135.0) == 5.0
    assert p.poll(140.0) == "ping"
    assert p.poll(149.9) is None
    assert p.poll(150.0) == "timeout"
    with pytest.raises(ValueError):
        PingState(0, 1)


def test_ping_state_keeps_the_first_deadline_when_timeout_exceeds_interval() -> None:
    p = PingState(interval=1, timeout=3)
    p.start(0.0)
    assert p.poll(1.0) == "ping" and p.deadline == 4.0
    assert p.poll(2.0) == "ping" and p.deadline == 4.0
    assert p.poll(4.0) == "timeout"


def test_control_requests_parse() -> None:
    assert parse_request(b'{"op":"resnapshot","category":"linear","symbol":"BTCUSDT"}') == Resnapshot(
        "linear", "BTCUSDT"
    )
    assert parse_request(b'{"op":"status"}') == StatusRequest()
    assert parse_request(b'{"op":"ping"}') == PingRequest()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"nope", "bad_request"),
        (b"[]", "bad_request"),
        (b'{"op":"resnapshot","category":"linear"}', "bad_request"),
        (b'{"op":"explode"}', "unknown_op"),
        (b'{"category":"linear"}', "bad_request"),
    ],
)
def test_bad_control_requests_get_stable_codes(body: bytes, code: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_request(body)
    assert info.value.reply["ok"] is False and info.value.reply["error"]["code"] == code
