"""Order-book streams: top-N window, u/seq, L1 behaviour, key order, determinism."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from services.bybit_sim.core.hub import PublicHub
from services.bybit_sim.core.instruments import build_instruments
from services.bybit_sim.core.market import SimMarket
from tests.unit.bybit_sim.client import ClientBook

CONN = "c1"


def run(hub: PublicHub, ticks: int, ts0: int = 1_700_000_000_000) -> list[dict[str, Any]]:
    out = []
    for i in range(ticks):
        for subs, frame in hub.tick(ts0 + 10 * (i + 1)):
            if CONN in subs:
                out.append(json.loads(frame))
    return out


@pytest.mark.parametrize(
    ("category", "symbol"), [("linear", "BTCUSDT"), ("spot", "BTCUSDT"), ("inverse", "ETHUSD")]
)
@pytest.mark.parametrize("depth", [50, 200, 1000])
def test_window_is_exactly_n_and_u_plus_one(hub: PublicHub, category: str, symbol: str, depth: int) -> None:
    topic = f"orderbook.{depth}.{symbol}"
    snaps, _ = hub.subscribe(CONN, category, [topic], 1_700_000_000_000)
    client = ClientBook()
    client.apply(json.loads(snaps[0]))
    assert len(client.b) == depth and len(client.a) == depth
    msgs = [m for m in run(hub, 400) if m["topic"] == topic]
    assert len(msgs) >= 400 // {50: 2, 200: 10, 1000: 20}[depth] * 0.8
    seq = client.seq
    for m in msgs:
        assert m["type"] == "delta"
        client.apply(m)  # asserts u == last + 1
        assert len(client.b) == depth and len(client.a) == depth
        assert Decimal(client.bids()[0][0]) < Decimal(client.asks()[0][0])
        assert m["data"]["seq"] > seq
        seq = m["data"]["seq"]
    assert client.as_sim_book() == {
        k: v for k, v in hub.book_state(category, symbol, depth).items() if k != "active"
    }


def test_changes_per_delta_resemble_real_samples(hub: PublicHub) -> None:
    hub.subscribe(CONN, "linear", ["orderbook.200.XRPUSDT"], 0)
    msgs = run(hub, 2000)
    sizes = [len(m["data"]["b"]) + len(m["data"]["a"]) for m in msgs]
    mean = sum(sizes) / len(sizes)
    assert 10 <= mean <= 60, mean


def test_key_order_by_category_and_depth(hub: PublicHub) -> None:
    snaps, _ = hub.subscribe("spot-conn", "spot", ["orderbook.50.BTCUSDT"], 0)
    assert list(json.loads(snaps[0])) == ["topic", "ts", "type", "data", "cts"]
    snaps, _ = hub.subscribe(CONN, "linear", ["orderbook.50.BTCUSDT", "orderbook.1.ETHUSDT"], 0)
    assert list(json.loads(snaps[0])) == ["topic", "type", "ts", "data", "cts"]
    assert list(json.loads(snaps[1])) == ["topic", "ts", "type", "data", "cts"]
    assert list(json.loads(snaps[0])["data"]) == ["s", "b", "a", "u", "seq"]
    for m in run(hub, 20):
        if m["topic"] == "orderbook.50.BTCUSDT":
            assert list(m) == ["topic", "type", "ts", "data", "cts"]
            assert m["ts"] >= m["cts"]


def test_l1_is_snapshot_only_and_repeats_with_same_u(market: SimMarket, hub: PublicHub) -> None:
    hub.subscribe(CONN, "linear", ["orderbook.1.BTCUSDT"], 0)
    msgs = run(hub, 50)
    assert msgs and all(m["type"] == "snapshot" for m in msgs)
    assert all(len(m["data"]["b"]) == 1 == len(m["data"]["a"]) for m in msgs)
    us = [m["data"]["u"] for m in msgs]
    assert us == sorted(us) and len(set(us)) == len(us)
    market.frozen.add(("linear", "BTCUSDT"))
    ts0 = 1_700_000_000_000
    quiet = [json.loads(f) for i in range(700) for s, f in hub.tick(ts0 + 10 * i) if CONN in s]
    quiet = [m for m in quiet if m["topic"] == "orderbook.1.BTCUSDT"]
    # nothing changes: the same snapshot (same u) every 3 s of timestamps
    assert 2 <= len(quiet) <= 4
    assert len({m["data"]["u"] for m in quiet[1:]}) == 1


def test_prices_and_sizes_on_grid_with_exact_precision(hub: PublicHub) -> None:
    hub.subscribe(CONN, "linear", ["orderbook.50.XRPUSDT", "orderbook.50.BTCUSDT"], 0)
    for m in run(hub, 100):
        for p, s in m["data"]["b"] + m["data"]["a"]:
            if m["data"]["s"] == "XRPUSDT":
                assert len(p.split(".")[1]) == 4 and "." not in s
            else:
                assert len(p.split(".")[1]) == 2 and p.endswith("0")
                assert s == "0" or len(s.split(".")[1]) == 3


def test_deterministic_for_a_seed() -> None:
    def frames(seed: int) -> list[bytes]:
        from services.bybit_sim.core.faults import Faults

        h = PublicHub(SimMarket(build_instruments(), seed=seed), Faults())
        h.subscribe(CONN, "linear", ["orderbook.50.SOLUSDT", "publicTrade.SOLUSDT"], 0)
        return [f for i in range(200) for _, f in h.tick(10 * i)]

    assert frames(3) == frames(3)
    assert frames(3) != frames(4)


def test_resubscribe_snapshot_continues_u(hub: PublicHub) -> None:
    snaps, _ = hub.subscribe(CONN, "linear", ["orderbook.50.ETHUSDT"], 0)
    first = json.loads(snaps[0])["data"]["u"]
    run(hub, 10)
    snaps2, _ = hub.subscribe("c2", "linear", ["orderbook.50.ETHUSDT"], 0)
    # a second subscriber gets the sent state with the current u
    assert json.loads(snaps2[0])["data"]["u"] == hub.book_state("linear", "ETHUSDT", 50)["u"] > first


def test_window_diff_under_random_edits_including_thin_books() -> None:
    import random

    from services.bybit_sim.core.book import SimBook
    from services.bybit_sim.core.instruments import DEFAULT_INSTRUMENTS
    from services.bybit_sim.core.streams import BookStream

    rng = random.Random(5)
    book = SimBook(DEFAULT_INSTRUMENTS[2])
    stream = BookStream("linear", book, 5, 100)
    stream.activate(0)
    client = ClientBook()
    client.apply(json.loads(stream.snapshot(0)))
    for step in range(1500):
        for _ in range(rng.randint(0, 6)):
            side = rng.choice("ba")
            ticks = rng.randint(100, 110) if side == "b" else rng.randint(111, 121)
            book.set_level(side, ticks, rng.choice([0, 0, 1, 2, 3]))
        frame = stream.push(step, rng.choice(["delta"] * 20 + ["snapshot"]))
        if frame is None:
            continue
        msg = json.loads(frame)
        client.apply(msg)
        want_b = [list(x) for x in book.levels("b", 5)]
        want_a = [list(x) for x in book.levels("a", 5)]
        assert client.bids() == want_b and client.asks() == want_a
