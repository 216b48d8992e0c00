"""Unit tests of order validation against the instruments (core/validation.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from services.bybit_sim.core.instruments import Instrument
from services.bybit_sim.trading.core.errors import ApiError
from services.bybit_sim.trading.core.validation import parse_create

REF = Decimal("65000")


def body(category: str = "linear", **kw: Any) -> dict[str, Any]:
    b = {
        "category": category,
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.01",
        "price": "60000",
    }
    b.update(kw)
    return b


@pytest.mark.parametrize(
    ("category", "changes", "code"),
    [
        ("linear", {"price": "60000.05"}, 10001),  # off tick 0.10
        ("linear", {"qty": "0.0015"}, 10001),  # off qtyStep 0.001
        ("linear", {"qty": "0.001", "price": "100"}, 110094),  # notional 0.1 < 5 USDT
        ("linear", {"qty": "2000"}, 10001),  # above maxOrderQty
        ("linear", {"positionIdx": 1}, 10001),
        ("linear", {"side": "buy"}, 10001),
        ("linear", {"orderType": "Stop"}, 10001),
        ("linear", {"timeInForce": "GTD"}, 10001),
        ("linear", {"orderLinkId": "x" * 37}, 10001),
        ("linear", {"orderLinkId": "bad id"}, 10001),
        ("linear", {"symbol": "NOPEUSDT"}, 10001),
        ("linear", {"qty": "-1"}, 10001),
        ("linear", {"qty": "abc"}, 10001),
        ("linear", {"price": None}, 10001),
        ("futures", {}, 10001),
        ("spot", {"price": "60000.001"}, 170134),
        ("spot", {"qty": "0.0100001"}, 170137),
        ("spot", {"qty": "0.000001"}, 170136),  # below minOrderQty 0.000048
        ("spot", {"qty": "0.0001", "price": "5000"}, 170140),  # 0.5 USDT < minOrderAmt 1
        ("spot", {"qty": "100"}, 170135),
        ("spot", {"symbol": "NOPEUSDT"}, 170121),
        ("spot", {"qty": "x"}, 170130),
    ],
)
def test_refusals(
    instruments: dict[tuple[str, str], Instrument], category: str, changes: dict[str, Any], code: int
) -> None:
    """Each violation is refused with the code Bybit uses for the category."""
    with pytest.raises(ApiError) as exc:
        parse_create(body(category, **changes), instruments, REF)
    assert exc.value.ret_code == code


def test_accepts_and_echoes(instruments: dict[tuple[str, str], Instrument]) -> None:
    """A valid order keeps the client's strings; market orders become IOC."""
    spec = parse_create(body(qty="0.010", price="60000.0", orderLinkId="ok-1"), instruments, REF)
    market = parse_create(body(orderType="Market", price=None, qty="0.001"), instruments, REF)
    spot_mkt = parse_create(body("spot", orderType="Market", qty="10"), instruments, REF)
    assert (spec.qty_text, spec.price_text, spec.time_in_force) == ("0.010", "60000.0", "GTC")
    assert market.time_in_force == "IOC" and market.price is None
    assert spot_mkt.market_unit == "quoteCoin"


def test_market_notional_uses_reference_price(instruments: dict[tuple[str, str], Instrument]) -> None:
    """A market order's notional is checked at the book's price."""
    with pytest.raises(ApiError) as exc:
        parse_create(body(orderType="Market", qty="0.001"), instruments, Decimal("1000"))
    assert exc.value.ret_code == 110094
