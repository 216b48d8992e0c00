"""Free margin walks only the orders that may still be open; finished ones drop out of it."""

from __future__ import annotations

from decimal import Decimal

from services.bybit_sim.core.book import SimBook
from services.bybit_sim.trading.core.engine import Engine
from tests.unit.bybit_sim_trading.conftest import UID
from tests.unit.bybit_sim_trading.test_engine import NOW, lin


def _margin_by_scan(engine: Engine) -> Decimal:
    """What free margin was before: every order ever placed, open ones counted."""
    acct = engine.account(UID)
    used = Decimal(0)
    for order in acct.orders.values():
        if order.is_open and order.price is not None:
            used += order.leaves * order.price / 10
    return acct.wallet.balances["USDT"] - used


def test_free_margin_counts_open_orders_only(engine: Engine, linear_book: SimBook) -> None:
    acct = engine.account(UID)
    for i in range(5):  # IOC far below the market: cancelled at once
        engine.create(
            UID, lin(qty="0.010", price="20000.0", timeInForce="IOC", orderLinkId=f"i{i}"), linear_book, NOW
        )
    resting = [
        engine.create(UID, lin(qty="0.010", price=f"2000{i}.0", orderLinkId=f"r{i}"), linear_book, NOW)[0]
        for i in range(3)
    ]
    engine.cancel(UID, {"category": "linear", "symbol": "BTCUSDT", "orderId": resting[0].order_id}, NOW)
    free = engine.free_margin(acct, "USDT")
    assert free == _margin_by_scan(engine)
    assert free < acct.wallet.balances["USDT"]  # the two resting orders hold margin
    assert set(acct.live) == {resting[1].order_id, resting[2].order_id}  # finished ones dropped
    assert len(acct.orders) == 8  # every order is still known (queries, history)
