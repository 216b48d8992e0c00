"""Unit tests for the feed's session logic: subscribe/ack bookkeeping, u gaps, resnapshots,
statuses, malformed frames, pongs and the ticker merge. No sockets: frames in, actions out."""

from __future__ import annotations

import json

import msgspec
import pytest

from services.common import wire
from services.feed.core.plan import ConnectionPlan, plan_connections
from services.feed.core.session import Log, Send, Session, Status, UnknownTopic

NS = 1_700_000_000_000_000_000


def make(category: str = "linear", symbols: tuple[str, ...] = ("BTCUSDT",), depth: int = 50) -> Session:
    plan = plan_connections([(category, s) for s in symbols], ("book", "trade", "ticker"), depth, 1000)[0]
    return Session(plan, ping_interval=20, pong_timeout=10)


def sends(session: Session) -> list[dict[str, object]]:
    out = [json.loads(a.payload) for a in session.actions if isinstance(a, Send)]
    return out


def take(session: Session) -> list[object]:
    actions, session.actions = session.actions, []
    return actions


def book(topic: str, type_: str, u: int, bids: list[list[str]] | None = None) -> bytes:
    frame = {
        "topic": topic,
        "type": type_,
        "ts": 1700000000000,
        "data": {"s": topic.rsplit(".", 1)[1], "b": bids or [["100.0", "1"]], "a": [], "u": u, "seq": u * 10},
        "cts": 1,
    }
    return json.dumps(frame, separators=(",", ":")).encode()


def ack(req_id: str, success: bool = True, ret_msg: str = "", op: str = "subscribe") -> bytes:
    return json.dumps(
        {"success": success, "ret_msg": ret_msg, "conn_id": "c", "req_id": req_id, "op": op}
    ).encode()


def test_connect_subscribes_everything_and_announces_after_ack() -> None:
    s = make(symbols=("BTCUSDT", "ETHUSDT"))
    s.connected(0.0)
    reqs = sends(s)
    assert reqs == [{
        "req_id": "linear-0.1", "op": "subscribe",
        "args": ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT", "tickers.BTCUSDT",
                 "orderbook.50.ETHUSDT", "publicTrade.ETHUSDT", "tickers.ETHUSDT"],
    }]  # fmt: skip
    take(s)
    assert not s.all_acked()
    assert s.on_frame(ack("linear-0.1"), NS) is None
    assert take(s) == [Status("linear", "BTCUSDT", "subscribed"), Status("linear", "ETHUSDT", "subscribed")]
    assert s.all_acked()


def test_spot_requests_never_carry_more_than_ten_args() -> None:
    symbols = tuple(f"S{i}USDT" for i in range(12))
    s = make("spot", symbols)
    s.connected(0.0)
    reqs = sends(s)
    assert [len(r["args"]) for r in reqs] == [10, 10, 10, 6]  # type: ignore[arg-type]
    assert [t for r in reqs for t in r["args"]] == list(s.routes)  # type: ignore[attr-defined]
    take(s)
    # a spot ack has no req_id when none... here it echoes; acks are matched in order either way
    for _ in reqs:
        s.on_frame(b'{"success":true,"ret_msg":"subscribe","conn_id":"x","op":"subscribe"}', NS)
    statuses = [a for a in take(s) if isinstance(a, Status)]
    assert sorted(st.symbol for st in statuses) == sorted(symbols)
    assert s.all_acked()


def test_snapshot_before_ack_is_published() -> None:
    s = make()
    s.connected(0.0)
    take(s)
    out = s.on_frame(book("orderbook.50.BTCUSDT", "snapshot", 7), NS)
    assert out is not None and out[0] == "md.book.linear.BTCUSDT"
    assert isinstance(out[1], wire.BookUpdate) and out[1].u == 7 and out[1].recv_ns == NS
    assert not take(s)
    s.on_frame(ack("linear-0.1"), NS)
    assert take(s) == [Status("linear", "BTCUSDT", "subscribed")]


