"""Property tests: any JSON a client sends is either accepted or refused with ApiError; the
engine's invariants (no negative leaves, spot locks never negative) hold afterwards."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.bybit_sim.core.instruments import build_instruments
from services.bybit_sim.trading.core.engine import Engine
from services.bybit_sim.trading.core.errors import ApiError
from tests.unit.bybit_sim_trading.conftest import make_book

NOW = 1_700_000_000_000
INSTRUMENTS = build_instruments()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**40), 10**40),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "0.001",
            "1e30",
            "1E-40",
            "-1",
            "NaN",
            "Infinity",
            "65000.0",
            "0.1",
            "spot",
            "linear",
            "BTCUSDT",
            "Buy",
            "Sell",
            "Limit",
            "Market",
            "IOC",
            "FOK",
            "PostOnly",
            "true",
        ]
    ),
)
values = st.one_of(
    scalars, st.lists(scalars, max_size=2), st.dictionaries(st.text(max_size=3), scalars, max_size=2)
)
keys = st.sampled_from(
    [
        "category",
        "symbol",
        "side",
        "orderType",
        "qty",
        "price",
        "timeInForce",
        "orderLinkId",
        "positionIdx",
        "reduceOnly",
        "marketUnit",
        "orderId",
    ]
)
bodies = st.dictionaries(keys, values, max_size=10)


def fresh() -> tuple[Engine, dict[tuple[str, str], Any]]:
    engine = Engine(INSTRUMENTS, {"USDT": Decimal(100000), "BTC": Decimal(2)})
    books = {
        ("linear", "BTCUSDT"): make_book(
            INSTRUMENTS[("linear", "BTCUSDT")], [("64999.9", "1")], [("65000.0", "1")]
        ),
        ("spot", "BTCUSDT"): make_book(
            INSTRUMENTS[("spot", "BTCUSDT")], [("64999.99", "1")], [("65000.00", "1")]
        ),
    }
    return engine, books


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(bodies, min_size=1, max_size=4))
def test_any_body_is_accepted_or_refused(batch: list[dict[str, Any]]) -> None:
    """create/amend/cancel never raise anything but ApiError, whatever the input."""
    engine, books = fresh()
    for body in batch:
        book = books.get((str(body.get("category")), str(body.get("symbol"))))
        for op in (engine.create, engine.amend):
            try:
                op(1001, body, book, NOW)
            except ApiError:
                pass
        try:
            engine.cancel(1001, body, NOW)
        except ApiError:
            pass
    acct = engine.account(1001)
    assert all(o.leaves >= 0 for o in acct.orders.values())
    assert all(v >= 0 for v in acct.wallet.locked.values())


order_bodies = st.fixed_dictionaries(
    {
        "category": st.sampled_from(["linear", "spot"]),
        "symbol": st.just("BTCUSDT"),
        "side": st.sampled_from(["Buy", "Sell"]),
        "orderType": st.sampled_from(["Limit", "Limit", "Market"]),
        "qty": st.sampled_from(["0.001", "0.01", "0.5", "1.5"]),
        "price": st.sampled_from(["64990.0", "64999.9", "65000.0", "65010.0"]),
        "timeInForce": st.sampled_from(["GTC", "IOC", "FOK", "PostOnly"]),
    }
)
moves = st.tuples(
    st.sampled_from(["b", "a"]),
    st.sampled_from(["64980.0", "64995.0", "65000.0", "65005.0"]),
    st.sampled_from(["0", "0.2", "2"]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(order_bodies, moves), min_size=1, max_size=12))
def test_matching_invariants(steps: list[Any]) -> None:
    """Orders and book moves in any order keep fills within qty, locks >= 0, the open index exact."""
    engine, books = fresh()
    for step in steps:
        if isinstance(step, tuple):
            side, price, qty = step
            for (cat, sym), book in books.items():
                inst = INSTRUMENTS[(cat, sym)]
                other = book.best_ask() if side == "b" else book.best_bid()
                p = Decimal(price)
                if other is not None and ((side == "b" and p >= other) or (side == "a" and p <= other)):
                    continue  # the generator never crosses its own book
                book.set_level(side, inst.to_ticks(price), inst.to_lots(qty))
                engine.on_book(cat, sym, book, NOW)
            continue
        try:
            engine.create(1001, step, books[(step["category"], "BTCUSDT")], NOW)
        except ApiError:
            pass
    acct = engine.account(1001)
    for order in acct.orders.values():
        assert order.leaves >= 0
        if order.market_unit != "quoteCoin":
            assert order.cum_qty <= order.qty
        listed = order.order_id in engine._open.get((order.category, order.symbol), {})
        assert listed == order.is_open
    assert all(v >= 0 for v in acct.wallet.locked.values())
