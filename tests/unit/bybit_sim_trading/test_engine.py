"""Unit tests of matching and the order state machine (core/engine.py), on hand-built true books.

Integration counterpart: tests/integration/test_sim_trading.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.bybit_sim.core.book import SimBook
from services.bybit_sim.core.instruments import Instrument
from services.bybit_sim.trading.core.engine import Engine, Push
from services.bybit_sim.trading.core.errors import ApiError
from tests.unit.bybit_sim_trading.conftest import UID, make_book

NOW = 1_700_000_000_000


def lin(**kw: Any) -> dict[str, Any]:
    body = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.1",
        "price": "60000",
    }
    body.update(kw)
    return body


def spot(**kw: Any) -> dict[str, Any]:
    body = {
        "category": "spot",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.01",
        "price": "60000",
    }
    body.update(kw)
    return body


def of(pushes: list[Push], topic: str) -> list[dict[str, Any]]:
    return [rec for p in pushes if p.topic == topic for rec in p.data]


def test_market_buy_walks_the_book(engine: Engine, linear_book: SimBook) -> None:
    """A market buy takes the asks best first; one execution per fill; Filled; position and wallet."""
    order, pushes = engine.create(UID, lin(orderType="Market", qty="0.2", orderLinkId="m1"), linear_book, NOW)

    execs = of(pushes, "execution")
    assert [(x["execPrice"], x["execQty"]) for x in execs] == [("65000.00", "0.1"), ("65001.00", "0.1")]
    assert all(x["isMaker"] is False and x["feeRate"] == "0.00055" for x in execs)
    assert [p.topic for p in pushes] == ["order", "execution", "execution", "position", "wallet"]
    assert of(pushes, "order")[0]["orderStatus"] == "Filled"
    assert of(pushes, "order")[0]["avgPrice"] == "65000.5"
    assert order.price_text == "68250"  # protection price: best ask + 5 %, on the tick grid
    pos = of(pushes, "position")[0]
    assert (pos["side"], pos["size"], pos["entryPrice"]) == ("Buy", "0.2", "65000.5")
    assert linear_book.levels("a", 1) == [("65001.00", "0.100")]


def test_marketable_limit_rests_remainder(engine: Engine, linear_book: SimBook) -> None:
    """A GTC limit crossing the book fills what it can up to its price and rests as PartiallyFilled."""
    order, pushes = engine.create(UID, lin(qty="0.5", price="65001.0"), linear_book, NOW)
    assert order.status == "PartiallyFilled" and order.cum_qty == Decimal("0.3")
    assert of(pushes, "order")[0]["leavesQty"] == "0.2"


def test_post_only_that_would_cross_is_cancelled(engine: Engine, linear_book: SimBook) -> None:
    """PostOnly crossing: accepted (an order id) then Cancelled with EC_PostOnlyWillTakeLiquidity."""
    order, pushes = engine.create(UID, lin(price="65000.0", timeInForce="PostOnly"), linear_book, NOW)
    rec = of(pushes, "order")[0]
    assert order.order_id and rec["orderStatus"] == "Cancelled"
    assert rec["rejectReason"] == "EC_PostOnlyWillTakeLiquidity" and not of(pushes, "execution")


def test_post_only_resting(engine: Engine, linear_book: SimBook) -> None:
    """A PostOnly below the ask rests as New."""
    order, _ = engine.create(UID, lin(price="64999.0", timeInForce="PostOnly"), linear_book, NOW)
    assert order.status == "New"


def test_fok_not_fully_fillable(engine: Engine, linear_book: SimBook) -> None:
    """FOK larger than the liquidity within its price: Cancelled, nothing taken."""
    order, pushes = engine.create(UID, lin(qty="0.4", price="65001.0", timeInForce="FOK"), linear_book, NOW)
    assert order.status == "Cancelled" and order.cum_qty == 0 and not of(pushes, "execution")
    assert linear_book.levels("a", 1) == [("65000.00", "0.100")]


def test_fok_fillable(engine: Engine, linear_book: SimBook) -> None:
    """FOK within the liquidity fills completely."""
    order, _ = engine.create(UID, lin(qty="0.3", price="65001.0", timeInForce="FOK"), linear_book, NOW)
    assert order.status == "Filled"


def test_ioc_remainder(engine: Engine, linear_book: SimBook, spot_book: SimBook) -> None:
    """IOC remainder: Cancelled on derivatives, PartiallyFilledCanceled on spot."""
    d, _ = engine.create(UID, lin(qty="0.5", price="65000.0", timeInForce="IOC"), linear_book, NOW)
    s, _ = engine.create(UID, spot(qty="0.5", price="65000", timeInForce="IOC"), spot_book, NOW)
    n, _ = engine.create(UID, lin(qty="0.1", price="60000", timeInForce="IOC"), linear_book, NOW)
    assert (d.status, d.cum_qty, d.reject_reason) == ("Cancelled", Decimal("0.1"), "EC_CancelForNoFullFill")
    assert (s.status, s.cum_qty) == ("PartiallyFilledCanceled", Decimal("0.1"))
    assert (n.status, n.reject_reason) == ("Cancelled", "EC_NoImmediateQtyToFill")


def test_spot_market_buy_in_quote_coin(engine: Engine, spot_book: SimBook) -> None:
    """Spot market Buy qty is quote coin: base is floored to basePrecision, dust ends the order."""
    order, pushes = engine.create(UID, spot(orderType="Market", qty="100"), spot_book, NOW)
    rec = of(pushes, "order")[0]
    assert order.market_unit == "quoteCoin" and order.price_text == "0"
    assert rec["orderStatus"] == "PartiallyFilledCanceled" and rec["rejectReason"] == "EC_CancelForNoFullFill"
    assert rec["cumExecQty"] == "0.001538" and rec["leavesQty"] == "0"
    assert of(pushes, "execution")[0]["feeCurrency"] == "BTC"


def test_resting_order_fills_when_market_crosses(
    engine: Engine, instruments: dict[tuple[str, str], Instrument]
) -> None:
    """A resting bid fills as maker at its own price when asks move through it: New -> Partial -> Filled."""
    inst = instruments[("linear", "BTCUSDT")]
    book = make_book(inst, bids=[("64000.0", "1")], asks=[("65000.0", "1")])
    _, pushes = engine.create(UID, lin(qty="0.3", price="64500.0"), book, NOW)
    assert of(pushes, "order")[0]["orderStatus"] == "New"

    book.set_level("a", inst.to_ticks("64400.0"), inst.to_lots("0.1"))
    first = engine.on_book("linear", "BTCUSDT", book, NOW + 1)
    book.set_level("a", inst.to_ticks("64500.0"), inst.to_lots("0.5"))
    second = engine.on_book("linear", "BTCUSDT", book, NOW + 2)
    third = engine.on_book("linear", "BTCUSDT", book, NOW + 3)

    assert of(first, "order")[0]["orderStatus"] == "PartiallyFilled"
    assert [(x["execPrice"], x["isMaker"], x["feeRate"]) for x in of(first, "execution")] == [
        ("64500.0", True, "0.0002")
    ]
    assert of(second, "order")[0]["orderStatus"] == "Filled"
    assert third == []
    assert [p.topic for p in second] == ["order", "execution", "position", "wallet"]


def test_duplicate_link_id(engine: Engine, linear_book: SimBook, spot_book: SimBook) -> None:
    """orderLinkId is unique per account, even after the first order closed."""
    engine.create(UID, lin(orderLinkId="x1", timeInForce="IOC"), linear_book, NOW)
    engine.create(UID, spot(orderLinkId="s1"), spot_book, NOW)
    with pytest.raises(ApiError) as d:
        engine.create(UID, lin(orderLinkId="x1"), linear_book, NOW)
    with pytest.raises(ApiError) as s:
        engine.create(UID, spot(orderLinkId="s1"), spot_book, NOW)
    other, _ = engine.create(UID + 1, lin(orderLinkId="x1"), linear_book, NOW)
    assert (d.value.ret_code, s.value.ret_code) == (110072, 170141)
    assert other.status == "New"


def test_cancel_and_cancel_finished(engine: Engine, linear_book: SimBook, spot_book: SimBook) -> None:
    """Cancel moves an open order to Cancelled (CancelByUser); cancelling again is 110001/170213."""
    engine.create(UID, lin(orderLinkId="c1"), linear_book, NOW)
    engine.create(UID, spot(orderLinkId="c2"), spot_book, NOW)
    order, pushes = engine.cancel(UID, {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "c1"}, NOW)
    engine.cancel(UID, {"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "c2"}, NOW)
    assert order.status == "Cancelled" and order.cancel_type == "CancelByUser"
    assert [p.topic for p in pushes] == ["order", "position"]
    codes = []
    for body in (
        {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "c1"},
        {"category": "linear", "symbol": "BTCUSDT", "orderId": "nope"},
        {"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "c2"},
    ):
        with pytest.raises(ApiError) as exc:
            engine.cancel(UID, body, NOW)
        codes.append(exc.value.ret_code)
    assert codes == [110001, 110001, 170213]
    with pytest.raises(ApiError) as missing:
        engine.cancel(UID, {"category": "linear", "symbol": "BTCUSDT"}, NOW)
    assert missing.value.ret_msg == "params error: OrderId or orderLinkId is required"


def test_cancel_all(engine: Engine, linear_book: SimBook) -> None:
    """cancel-all needs a scope on derivatives and cancels every matching open order."""
    for i in range(3):
        engine.create(UID, lin(orderLinkId=f"ca{i}"), linear_book, NOW)
    with pytest.raises(ApiError) as exc:
        engine.cancel_all(UID, {"category": "linear"}, NOW)
    orders, pushes = engine.cancel_all(UID, {"category": "linear", "settleCoin": "USDT"}, NOW)
    assert exc.value.ret_code == 10001
    assert sorted(o.order_link_id for o in orders) == ["ca0", "ca1", "ca2"]
    assert {o.status for o in orders} == {"Cancelled"}
    assert [p.topic for p in pushes].count("position") == 1


def test_amend(engine: Engine, linear_book: SimBook) -> None:
    """Amend changes price/qty; unchanged is 10001; a crossing price trades at once."""
    engine.create(UID, lin(orderLinkId="a1"), linear_book, NOW)
    order, pushes = engine.amend(
        UID, {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "a1", "qty": "0.2"}, linear_book, NOW
    )
    assert order.qty_text == "0.2" and [p.topic for p in pushes] == ["order", "position"]
    with pytest.raises(ApiError) as same:
        engine.amend(
            UID,
            {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "a1", "qty": "0.2"},
            linear_book,
            NOW,
        )
    assert same.value.ret_code == 10001
    order, pushes = engine.amend(
        UID,
        {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "a1", "price": "65001.0"},
        linear_book,
        NOW,
    )
    assert order.status == "Filled" and len(of(pushes, "execution")) == 2


def test_position_round_trip_realises_pnl(engine: Engine, linear_book: SimBook) -> None:
    """Buying then selling the same size flattens the position and books PnL minus fees."""
    engine.create(UID, lin(orderType="Market", qty="0.1"), linear_book, NOW)
    _, pushes = engine.create(UID, lin(orderType="Market", side="Sell", qty="0.1"), linear_book, NOW)
    pos = of(pushes, "position")[0]
    execs = of(pushes, "execution")
    assert (pos["side"], pos["size"]) == ("", "0")
    assert pos["cumRealisedPnl"] == "-0.01"  # bought 65000.0, sold 64999.9
    assert execs[0]["closedSize"] == "0.1"
    usdt = next(c for c in of(pushes, "wallet")[0]["coin"] if c["coin"] == "USDT")
    fees = Decimal("65000.0") * Decimal("0.1") * Decimal("0.00055") + Decimal("6499.99") * Decimal("0.00055")
    assert Decimal(usdt["walletBalance"]) == Decimal(100000) - Decimal("0.01") - fees


def test_reduce_only(engine: Engine, linear_book: SimBook) -> None:
    """reduceOnly on a flat position is 110017."""
    with pytest.raises(ApiError) as exc:
        engine.create(UID, lin(orderType="Market", side="Sell", reduceOnly=True), linear_book, NOW)
    assert exc.value.ret_code == 110017


def test_insufficient_balance(engine: Engine, linear_book: SimBook, spot_book: SimBook) -> None:
    """Spot: 170131; derivatives beyond 10x the settle-coin balance: 110007."""
    with pytest.raises(ApiError) as s:
        engine.create(UID, spot(side="Sell", qty="3", price="70000"), spot_book, NOW)
    with pytest.raises(ApiError) as d:
        engine.create(UID, lin(qty="20", price="60000"), linear_book, NOW)
    assert (s.value.ret_code, d.value.ret_code) == (170131, 110007)


def test_spot_lock_and_release(engine: Engine, spot_book: SimBook) -> None:
    """A resting spot buy locks quote coin; cancelling releases it."""
    engine.create(UID, spot(orderLinkId="l1", qty="0.01", price="60000"), spot_book, NOW)
    wallet = engine.account(UID).wallet
    assert wallet.locked["USDT"] == Decimal("600.00")
    engine.cancel(UID, {"category": "spot", "symbol": "BTCUSDT", "orderLinkId": "l1"}, NOW)
    assert wallet.locked["USDT"] == 0


def test_market_without_liquidity(engine: Engine, instruments: dict[tuple[str, str], Instrument]) -> None:
    """A market order on an empty side is accepted and Cancelled (EC_NoImmediateQtyToFill)."""
    book = make_book(instruments[("linear", "BTCUSDT")], bids=[("64000.0", "1")], asks=[])
    order, _ = engine.create(UID, lin(orderType="Market"), book, NOW)
    assert (order.status, order.reject_reason) == ("Cancelled", "EC_NoImmediateQtyToFill")