def test_handler_not_found_is_an_error_once_and_never_retried() -> None:
    s = make(symbols=("BTCUSDT", "NOPEUSDT"))
    s.connected(0.0)
    take(s)
    msg = "error:handler not found,topic:orderbook.50.NOPEUSDT"
    s.on_frame(ack("linear-0.1", False, msg), NS)
    actions = take(s)
    assert Status("linear", "NOPEUSDT", "error", f"orderbook.50.NOPEUSDT: {msg}") in actions
    assert [a.event for a in actions if isinstance(a, Log)] == ["subscribe_refused"]
    retry = [json.loads(a.payload) for a in actions if isinstance(a, Send)]
    # the sim and Bybit refuse such a request as a whole: the rest is asked for again
    assert retry == [{"req_id": "linear-0.2", "op": "subscribe", "args": [
        "orderbook.50.BTCUSDT", "publicTrade.BTCUSDT", "tickers.BTCUSDT",
        "publicTrade.NOPEUSDT", "tickers.NOPEUSDT"]}]  # fmt: skip
    s.on_frame(ack("linear-0.2"), NS)
    assert take(s) == [Status("linear", "BTCUSDT", "subscribed")]
    assert s.all_acked() and s.topic_state["orderbook.50.NOPEUSDT"] == "error"
    # after a reconnect the refused topic is not asked for again
    s.disconnected("test")
    take(s)
    s.connected(1.0)
    (req,) = sends(s)
    assert "orderbook.50.NOPEUSDT" not in req["args"]  # type: ignore[operator]
    assert s.stats.subscribe_errors == 1
    with pytest.raises(UnknownTopic):
        s.resnapshot("NOPEUSDT", 5.0)


def test_already_subscribed_counts_as_success() -> None:
    s = make()
    s.connected(0.0)
    take(s)
    s.on_frame(ack("linear-0.1", False, "error:already subscribed,topic:tickers.BTCUSDT"), NS)
    actions = take(s)
    (retry,) = [json.loads(a.payload) for a in actions if isinstance(a, Send)]
    assert retry["args"] == ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"]
    s.on_frame(ack(str(retry["req_id"])), NS)
    assert take(s) == [Status("linear", "BTCUSDT", "subscribed")]


def test_request_error_without_topic_marks_the_request_topics_in_error() -> None:
    s = make("spot")
    s.connected(0.0)
    take(s)
    s.on_frame(b'{"success":false,"ret_msg":"args size >10"}', NS)
    statuses = [a for a in take(s) if isinstance(a, Status)]
    assert {st.state for st in statuses} == {"error"} and statuses[0].reason.endswith("args size >10")


def test_u_gap_is_counted_and_resubscribed_once() -> None:
    s = make()
    s.connected(0.0)
    s.on_frame(ack("linear-0.1"), NS)
    take(s)
    t = "orderbook.50.BTCUSDT"
    s.on_frame(book(t, "snapshot", 10), NS)
    s.on_frame(book(t, "delta", 11), NS)
    assert not take(s)
    out = s.on_frame(book(t, "delta", 13), NS)
    assert out is not None  # still published: the book service checks for itself
    actions = take(s)
    assert s.stats.u_gaps == 1 and s.stats.resubscribes["gap"] == 1
    assert [json.loads(a.payload)["op"] for a in actions if isinstance(a, Send)] == [
        "unsubscribe",
        "subscribe",
    ]
    assert [json.loads(a.payload)["args"] for a in actions if isinstance(a, Send)] == [[t], [t]]
    assert Status("linear", "BTCUSDT", "resubscribing", "gap") in actions
    assert any(isinstance(a, Log) and a.event == "u_gap" and a.fields["expected"] == 12 for a in actions)
    # further deltas before the fresh snapshot do not count again
    s.on_frame(book(t, "delta", 20), NS)
    assert s.stats.u_gaps == 1 and not take(s)
    # the unsubscribe ack is silent; the subscribe ack announces the symbol again
    s.on_frame(ack("linear-0.2", op="unsubscribe"), NS)
    s.on_frame(book(t, "snapshot", 3), NS)  # a lower u on a snapshot is always accepted
    s.on_frame(ack("linear-0.3"), NS)
    assert take(s) == [Status("linear", "BTCUSDT", "subscribed")]
    s.on_frame(book(t, "delta", 4), NS)
    assert s.stats.u_gaps == 1 and not take(s)


