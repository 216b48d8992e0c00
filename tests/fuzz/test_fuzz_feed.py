"""Fuzz the feed's frame parser (:meth:`Session.on_frame`): pure core, then a real feed process.

Every frame is either published (and encodes for the bus) or counted (received/malformed); a
dropped frame leaves the session unchanged. Over a real WebSocket, 20k garbage frames are counted
as malformed, cost no reconnect, do not disturb the book topic's ``u`` tracking, and the feed's
RSS stays flat.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common import wire
from services.feed.core.plan import plan_connections
from services.feed.core.session import Session
from tests.fuzz.corpus import check_feed_frame, feed_seeds, feed_session, mutated
from tests.fuzz.rss import rss_kib
from tests.helpers import eventually

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = feed_seeds()
SESSION = feed_session()  # shared across examples on purpose: state accumulates like a live feed

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(raw: bytes) -> None:
    check_feed_frame(SESSION, raw)


@FUZZ
@given(st.randoms(use_true_random=False))
def test_mutated_real_samples(rnd: random.Random) -> None:
    check_feed_frame(SESSION, mutated(SEEDS, rnd))


@FUZZ
@given(json_values, st.sampled_from(["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT", "tickers.BTCUSDT", ""]))
def test_random_json_under_a_real_topic(value: Any, topic: str) -> None:
    frame = {"topic": topic, "type": "delta", "ts": 1, "data": value} if topic else value
    check_feed_frame(SESSION, json.dumps(frame).encode())


# ---------------------------------------------------------------- regressions (found by fuzzing)
BOOK = b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{"s":"BTCUSDT","b":[["1","2"]],"a":[],"u":%s}}'  # noqa: E501


def fresh() -> Session:
    plan = plan_connections([("linear", "BTCUSDT")], ("book", "trade", "ticker"), 50, 1000)[0]
    session = Session(plan)
    session.connected(0.0)
    session.actions.clear()
    return session


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        # invalid UTF-8 in a string: msgspec raises UnicodeDecodeError, which escaped on_frame
        # (the shell then counted an internal error and reconnected)
        (BOOK.replace(b'"BTCUSDT","b"', b'"\xed\xa0\x80","b"') % b"5", "not_json"),
        (
            b'{"topic":"tickers.BTCUSDT","type":"snapshot","ts":1,"data":{"a":1,"b":["\xff"]}}',
            "ticker_schema",
        ),
        # absurd nesting: RecursionError escaped the same way
        (b'{"topic":"orderbook.50.BTCUSDT","zz":' + b"[" * 5000 + b"]" * 5000 + b"}", "not_json"),
        (b'{"zz":' + b"[" * 5000 + b"]" * 5000 + b"}", "not_json"),
        # an integer beyond 64 bits decoded, then made the publisher's msgpack encode raise
        (BOOK % b"99999999999999999999999", "book_schema"),
        (BOOK % b"-9223372036854775809", "book_schema"),
    ],
)
def test_bad_frames_are_counted_not_raised(raw: bytes, kind: str) -> None:
    session = fresh()
    session.on_frame(BOOK % b"7", 0)
    assert check_feed_frame(session, raw) == f"malformed:{kind}"
    assert session.routes["orderbook.50.BTCUSDT"].last_u == 7


def test_largest_int64_is_still_published() -> None:
    session = fresh()
    assert check_feed_frame(session, BOOK % str(2**63 - 1).encode()) == "published"


# ---------------------------------------------------------------- over a real WebSocket
SNAP = BOOK % b"10"
N_SOCKET = 20_000


def garbage_frames(n: int, unique: int = 2000, seed: int = 11) -> list[bytes]:
    """``n`` frames (``unique`` distinct mutated ones, repeated) that the feed's own core counts
    as malformed, so the feed must count every one of them."""
    oracle = fresh()
    rnd = random.Random(seed)
    out: list[bytes] = []
    while len(out) < unique:
        raw = mutated(SEEDS, rnd)
        if check_feed_frame(oracle, raw).startswith("malformed:"):
            out.append(raw)
    return (out * (n // unique + 1))[:n]


@pytest.mark.integration
def test_20k_garbage_frames_over_a_websocket(fake: Any, start_feed: Any) -> None:
    from tests.integration.test_feed_local_ws import metric

    fake.on_subscribe = [SNAP]
    proc, bus, _, metrics = start_feed()
    eventually(lambda: bus.of(wire.BookUpdate), timeout=15)
    frames = garbage_frames(N_SOCKET)

    async def blast(chunk: list[bytes]) -> None:
        for ws in list(fake.clients):
            for raw in chunk:  # text frames when they are UTF-8, binary otherwise (both are read)
                try:
                    await ws.send(raw.decode())
                except UnicodeDecodeError:
                    await ws.send(raw)

    bad = 'tickwire_feed_malformed_frames_total{kind="%s"}'
    fake.call(blast(frames[:2000]))  # warm-up: caches, allocator arenas
    eventually(lambda: metric(metrics, "tickwire_feed_malformed_frames_total") >= 2000, timeout=30)
    rss0 = rss_kib(proc.proc.pid)
    fake.call(blast(frames[2000:]))
    eventually(lambda: metric(metrics, "tickwire_feed_malformed_frames_total") >= N_SOCKET, timeout=60)
    rss1 = rss_kib(proc.proc.pid)
    print(f"feed RSS {rss0} KiB -> {rss1} KiB after {N_SOCKET - 2000} garbage frames")
    assert metric(metrics, "tickwire_feed_malformed_frames_total") == N_SOCKET
    assert metric(metrics, bad % "internal_error") == 0
    assert metric(metrics, "tickwire_feed_reconnects_total") == 0 and fake.connections == 1
    assert rss1 - rss0 < 8 * 1024, (rss0, rss1)
    # the book topic's u tracking is intact: the next delta continues without a gap
    fake.push(BOOK.replace(b"snapshot", b"delta") % b"11")
    books = eventually(lambda: [m for m in bus.of(wire.BookUpdate) if m.u == 11], timeout=15)
    assert books[0].bus_seq == 2 and metric(metrics, "tickwire_feed_u_gaps_total") == 0
    assert "resubscribing" not in bus.statuses() and proc.alive
