"""Shared builders for the trading-core unit tests: real instruments and hand-built true books."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.bybit_sim.core.book import SimBook
from services.bybit_sim.core.instruments import Instrument, build_instruments
from services.bybit_sim.trading.core.engine import Engine

UID = 1001
BALANCES = {"USDT": Decimal(100000), "BTC": Decimal(2)}


def make_book(inst: Instrument, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> SimBook:
    """A true book holding exactly the given ``(price, qty)`` levels."""
    book = SimBook(inst)
    for side, levels in (("b", bids), ("a", asks)):
        for price, qty in levels:
            book.set_level(side, inst.to_ticks(price), inst.to_lots(qty))
    return book


@pytest.fixture
def instruments() -> dict[tuple[str, str], Instrument]:
    return build_instruments()


@pytest.fixture
def engine(instruments: dict[tuple[str, str], Instrument]) -> Engine:
    return Engine(instruments, BALANCES, seed=1)


@pytest.fixture
def linear_book(instruments: dict[tuple[str, str], Instrument]) -> SimBook:
    inst = instruments[("linear", "BTCUSDT")]
    return make_book(
        inst,
        bids=[("64999.9", "0.1"), ("64999.0", "0.2")],
        asks=[("65000.0", "0.1"), ("65001.0", "0.2"), ("65010.0", "1")],
    )


@pytest.fixture
def spot_book(instruments: dict[tuple[str, str], Instrument]) -> SimBook:
    inst = instruments[("spot", "BTCUSDT")]
    return make_book(inst, bids=[("64999.99", "0.1")], asks=[("65000.00", "0.1"), ("65001.00", "0.1")])
