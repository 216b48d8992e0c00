"""Instruments: exact price/size formatting on the grid and Bybit JSON shapes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.bybit_sim.core.instruments import (
    DEFAULT_INSTRUMENTS,
    InstrumentError,
    build_instruments,
    generic_instrument,
)

INST = {(i.category, i.symbol): i for i in DEFAULT_INSTRUMENTS}


def test_price_formatting_uses_bybit_precision() -> None:
    btc = INST[("linear", "BTCUSDT")]
    assert btc.fmt_price(650001) == "65000.10"
    assert btc.fmt_price(650000) == "65000.00"
    assert INST[("linear", "XRPUSDT")].fmt_price(19531) == "1.9531"
    assert INST[("linear", "XRPUSDT")].fmt_price(19530) == "1.9530"
    assert INST[("spot", "BTCUSDT")].fmt_price(6500001) == "65000.01"
    assert INST[("linear", "SOLUSDT")].fmt_price(15001) == "150.010"
    assert INST[("inverse", "BTCUSD")].fmt_price(130001) == "65000.50"


def test_size_formatting() -> None:
    assert INST[("linear", "BTCUSDT")].fmt_qty(194) == "0.194"
    assert INST[("linear", "XRPUSDT")].fmt_qty(6203) == "6203"
    assert INST[("spot", "BTCUSDT")].fmt_qty(49391) == "0.049391"
    assert INST[("linear", "SOLUSDT")].fmt_qty(5) == "0.5"


def test_ticks_and_lots_roundtrip_and_grid() -> None:
    btc = INST[("linear", "BTCUSDT")]
    assert btc.to_ticks("65000.10") == 650001
    assert btc.to_lots(Decimal("0.194")) == 194
    with pytest.raises(InstrumentError):
        btc.to_ticks("65000.15")
    assert btc.to_ticks("65000.15", strict=False) == 650001


def test_to_bybit_shapes() -> None:
    spot = INST[("spot", "BTCUSDT")].to_bybit()
    assert spot["lotSizeFilter"]["basePrecision"] == "0.000001"
    assert set(spot["lotSizeFilter"]) == {
        "basePrecision", "quotePrecision", "minOrderQty", "maxOrderQty", "minOrderAmt", "maxOrderAmt",
    }  # fmt: skip
    assert spot["priceFilter"] == {"tickSize": "0.01"}
    lin = INST[("linear", "BTCUSDT")].to_bybit()
    assert lin["status"] == "Trading" and lin["contractType"] == "LinearPerpetual"
    assert lin["priceFilter"] == {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"}
    assert lin["lotSizeFilter"]["qtyStep"] == "0.001"
    assert lin["lotSizeFilter"]["minNotionalValue"] == "5"
    assert lin["priceScale"] == "2" and lin["settleCoin"] == "USDT"
    inv = INST[("inverse", "BTCUSD")].to_bybit()
    assert inv["contractType"] == "InversePerpetual" and inv["settleCoin"] == "BTC"


def test_generic_and_extra_symbols() -> None:
    inst = generic_instrument("linear", "FOOUSDT")
    assert (inst.base_coin, inst.quote_coin) == ("FOO", "USDT")
    assert inst == generic_instrument("linear", "FOOUSDT")  # deterministic
    many = build_instruments([("linear", f"S{i}USDT") for i in range(120)] + [("spot", "BTCUSDT")])
    assert len(many) == len(DEFAULT_INSTRUMENTS) + 120
    assert many[("spot", "BTCUSDT")] is INST[("spot", "BTCUSDT")]