def test_stale_u_is_counted_and_level_one_is_not_gap_checked() -> None:
    s = make()
    s.connected(0.0)
    take(s)
    t = "orderbook.50.BTCUSDT"
    s.on_frame(book(t, "snapshot", 10), NS)
    s.on_frame(book(t, "delta", 10), NS)
    assert s.stats.stale_u == 1 and s.stats.u_gaps == 0
    s1 = make(depth=1)
    s1.connected(0.0)
    take(s1)
    for u in (5, 5, 9):
        s1.on_frame(book("orderbook.1.BTCUSDT", "snapshot", u), NS)
    s1.on_frame(book("orderbook.1.BTCUSDT", "delta", 30), NS)
    assert s1.stats.u_gaps == 0 and not take(s1)


def test_delta_with_u_one_after_sync_is_a_restart_gap() -> None:
    s = make()
    s.connected(0.0)
    take(s)
    t = "orderbook.50.BTCUSDT"
    s.on_frame(book(t, "snapshot", 10), NS)
    s.on_frame(book(t, "delta", 1), NS)
    assert s.stats.u_gaps == 1


def test_resnapshot_is_coalesced_within_a_second() -> None:
    s = make()
    assert s.resnapshot("BTCUSDT", 0.0) == "not_connected"
    s.connected(0.0)
    take(s)
    assert s.resnapshot("BTCUSDT", 10.0) == "requested"
    actions = take(s)
    assert [json.loads(a.payload)["op"] for a in actions if isinstance(a, Send)] == [
        "unsubscribe",
        "subscribe",
    ]
    assert Status("linear", "BTCUSDT", "resubscribing", "control") in actions
    assert s.resnapshot("BTCUSDT", 10.5) == "coalesced"
    assert not take(s)
    assert s.resnapshot("BTCUSDT", 11.2) == "requested"
    assert s.stats.resubscribes["control"] == 2
    # once the requested snapshot arrived, a new request is a new resubscription
    s.on_frame(book("orderbook.50.BTCUSDT", "snapshot", 5), NS)
    assert s.resnapshot("BTCUSDT", 11.3) == "requested"
    with pytest.raises(UnknownTopic):
        s.resnapshot("ETHUSDT", 20.0)


def test_disconnect_publishes_disconnected_for_every_symbol() -> None:
    s = make(symbols=("BTCUSDT", "ETHUSDT"))
    s.disconnected("never connected")
    assert not take(s)
    s.connected(0.0)
    take(s)
    s.disconnected("closed: code 1006")
    assert take(s) == [
        Status("linear", "BTCUSDT", "disconnected", "closed: code 1006"),
        Status("linear", "ETHUSDT", "disconnected", "closed: code 1006"),
    ]
    assert set(s.topic_state.values()) == {"idle"}


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"not json at all", "not_json"),
        (b"\x00\xff\x10", "not_json"),
        (b"[1,2,3]", "envelope_schema"),
        (b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":"x","data":{}}', "book_schema"),
        (b'{"type":"delta","topic":"orderbook.50.BTCUSDT","ts":1,"data":{"s":"B"}}', "book_schema"),
        (b'{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[{"p":1}]}', "trade_schema"),
        (b'{"topic":"tickers.BTCUSDT","type":"weird","ts":1,"data":{}}', "ticker_schema"),
        (b'{"topic":"tickers.BTCUSDT","type":"delta","ts":1,"data":[1]}', "ticker_schema"),
        (
            b'{"topic":"orderbook.50.ETHUSDT","type":"delta","ts":1,"data":{"s":"E","b":[],"a":[],"u":1}}',
            "unexpected_topic",
        ),
        (b'{"topic":"kline.5.BTCUSDT","type":"snapshot","ts":1,"data":[]}', "unexpected_topic"),
        (b'{"ret_msg":"error:invalid op"}', "unexpected_control"),
        (b'{"success":true,"ret_msg":"","op":"subscribe","req_id":"nobody"}', "unmatched_ack"),
    ],
)
def test_malformed_frames_are_counted_and_logged_once(raw: bytes, kind: str) -> None:
    s = make()
    for _ in range(3):
        assert s.on_frame(raw, NS) is None
    assert s.stats.malformed == {kind: 3}
    logs = [a for a in take(s) if isinstance(a, Log)]
    assert len(logs) == 1 and logs[0].fields["kind"] == kind and logs[0].event == "malformed_frame"


