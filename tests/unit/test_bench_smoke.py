"""Smoke tests of the benchmark suite's pure parts: the frame generator and the results table."""

from __future__ import annotations

import json
import math

from bench.frames import FrameGen, apply_frame_reference, make_stream
from bench.prep import book_update
from bench.stats import Figure, Target, format_markdown, format_table, histogram, percentile, summarize
from services.common.wire import BookUpdate, decode, encode


def test_stream_is_bybit_wire_format_and_reproducible() -> None:
    a = make_stream(300, 5, seed=3, depths=(50, 200))
    b = make_stream(300, 5, seed=3, depths=(50, 200))
    assert a.frames == b.frames
    kinds = set()
    for frame in a.frames:
        msg = json.loads(frame)
        kinds.add(msg["topic"].split(".")[0])
        assert msg["type"] in ("snapshot", "delta")
        assert isinstance(msg["ts"], int)
        if msg["topic"].startswith("orderbook."):
            assert list(msg) == ["topic", "type", "ts", "data", "cts"]  # linear key order
            assert set(msg["data"]) == {"s", "b", "a", "u", "seq"}
            for side in ("b", "a"):
                for price, size in msg["data"][side]:
                    assert isinstance(price, str) and isinstance(size, str)
                    assert size == "0" or float(size) > 0
    assert kinds == {"orderbook", "publicTrade", "tickers"}


def test_deltas_keep_window_u_sequence_and_match_true_book() -> None:
    st = make_stream(2000, 4, seed=11, depths=(50,), book_share=1.0, trade_share=0.0)
    books: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    last_u: dict[str, int] = {}
    last_top: dict[str, tuple[str, str, str, str]] = {}
    sizes = []
    for frame in st.frames:
        apply_frame_reference(books, frame)
        msg = json.loads(frame)
        sym, u = msg["data"]["s"], msg["data"]["u"]
        bids, asks = books[sym]
        bid, ask = max(bids, key=float), min(asks, key=float)
        top = (bid, bids[bid], ask, asks[ask])
        if msg["type"] == "delta":
            assert top != last_top[sym]  # every delta moves the BBO (the e2e bench relies on it)
            assert u == last_u[sym] + 1
            sizes.append(len(frame))
            bids, asks = books[sym]
            assert len(bids) == len(asks) == 50
            assert max(map(float, bids)) < min(map(float, asks))
        last_u[sym] = u
        last_top[sym] = top
    sizes.sort()
    assert 500 < sizes[len(sizes) // 2] < 1000  # ~700-byte deltas with ~30 level changes
    for sym, tb in st.gen.books.items():
        bids, asks = tb.as_strings()
        assert dict(bids) == books[sym][0] and dict(asks) == books[sym][1]


def test_book_update_roundtrips_through_the_bus_codec() -> None:
    gen = FrameGen(1)
    gen.add_symbol("XRPUSDT", 50)
    msg = book_update(gen.snapshot("XRPUSDT"))
    assert isinstance(msg, BookUpdate) and msg.depth == 50 and len(msg.bids) == 50
    back = decode(encode(msg))
    assert isinstance(back, BookUpdate) and back.bids == msg.bids


def test_percentiles_and_summary() -> None:
    data = list(range(1, 101))
    assert percentile(data, 50) == 50
    assert percentile(data, 99) == 99
    assert math.isnan(percentile([], 50))
    s = summarize([x * 1000 for x in data])
    assert s["p50_us"] == 50 and s["max_us"] == 100 and s["n"] == 100
    h = histogram([x * 1000 for x in data], bins=10)
    assert len(h["edges"]) == 11 and sum(h["counts"]) > 90


def test_table_formatting_and_targets() -> None:
    figs = [
        Figure("a", "feed ingest", 60_000.0, "msg/s", 200_000.0, "R1", Target(">=", 0.5)),
        Figure("b", "top p50", 50.0, "µs", 45.0, "R3", Target("<=", 1.3)),
        Figure("c", "signing", 3.0, "µs", target=Target("<=", 10, on="value")),
        Figure("d", "info", float("nan"), "msg/s"),
    ]
    assert [f.met for f in figs] == [False, True, True, None]
    text = format_table(figs)
    lines = text.splitlines()
    assert lines[0].split() == ["figure", "value", "baseline", "ratio", "target", "met"]
    assert "0.30" in lines[2] and "NO" in lines[2]
    assert "60,000 msg/s" in text and "ratio >= 0.5" in text and "<= 10 µs" in text
    md = format_markdown(figs)
    assert md.count("\n") == len(figs) + 1 and md.startswith("| figure |")
    assert json.loads(json.dumps([f.to_json() for f in figs], default=str))[0]["ratio"] == 0.3


def test_e2e_latency_covers_batched_deltas_with_the_next_bbo() -> None:
    from types import SimpleNamespace

    from bench.e2e import latencies

    # one snapshot per symbol first (not sent by the paced server), then deltas u=2,3,4 of A and 2 of B
    st = SimpleNamespace(symbols=["A", "B"], sym_idx=[0, 1, 0, 0, 0, 1], book_u=[1, 1, 2, 3, 4, 2])
    send = [100, 200, 300, 400]  # send stamps (monotonic) of the four deltas
    offset = 1_000_000
    # BBO rows (symbol, u, received, recv_ns, pub_ns in realtime): A's u=2 and u=3 were applied
    # in one batch (one BBO with u=3); A's u=4 has no BBO (uncovered); B's u=2 its own.
    rows = [("A", 3, 650, 0, offset + 600), ("B", 2, 900, 0, offset + 800)]
    lat, lat_q, uncovered = latencies(st, 2, send, rows, offset, {"A", "B"})
    assert sorted(lat_q) == [400, 400, 500]  # A u=2: 600-100, A u=3: 600-200, B u=2: 800-400
    assert sorted(lat) == [450, 500, 550]
    assert uncovered == 1
    # only the observed symbols' deltas are sampled (the sink subscribed to B's BBOs alone)
    lat, lat_q, uncovered = latencies(st, 2, send, rows, offset, {"B"})
    assert (lat_q, lat, uncovered) == ([400], [500], 0)
