"""Every real Bybit public sample decoded by the production schemas and normalised exactly.

The oracle is built independently with the stdlib ``json`` module from the same lines: prices and
sizes must come out as the exact input strings, timestamps and ids unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from services.common import wire
from services.feed.core import exchange_schemas as xs
from services.feed.core.plan import ConnectionPlan
from services.feed.core.session import Log, Session
from tests.helpers import SAMPLES

RECV_NS = 1_790_000_000_000_000_000
PUBLIC_FILES = sorted(p.name for p in SAMPLES.glob("ws_public_*"))
FEED_TOPICS = ("orderbook.", "publicTrade.", "tickers.")
INVERSE_SYMBOLS = ("BTCUSD", "BTCUSDU23", "XRPUSD")


def lines(name: str) -> list[bytes]:
    return [line for line in (SAMPLES / name).read_bytes().splitlines() if line.strip()]


def category_of(name: str, topic: str) -> str:
    symbol = topic.rsplit(".", 1)[-1]
    if "spot" in name and "tickers_spot" not in name:
        return "spot"
    if "option" in name or symbol.count("-") >= 3:
        return "option"
    if topic == "tickers.BTC-USDT":  # the GCT-edited spot ticker
        return "spot"
    return "inverse" if symbol in INVERSE_SYMBOLS else "linear"


def session_for(category: str, topics: list[str]) -> Session:
    symbols = tuple(dict.fromkeys(t.rsplit(".", 1)[-1] for t in topics))
    session = Session(ConnectionPlan(f"{category}-0", category, tuple(topics), symbols))
    session.connected(0.0)
    session.actions.clear()
    return session


def expected(category: str, frame: dict[str, Any], merged: dict[str, dict[str, str]]) -> wire.BusMessage:
    topic = frame["topic"]
    kind, _, rest = topic.partition(".")
    if kind == "orderbook":
        depth, _, symbol = rest.partition(".")
        d = frame["data"]
        return wire.BookUpdate(
            category, symbol, int(depth), frame["type"],
            [tuple(level) for level in d["b"]], [tuple(level) for level in d["a"]],  # type: ignore[misc]
            d["u"], d.get("seq", 0), frame["ts"], frame.get("cts", 0), RECV_NS,
        )  # fmt: skip
    if kind == "publicTrade":
        trades = [
            wire.Trade(
                t["i"], t["T"], t["p"], t["v"], t["S"], t.get("BT", False), t.get("L", ""), t.get("seq", 0)
            )
            for t in frame["data"]
        ]
        return wire.Trades(category, rest, trades, frame["ts"], RECV_NS)
    assert kind == "tickers"
    type_ = "snapshot" if category == "spot" else frame["type"]
    if type_ == "snapshot":
        merged[topic] = dict(frame["data"])
    else:
        merged.setdefault(topic, {}).update(frame["data"])
    return wire.Ticker(
        category,
        rest,
        type_,
        dict(merged[topic]),
        list(frame["data"]),
        frame.get("cs", 0),
        frame["ts"],
        RECV_NS,
    )


@pytest.mark.parametrize("name", PUBLIC_FILES)
def test_every_public_sample_normalises_exactly(name: str) -> None:
    frames = [(raw, json.loads(raw)) for raw in lines(name)]
    data = [(raw, f) for raw, f in frames if "topic" in f]
    by_cat: dict[str, list[str]] = {}
    for _, f in data:
        if f["topic"].startswith(FEED_TOPICS):
            topics = by_cat.setdefault(category_of(name, f["topic"]), [])
            if f["topic"] not in topics:
                topics.append(f["topic"])
    sessions = {cat: session_for(cat, topics) for cat, topics in by_cat.items()}
    merged: dict[str, dict[str, str]] = {}
    published = 0
    for raw, f in data:
        if not f["topic"].startswith(FEED_TOPICS):
            # liquidation topics are not subscribed by the feed: counted, never fatal
            session = next(iter(sessions.values())) if sessions else session_for("linear", ["tickers.X"])
            assert session.on_frame(raw, RECV_NS) is None
            assert session.stats.malformed["unexpected_topic"] >= 1
            continue
        category = category_of(name, f["topic"])
        out = sessions[category].on_frame(raw, RECV_NS)
        assert out is not None, raw[:120]
        bus_topic, msg = out
        want = expected(category, f, merged)
        assert msg == want
        # the wire round trip keeps every string exactly
        assert wire.decode(wire.encode(msg)) == want
        assert bus_topic.split(".")[2:] == [category, f["topic"].rsplit(".", 1)[-1]]
        published += 1
    if not data:  # a control-only file: handled as control, nothing published, nothing malformed
        session = session_for("spot", ["orderbook.50.BTCUSDT"])
        for raw, _ in frames:
            assert session.on_frame(raw, RECV_NS) is None
        assert session.stats.messages["control"] == len(frames) and not session.stats.malformed
    else:
        assert published >= 1
    for session in sessions.values():
        assert not session.stats.malformed.get("book_schema")


def test_xrp_sequence_has_no_gap_and_keeps_exact_strings() -> None:
    raws = lines("ws_public_orderbook_linear_ob500_XRPUSDT_sequence_50msgs.jsonl")
    session = session_for("linear", ["orderbook.500.XRPUSDT"])
    msgs = [session.on_frame(raw, RECV_NS) for raw in raws]
    assert session.stats.u_gaps == 0 and session.stats.stale_u == 0
    assert not [a for a in session.actions if not isinstance(a, Log)]
    first = msgs[0]
    assert first is not None and isinstance(first[1], wire.BookUpdate)
    assert first[1].bids[0] == ("1.9531", "6203") and first[1].bids[1] == ("1.9530", "2409")
    assert len(first[1].bids) == 500 and len(first[1].asks) == 500
    last = msgs[-1]
    assert last is not None and isinstance(last[1], wire.BookUpdate) and last[1].u == 20254918


def test_spot_prices_without_trailing_zeros_stay_as_sent() -> None:
    raws = lines("ws_public_orderbook_spot_200_BTCUSDT_ack_snapshot_delta.jsonl")
    session = session_for("spot", ["orderbook.200.BTCUSDT"])
    assert session.on_frame(raws[0], RECV_NS) is None  # the ack
    out = session.on_frame(raws[1], RECV_NS)
    assert out is not None and isinstance(out[1], wire.BookUpdate)
    assert out[1].bids[2] == ("43730", "0.1101")
    assert out[1].cts == 1703430557664 and out[1].ts == 1703430557696


def test_public_control_frames_decode() -> None:
    pong = (SAMPLES / "ws_public_spot_pong_2023.json").read_bytes()
    env = xs.envelope_decoder.decode(pong)
    assert env.ret_msg == "pong" and env.op == "ping" and env.topic == ""
    ack = xs.envelope_decoder.decode((SAMPLES / "ws_public_spot_subscribe_ack_2023.json").read_bytes())
    assert ack.success is True and ack.op == "subscribe" and ack.ret_msg == "subscribe"
    quoted = [json.loads(line) for line in lines("error_and_control_frames_quoted.jsonl")]
    public = [q["frame"] for q in quoted if q["kind"].startswith("ws_public_")]
    assert len(public) == 4
    for frame in public:
        env = xs.envelope_decoder.decode(msgspec.json.encode(frame))
        assert env.topic == "" and env.ret_msg == frame["ret_msg"]
    private_pong = next(q["frame"] for q in quoted if q["kind"] == "ws_private_pong_with_req_id")
    assert xs.envelope_decoder.decode(msgspec.json.encode(private_pong)).op == "pong"


def test_ticker_with_a_non_string_value_keeps_its_json_text() -> None:
    fields = xs.ticker_fields(b'{"symbol":"X","lastPrice":"1.50","n":12,"f":0.10}')
    assert fields == {"symbol": "X", "lastPrice": "1.50", "n": "12", "f": "0.10"}


def test_sample_dir_exists() -> None:
    assert Path(SAMPLES).is_dir() and len(PUBLIC_FILES) >= 10
