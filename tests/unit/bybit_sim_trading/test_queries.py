"""Unit tests of the read-only queries (core/queries.py): realtime filters, pagination, positions."""

from __future__ import annotations

from typing import Any

import pytest

from services.bybit_sim.core.book import SimBook
from services.bybit_sim.trading.core.engine import Engine
from services.bybit_sim.trading.core.errors import ApiError
from services.bybit_sim.trading.core.queries import open_orders, positions, wallet_balance
from tests.unit.bybit_sim_trading.conftest import UID

NOW = 1_700_000_000_000


def place(engine: Engine, book: SimBook, link: str, t: int, **kw: Any) -> None:
    body = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.01",
        "price": "60000",
        "orderLinkId": link,
    }
    body.update(kw)
    engine.create(UID, body, book, NOW + t)


def links(result: dict[str, Any]) -> list[str]:
    return [o["orderLinkId"] for o in result["list"]]


def test_open_only_and_recent_closed(engine: Engine, linear_book: SimBook) -> None:
    """openOnly=0 lists open orders newest first; openOnly=1 adds closed ones; ids find any state."""
    place(engine, linear_book, "o1", 1)
    place(engine, linear_book, "o2", 2)
    place(engine, linear_book, "f1", 3, orderType="Market", price=None)
    base = {"category": "linear", "symbol": "BTCUSDT"}
    assert links(open_orders(engine, UID, base)) == ["o2", "o1"]
    assert links(open_orders(engine, UID, {**base, "openOnly": "1"})) == ["f1", "o2", "o1"]
    assert links(open_orders(engine, UID, {"category": "linear", "orderLinkId": "f1"})) == ["f1"]
    assert (
        open_orders(engine, UID, {"category": "linear", "orderLinkId": "f1"})["list"][0]["orderStatus"]
        == "Filled"
    )
    assert links(open_orders(engine, UID, {**base, "settleCoin": "USDT"})) == ["o2", "o1"]
    assert open_orders(engine, UID + 1, base)["list"] == []


def test_pagination(engine: Engine, linear_book: SimBook) -> None:
    """limit and nextPageCursor page through the list; the last page has an empty cursor."""
    for i in range(5):
        place(engine, linear_book, f"p{i}", i)
    first = open_orders(engine, UID, {"category": "linear", "symbol": "BTCUSDT", "limit": "2"})
    second = open_orders(
        engine,
        UID,
        {"category": "linear", "symbol": "BTCUSDT", "limit": "2", "cursor": first["nextPageCursor"]},
    )
    last = open_orders(
        engine, UID, {"category": "linear", "symbol": "BTCUSDT", "limit": "2", "cursor": "page-4"}
    )
    assert links(first) == ["p4", "p3"] and links(second) == ["p2", "p1"]
    assert links(last) == ["p0"] and last["nextPageCursor"] == ""


@pytest.mark.parametrize(
    "params",
    [
        {"category": "linear"},  # needs symbol / baseCoin / settleCoin
        {"category": "linear", "symbol": "BTCUSDT", "limit": "51"},
        {"category": "linear", "symbol": "BTCUSDT", "cursor": "zzz"},
        {"category": "linear", "symbol": "BTCUSDT", "openOnly": "9"},
        {"category": "nope", "symbol": "BTCUSDT"},
    ],
)
def test_realtime_param_errors(engine: Engine, params: dict[str, str]) -> None:
    """Bad query parameters are 10001."""
    with pytest.raises(ApiError) as exc:
        open_orders(engine, UID, params)
    assert exc.value.ret_code == 10001


def test_positions_and_wallet(engine: Engine, linear_book: SimBook) -> None:
    """With symbol a flat position is listed; with settleCoin only non-zero ones. Wallet is UNIFIED."""
    flat = positions(engine, UID, {"category": "linear", "symbol": "ETHUSDT"})
    none = positions(engine, UID, {"category": "linear", "settleCoin": "USDT"})
    place(engine, linear_book, "m", 1, orderType="Market", price=None, qty="0.1")
    held = positions(engine, UID, {"category": "linear", "settleCoin": "USDT"})
    wallet = wallet_balance(engine, UID, {"accountType": "UNIFIED", "coin": "USDT"})
    assert flat["list"][0]["size"] == "0" and none["list"] == []
    assert [(p["symbol"], p["side"], p["size"], p["avgPrice"]) for p in held["list"]] == [
        ("BTCUSDT", "Buy", "0.1", "65000")
    ]
    assert [c["coin"] for c in wallet["list"][0]["coin"]] == ["USDT"]
    with pytest.raises(ApiError):
        wallet_balance(engine, UID, {"accountType": "SPOT"})
