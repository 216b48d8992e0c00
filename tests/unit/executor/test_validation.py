"""Exchange-rule validation: tick, lot, min/max qty, notional, spot basePrecision."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from services.executor.core.instruments import Instrument, parse_instrument, parse_instruments
from services.executor.core.intents import AmendIntent, CreateIntent, decode_intent
from services.executor.core.validation import Refusal, validate_amend, validate_create

LINEAR_ITEM = {  # PROTOCOL.md §7.4 docs example (linear BTCUSDT)
    "symbol": "BTCUSDT",
    "status": "Trading",
    "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
    "lotSizeFilter": {
        "maxOrderQty": "1190.000",
        "minOrderQty": "0.001",
        "qtyStep": "0.001",
        "maxMktOrderQty": "500.000",
        "minNotionalValue": "5",
    },
}
SPOT_ITEM = {
    "symbol": "BTCUSDT",
    "status": "Trading",
    "priceFilter": {"tickSize": "0.1"},
    "lotSizeFilter": {
        "basePrecision": "0.000001",
        "quotePrecision": "0.0000001",
        "minOrderQty": "0.000048",
        "maxOrderQty": "71.73956243",
        "minOrderAmt": "5",
        "maxOrderAmt": "2000000",
    },
}
LINEAR = parse_instrument("linear", LINEAR_ITEM)
SPOT = parse_instrument("spot", SPOT_ITEM)


def create(**fields: Any) -> CreateIntent:
    base = {
        "action": "create",
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.010",
        "price": "65000.5",
    }
    merged = {k: v for k, v in {**base, **fields}.items() if v is not None}
    if merged["orderType"] == "Market" and "price" not in fields:
        merged.pop("price")
    intent = decode_intent(msgspec.json.encode(merged))
    assert isinstance(intent, CreateIntent)
    return intent


def refused(intent: CreateIntent, inst: Instrument | None, ref: Decimal | None = None) -> str:
    with pytest.raises(Refusal) as info:
        validate_create(intent, inst, ref)
    return info.value.code


def test_parse_instruments() -> None:
    assert LINEAR is not None and LINEAR.qty_step == Decimal("0.001") and LINEAR.min_notional == Decimal(5)
    assert LINEAR.max_mkt_qty == Decimal(500)
    assert SPOT is not None and SPOT.qty_step == Decimal("0.000001") and SPOT.min_notional == Decimal(5)
    assert SPOT.quote_step == Decimal("0.0000001")
    insts, cursor = parse_instruments(
        "linear", {"list": [LINEAR_ITEM, {"symbol": "X"}], "nextPageCursor": "c2"}
    )
    assert [i.symbol for i in insts] == ["BTCUSDT"] and cursor == "c2"


def test_valid_limit() -> None:
    checked = validate_create(create(), LINEAR, None)
    assert checked.qty == Decimal("0.010") and checked.price == Decimal("65000.5")
    assert checked.notional == Decimal("650.0050")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"price": "65000.55"}, "bad_tick"),
        ({"price": "0.05"}, "bad_tick"),
        ({"price": "2000000.0"}, "price_out_of_range"),
        ({"qty": "0.0105"}, "bad_lot"),
        ({"qty": "0"}, "bad_qty"),
        ({"qty": "1190.001"}, "qty_above_max"),
        ({"qty": "1191"}, "qty_above_max"),
        ({"qty": "0.001", "price": "1000.0"}, "notional_below_min"),
        ({"symbol": "ETHUSDT"}, "unknown_symbol"),
    ],
)
def test_linear_refusals(fields: dict[str, str], code: str) -> None:
    inst = None if fields.get("symbol") == "ETHUSDT" else LINEAR
    assert refused(create(**fields), inst) == code


def test_min_qty() -> None:
    inst = parse_instrument(
        "linear", {**LINEAR_ITEM, "lotSizeFilter": {**LINEAR_ITEM["lotSizeFilter"], "minOrderQty": "0.01"}}
    )
    assert refused(create(qty="0.009"), inst) == "qty_below_min"


def test_market_max_qty_and_reference_price() -> None:
    assert refused(create(orderType="Market", qty="501", price=None), LINEAR) == "qty_above_max"
    checked = validate_create(create(orderType="Market", qty="0.010"), LINEAR, Decimal("60000"))
    assert checked.price is None and checked.notional == Decimal("600.000")
    assert validate_create(create(orderType="Market", qty="0.010"), LINEAR, None).notional is None


def test_not_trading() -> None:
    inst = parse_instrument("linear", {**LINEAR_ITEM, "status": "Delivering"})
    assert refused(create(), inst) == "symbol_not_trading"


def test_spot_uses_base_precision() -> None:
    ok = validate_create(create(category="spot", qty="0.000123", price="65000.1"), SPOT, None)
    assert ok.notional == Decimal("0.000123") * Decimal("65000.1")
    assert refused(create(category="spot", qty="0.0001234", price="65000.1"), SPOT) == "bad_lot"
    assert refused(create(category="spot", qty="0.000048", price="65000.1"), SPOT) == "notional_below_min"


def test_spot_market_buy_is_quote_amount() -> None:
    checked = validate_create(create(category="spot", orderType="Market", qty="100"), SPOT, Decimal("50000"))
    assert checked.notional == Decimal(100) and checked.base_qty == Decimal("0.002")
    assert refused(create(category="spot", orderType="Market", qty="4.99"), SPOT) == "notional_below_min"
    assert refused(create(category="spot", orderType="Market", qty="10.00000001"), SPOT) == "bad_lot"
    base = validate_create(
        create(category="spot", orderType="Market", qty="0.001", marketUnit="baseCoin"),
        SPOT,
        Decimal("50000"),
    )
    assert base.notional == Decimal("50.000")


def test_amend() -> None:
    def amend(**f: str) -> AmendIntent:
        i = decode_intent(
            msgspec.json.encode(
                {"action": "amend", "category": "linear", "symbol": "BTCUSDT", "orderLinkId": "a", **f}
            )
        )
        assert isinstance(i, AmendIntent)
        return i

    validate_amend(amend(price="65000.1", qty="0.002"), LINEAR)
    for fields, code in (({"price": "1.05"}, "bad_tick"), ({"qty": "0.0015"}, "bad_lot")):
        with pytest.raises(Refusal) as info:
            validate_amend(amend(**fields), LINEAR)
        assert info.value.code == code
