"""SimBook: reads, taker consumption, trades and listener notification."""

from __future__ import annotations

import json
from decimal import Decimal

from services.bybit_sim.core.book import SimBook
from services.bybit_sim.core.hub import PublicHub
from services.bybit_sim.core.instruments import DEFAULT_INSTRUMENTS
from services.bybit_sim.core.market import SimMarket
from tests.unit.bybit_sim.client import ClientBook

BTC = next(i for i in DEFAULT_INSTRUMENTS if (i.category, i.symbol) == ("linear", "BTCUSDT"))


def small_book() -> SimBook:
    book = SimBook(BTC)
    for ticks, lots in ((649990, 100), (649980, 200)):
        book.set_level("b", ticks, lots)
    for ticks, lots in ((650000, 150), (650010, 250), (650020, 300)):
        book.set_level("a", ticks, lots)
    return book


def test_reads() -> None:
    book = small_book()
    assert book.best_bid() == Decimal("64999.00") and book.best_ask() == Decimal("65000.00")
    assert book.levels("a", 2) == [("65000.00", "0.150"), ("65001.00", "0.250")]
    assert book.levels("b") == [("64999.00", "0.100"), ("64998.00", "0.200")]


def test_take_buy_walks_asks_up_to_limit() -> None:
    book = small_book()
    fills = book.take("Buy", Decimal("0.5"), Decimal("65001.00"))
    assert fills == [(Decimal("65000.00"), Decimal("0.150")), (Decimal("65001.00"), Decimal("0.250"))]
    assert book.levels("a") == [("65002.00", "0.300")]
    assert [(t.ticks, t.lots, t.taker_side) for t in book.pending_trades] == [
        (650000, 150, "Buy"),
        (650010, 250, "Buy"),
    ]


def test_take_sell_partial_and_no_limit() -> None:
    book = small_book()
    assert book.take("Sell", Decimal("0.05"), None) == [(Decimal("64999.00"), Decimal("0.050"))]
    assert book.levels("b", 1) == [("64999.00", "0.050")]
    assert book.take("Sell", Decimal("1"), Decimal("65000")) == []  # limit above the best bid


def test_take_shows_in_next_delta_and_trades_and_notifies(market: SimMarket, hub: PublicHub) -> None:
    seen = []
    market.add_listener(lambda c, s, b: seen.append((c, s)))
    snaps, _ = hub.subscribe("c", "linear", ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"], 0)
    client = ClientBook()
    client.apply(json.loads(snaps[0]))
    market.frozen.update(market.keys())
    book = market.book("linear", "BTCUSDT")
    ask = book.best_ask()
    assert ask is not None
    fills = book.take("Buy", Decimal("1000"), ask)
    assert seen == [("linear", "BTCUSDT")]
    frames = [json.loads(f) for s, f in hub.tick(10) + hub.tick(20) if "c" in s]
    trades = [m for m in frames if m["topic"] == "publicTrade.BTCUSDT"]
    assert [(d["p"], d["v"], d["S"]) for d in trades[0]["data"]] == [
        (f"{p:.2f}", str(q), "Buy") for p, q in fills
    ]
    for m in frames:
        if m["topic"].startswith("orderbook"):
            client.apply(m)
    assert Decimal(client.asks()[0][0]) > ask
    assert len(client.a) == 50


def test_listener_may_take_without_recursion(market: SimMarket) -> None:
    calls = []

    def cb(category: str, symbol: str, book: SimBook) -> None:
        calls.append(symbol)
        if len(calls) == 1:
            book.take("Sell", Decimal("0.001"), None)  # a listener filling against the book

    market.add_listener(cb)
    market.step([("linear", "BTCUSDT")])
    assert calls == ["BTCUSDT", "BTCUSDT"]
    market.remove_listener(cb)
    market.step([("linear", "BTCUSDT")])
    assert len(calls) == 2
