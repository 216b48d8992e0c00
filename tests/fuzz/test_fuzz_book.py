"""Fuzz the book's query endpoint: the pure handler, then a real book process over ZMQ.

Every request gets exactly one JSON reply: a result or a typed error (never ``internal``); no
request changes a book. Over the socket, 20k garbage queries get 20k error replies, the book's
levels and ``u`` are unchanged afterwards and the process RSS stays flat.
"""

from __future__ import annotations

import json
import random
from typing import Any

import msgspec
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.book.core import queries
from tests.fuzz.corpus import BOOK_SNAPSHOT, book_registry, book_seeds, check_book_query, mutated
from tests.fuzz.rss import rss_kib
from tests.helpers import eventually, tcp

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REG = book_registry()
SEEDS = book_seeds()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
params = st.fixed_dictionaries(
    {"op": st.sampled_from([*queries.OPS, "nope"]) | json_values},
    optional={
        "category": st.sampled_from(["spot", "linear"]) | json_values,
        "symbol": st.sampled_from(["BTCUSDT", "ETHUSDT"]) | json_values,
        "depth": st.integers(-5, 2000) | json_values,
        "side": st.sampled_from(["Buy", "Sell"]) | json_values,
        "qty": st.from_regex(r"\A[0-9]{1,22}(\.[0-9]{0,22})?\Z") | json_values,
    },
)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(body: bytes) -> None:
    check_book_query(REG, body)


@FUZZ
@given(st.randoms(use_true_random=False))
def test_mutated_valid_requests(rnd: random.Random) -> None:
    check_book_query(REG, mutated(SEEDS, rnd))


@FUZZ
@given(params)
def test_random_parameters(req: dict[str, Any]) -> None:
    check_book_query(REG, json.dumps(req).encode())


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"op":' * 50_000, b'"\xed\xa0\x80"', b'{"op":"top","category":"spot","symbol":"\xff"}',
     b'{"op":"impact","category":"spot","symbol":"BTCUSDT","side":"Buy","qty":"99999999999999999999.99999999999999999999"}',
     b'{"op":"book","category":"spot","symbol":"BTCUSDT","depth":1e400}', b"", b"\x00" * 70_000],
)  # fmt: skip
def test_edge_bodies(body: bytes) -> None:
    check_book_query(REG, body)


# ---------------------------------------------------------------- over the real socket
N_SOCKET = 20_000


def garbage_queries(n: int, unique: int = 2000, seed: int = 5) -> list[bytes]:
    """``n`` queries (``unique`` distinct ones, repeated) that the handler answers with an error."""
    reg = book_registry()
    rnd = random.Random(seed)
    out: list[bytes] = []
    while len(out) < unique:
        body = mutated(SEEDS, rnd)
        if check_book_query(reg, body) is not None:
            out.append(body)
    return (out * (n // unique + 1))[:n]


def blast(sock: zmq.Socket[bytes], bodies: list[bytes], window: int = 500) -> list[dict[str, Any]]:
    """Send every body from a DEALER (``window`` in flight) and collect one reply per body."""
    replies: list[dict[str, Any]] = []
    for start in range(0, len(bodies), window):
        chunk = bodies[start : start + window]
        for body in chunk:
            sock.send(body)
        for _ in chunk:
            assert sock.poll(10_000), "a query got no reply"
            replies.append(msgspec.json.decode(sock.recv()))
    return replies


@pytest.mark.integration
def test_20k_garbage_queries_over_the_socket(stack: Any) -> None:
    proc = stack.start_book(symbols="spot:BTCUSDT,linear:ETHUSDT", book_stale_after=3600)
    client = stack.wait_connected()
    frame = json.loads(BOOK_SNAPSHOT)
    levels = [[tuple(x) for x in frame["data"][side]] for side in ("b", "a")]
    stack.snapshot(("spot", "BTCUSDT"), levels[0], levels[1], u=frame["data"]["u"])
    stack.wait_state(("spot", "BTCUSDT"), "live")
    before = client.book("spot", "BTCUSDT")
    sock: zmq.Socket[bytes] = stack.ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(tcp(stack.ports["rep"]))
    try:
        bodies = garbage_queries(N_SOCKET)
        warm = blast(sock, bodies[:2000])
        rss0 = rss_kib(proc.proc.pid)
        replies = warm + blast(sock, bodies[2000:])
        rss1 = rss_kib(proc.proc.pid)
    finally:
        sock.close(linger=0)
    print(f"book RSS {rss0} KiB -> {rss1} KiB after {N_SOCKET - 2000} garbage queries")
    assert len(replies) == N_SOCKET
    codes = {r["error"]["code"] for r in replies if not r["ok"]}
    assert all(not r["ok"] for r in replies) and codes <= set(queries.ERROR_CODES) - {"internal"}, codes
    after = client.book("spot", "BTCUSDT")
    for reply in (before, after):
        reply.pop("age_ms")
    assert after == before and after["state"] == "live" and after["u"] == frame["data"]["u"]
    assert rss1 - rss0 < 8 * 1024, (rss0, rss1)
    assert client.request({"op": "ping"})["pong"] is True and proc.alive
    eventually(lambda: stack.client().status()["queries"] >= N_SOCKET, timeout=10)