def test_both_pong_shapes_clear_the_deadline() -> None:
    s = make()
    s.connected(0.0)
    for pong in (
        b'{"success":true,"ret_msg":"pong","conn_id":"c","req_id":"","op":"ping"}',
        b'{"req_id":"x","op":"pong","args":["1703683273204"],"conn_id":"c"}',
    ):
        assert s.ping.poll(20.0) == "ping"
        s.on_frame(pong, NS)
        assert s.ping.deadline is None
        s.ping.start(0.0)
    assert s.stats.malformed == {}


def test_linear_ticker_deltas_are_merged_spot_tickers_are_snapshots() -> None:
    s = make()
    s.connected(0.0)
    snap = b'{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","lastPrice":"1.0","markPrice":"2.0","fundingRate":""},"cs":5,"ts":9}'  # noqa: E501
    delta = b'{"topic":"tickers.BTCUSDT","type":"delta","data":{"symbol":"BTCUSDT","markPrice":"2.5"},"cs":6,"ts":10}'  # noqa: E501
    out = s.on_frame(snap, NS)
    assert out is not None and isinstance(out[1], wire.Ticker) and out[1].changed == [
        "symbol", "lastPrice", "markPrice", "fundingRate"]  # fmt: skip
    out = s.on_frame(delta, NS)
    assert out is not None
    assert out[1] == wire.Ticker(
        "linear", "BTCUSDT", "delta",
        {"symbol": "BTCUSDT", "lastPrice": "1.0", "markPrice": "2.5", "fundingRate": ""},
        ["symbol", "markPrice"], 6, 10, NS,
    )  # fmt: skip
    # a delta before any snapshot is merged into an empty ticker and counted
    s.connected(1.0)
    out = s.on_frame(delta, NS)
    assert out is not None and isinstance(out[1], wire.Ticker)
    assert (
        out[1].fields == {"symbol": "BTCUSDT", "markPrice": "2.5"} and s.tickers.deltas_without_snapshot == 1
    )
    spot = make("spot")
    out = spot.on_frame(delta, NS)
    assert out is not None and isinstance(out[1], wire.Ticker) and out[1].type == "snapshot"


def test_trades_keep_ids_and_strings() -> None:
    s = make("spot")
    raw = b'{"topic":"publicTrade.BTCUSDT","ts":5,"type":"snapshot","data":[{"i":"2290000000090712222","T":4,"p":"43774","v":"0.0026","S":"Sell","s":"BTCUSDT","BT":false}]}'  # noqa: E501
    out = s.on_frame(raw, NS)
    assert out == (
        "md.trade.spot.BTCUSDT",
        wire.Trades(
            "spot",
            "BTCUSDT",
            [wire.Trade("2290000000090712222", 4, "43774", "0.0026", "Sell", False, "", 0)],
            5,
            NS,
        ),
    )


def test_receive_lag_and_bytes_are_counted() -> None:
    s = make()
    raw = book("orderbook.50.BTCUSDT", "snapshot", 1)
    s.on_frame(raw, (1700000000000 + 3) * 1_000_000)
    assert s.stats.messages_by_kind()["book"] == 1 and s.stats.bytes_by_kind()["book"] == len(raw)
    assert s.stats.lag.count == 1 and s.stats.lag.total_ms == pytest.approx(3.0)


def test_snapshot_state_reports_topics() -> None:
    s = make()
    state = s.snapshot_state()
    assert state["topics"] == dict.fromkeys(s.routes, "idle") and state["connected"] is False
    assert msgspec.json.encode(state)
    assert isinstance(s.plan, ConnectionPlan)


def test_a_book_frame_in_another_key_order_takes_the_envelope_path_with_the_same_result() -> None:
    s = make()
    fast = book("orderbook.50.BTCUSDT", "snapshot", 10)
    frame = json.loads(fast)
    reordered = json.dumps({k: frame[k] for k in ("type", "cts", "data", "ts", "topic")}).encode()
    out_fast = s.on_frame(fast, NS)
    out_slow = s.on_frame(reordered, NS)
    assert out_fast == out_slow and out_slow is not None
    delta = json.loads(book("orderbook.50.BTCUSDT", "delta", 12))
    s.on_frame(json.dumps({k: delta[k] for k in ("data", "topic", "type", "ts")}).encode(), NS)
    assert s.stats.u_gaps == 1 and s.stats.messages_by_kind()["book"] == 3
