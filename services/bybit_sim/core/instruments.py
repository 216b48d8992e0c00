"""Instruments the simulator lists: Bybit instruments-info fields and exact price/size formatting.

Prices are held as integer *ticks* (multiples of ``tick_size``) and sizes as integer *lots*
(multiples of ``qty_step``; on spot the lot is ``basePrecision``). :meth:`Instrument.fmt_price`
and :meth:`Instrument.fmt_qty` turn them into the decimal strings Bybit sends, always with the
instrument's precision (``"65000.10"`` for linear BTCUSDT, ``"1.9531"`` for XRPUSDT).
Unknown symbols get generic parameters derived deterministically from the symbol name.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

CATEGORIES = ("spot", "linear", "inverse")
_QUOTES = ("USDT", "USDC", "USD", "BTC", "ETH", "EUR")
_CACHE_MAX = 50_000


class InstrumentError(ValueError):
    """A price or size that is not on the instrument's grid, or an unknown instrument."""


def _decimals(step: str) -> int:
    exp = Decimal(step).normalize().as_tuple().exponent
    assert isinstance(exp, int)
    return max(0, -exp)


def _fmt_units(units: int, decimals: int) -> str:
    if decimals == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    q, r = divmod(abs(units), 10**decimals)
    return f"{sign}{q}.{r:0{decimals}d}"


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable instrument, with Bybit's instruments-info fields as decimal strings."""

    category: str
    symbol: str
    base_coin: str
    quote_coin: str
    settle_coin: str
    tick_size: str
    #: Lot step; on spot this is ``basePrecision``.
    qty_step: str
    min_qty: str
    max_qty: str
    #: Linear/inverse ``minNotionalValue``; spot ``minOrderAmt``.
    min_notional: str
    price_scale: int
    max_mkt_qty: str = ""
    #: Spot only: ``quotePrecision`` and ``maxOrderAmt``.
    quote_precision: str = "0.00000001"
    max_order_amt: str = "2000000"
    #: Generator parameters: start price and a typical level size (decimal strings).
    ref_price: str = "1"
    ref_size: str = "1"
    # derived, filled in __post_init__
    tick_units: int = field(init=False, repr=False, compare=False)
    qty_decimals: int = field(init=False, repr=False, compare=False)
    ref_ticks: int = field(init=False, repr=False, compare=False)
    ref_lots: int = field(init=False, repr=False, compare=False)
    _pcache: dict[int, str] = field(init=False, repr=False, compare=False)
    _qcache: dict[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise InstrumentError(f"bad category {self.category!r}")
        tick = Decimal(self.tick_size)
        units = tick.scaleb(self.price_scale)
        if units != units.to_integral_value() or units <= 0:
            raise InstrumentError(f"{self.symbol}: tickSize {self.tick_size} finer than priceScale")
        object.__setattr__(self, "tick_units", int(units))
        object.__setattr__(self, "qty_decimals", _decimals(self.qty_step))
        object.__setattr__(self, "ref_ticks", max(10, int(Decimal(self.ref_price) / tick)))
        object.__setattr__(self, "ref_lots", max(1, int(Decimal(self.ref_size) / Decimal(self.qty_step))))
        object.__setattr__(self, "_pcache", {})
        object.__setattr__(self, "_qcache", {})

    # --- formatting -------------------------------------------------------------------------
    def fmt_price(self, ticks: int) -> str:
        """Price string of ``ticks`` with exactly ``price_scale`` decimals (memoised)."""
        cache = self._pcache
        s = cache.get(ticks)
        if s is None:
            if len(cache) > _CACHE_MAX:
                cache.clear()
            s = cache[ticks] = _fmt_units(ticks * self.tick_units, self.price_scale)
        return s

    def fmt_qty(self, lots: int) -> str:
        """Size string of ``lots`` with the lot step's decimals (memoised)."""
        cache = self._qcache
        s = cache.get(lots)
        if s is None:
            if len(cache) > _CACHE_MAX:
                cache.clear()
            s = cache[lots] = _fmt_units(lots, self.qty_decimals)
        return s

    def price_of(self, ticks: int) -> Decimal:
        return Decimal(ticks) * Decimal(self.tick_size)

    def qty_of(self, lots: int) -> Decimal:
        return Decimal(lots) * Decimal(self.qty_step)

    def to_ticks(self, price: Decimal | str, *, strict: bool = True) -> int:
        """Integer ticks of ``price``; off-grid prices raise (strict) or are floored."""
        q = Decimal(price) / Decimal(self.tick_size)
        if strict and q != q.to_integral_value():
            raise InstrumentError(f"{self.symbol}: price {price} not a multiple of {self.tick_size}")
        return int(q)

    def to_lots(self, qty: Decimal | str, *, strict: bool = True) -> int:
        """Integer lots of ``qty``; off-step sizes raise (strict) or are floored."""
        q = Decimal(qty) / Decimal(self.qty_step)
        if strict and q != q.to_integral_value():
            raise InstrumentError(f"{self.symbol}: qty {qty} not a multiple of {self.qty_step}")
        return int(q)

    # --- Bybit JSON -------------------------------------------------------------------------
    def to_bybit(self) -> dict[str, Any]:
        """The ``/v5/market/instruments-info`` list item for this instrument, in Bybit's shape."""
        if self.category == "spot":
            return {
                "symbol": self.symbol,
                "baseCoin": self.base_coin,
                "quoteCoin": self.quote_coin,
                "innovation": "0",
                "status": "Trading",
                "marginTrading": "utaOnly",
                "stTag": "0",
                "lotSizeFilter": {
                    "basePrecision": self.qty_step,
                    "quotePrecision": self.quote_precision,
                    "minOrderQty": self.min_qty,
                    "maxOrderQty": self.max_qty,
                    "minOrderAmt": self.min_notional,
                    "maxOrderAmt": self.max_order_amt,
                },
                "priceFilter": {"tickSize": self.tick_size},
                "riskParameters": {"priceLimitRatioX": "0.005", "priceLimitRatioY": "0.01"},
            }
        max_price = self.fmt_price(int(Decimal(2_000_000) / Decimal(self.tick_size)) - 2)
        return {
            "symbol": self.symbol,
            "contractType": "LinearPerpetual" if self.category == "linear" else "InversePerpetual",
            "status": "Trading",
            "baseCoin": self.base_coin,
            "quoteCoin": self.quote_coin,
            "launchTime": "1585526400000",
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(self.price_scale),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
            "priceFilter": {"minPrice": self.tick_size, "maxPrice": max_price, "tickSize": self.tick_size},
            "lotSizeFilter": {
                "maxOrderQty": self.max_qty,
                "minOrderQty": self.min_qty,
                "qtyStep": self.qty_step,
                "postOnlyMaxOrderQty": self.max_qty,
                "maxMktOrderQty": self.max_mkt_qty or self.max_qty,
                "minNotionalValue": self.min_notional,
            },
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "settleCoin": self.settle_coin,
            "copyTrading": "both",
            "upperFundingRate": "0.005",
            "lowerFundingRate": "-0.005",
            "isPreListing": False,
            "preListingInfo": None,
            "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
            "displayName": "",
        }


def _spot(symbol: str, base: str, tick: str, base_prec: str, quote_prec: str, min_qty: str,
          max_qty: str, ref: str, size: str) -> Instrument:  # fmt: skip
    return Instrument(
        "spot", symbol, base, "USDT", "USDT", tick, base_prec, min_qty, max_qty, "1", _decimals(tick),
        quote_precision=quote_prec, ref_price=ref, ref_size=size,
    )  # fmt: skip


def _perp(category: str, symbol: str, base: str, quote: str, tick: str, step: str, max_qty: str,
          max_mkt: str, scale: int, ref: str, size: str) -> Instrument:  # fmt: skip
    settle = quote if category == "linear" else base
    min_notional = "5" if category == "linear" else "1"
    return Instrument(
        category, symbol, base, quote, settle, tick, step, step, max_qty, min_notional,
        scale, max_mkt_qty=max_mkt, ref_price=ref, ref_size=size,
    )  # fmt: skip


#: Bybit's real parameters (2026) for the default set.
DEFAULT_INSTRUMENTS: tuple[Instrument, ...] = (
    _spot("BTCUSDT", "BTC", "0.01", "0.000001", "0.00000001", "0.000048", "71.73956243", "65000", "0.05"),
    _spot("ETHUSDT", "ETH", "0.01", "0.00001", "0.0000001", "0.00062", "1229.2336343", "3500", "0.8"),
    _perp("linear", "BTCUSDT", "BTC", "USDT", "0.10", "0.001", "1190.000", "119.000", 2, "65000", "0.5"),
    _perp("linear", "ETHUSDT", "ETH", "USDT", "0.01", "0.01", "7240.00", "724.00", 2, "3500", "5"),
    _perp("linear", "XRPUSDT", "XRP", "USDT", "0.0001", "1", "1945000", "389000", 4, "1.9530", "15000"),
    _perp("linear", "SOLUSDT", "SOL", "USDT", "0.010", "0.1", "79770.0", "7977.0", 3, "150", "60"),
    _perp("inverse", "BTCUSD", "BTC", "USD", "0.50", "1", "150000000", "30000000", 2, "65000", "20000"),
    _perp("inverse", "ETHUSD", "ETH", "USD", "0.05", "1", "10000000", "2000000", 2, "3500", "8000"),
)


def _split(symbol: str) -> tuple[str, str]:
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol, "USDT"


def generic_instrument(category: str, symbol: str) -> Instrument:
    """Plausible parameters for a symbol the simulator has no table entry for (deterministic)."""
    base, quote = _split(symbol)
    ref_ticks = 10_000 + zlib.crc32(symbol.encode()) % 90_000  # 1.0000 .. 9.9999
    ref = str(Decimal(ref_ticks).scaleb(-4))
    if category == "spot":
        return Instrument(
            "spot", symbol, base, quote, quote, "0.0001", "0.01", "0.01", "1000000", "1", 4,
            quote_precision="0.000001", ref_price=ref, ref_size="500",
        )  # fmt: skip
    if category == "inverse":
        return _perp("inverse", symbol, base, "USD", "0.0001", "1", "10000000", "2000000", 4, ref, "2000")
    return _perp("linear", symbol, base, quote, "0.0001", "0.1", "5000000", "1000000", 4, ref, "1500")


def build_instruments(extra: list[tuple[str, str]] | None = None) -> dict[tuple[str, str], Instrument]:
    """The default set plus ``extra`` ``(category, symbol)`` pairs (generic when unknown)."""
    out = {(i.category, i.symbol): i for i in DEFAULT_INSTRUMENTS}
    for category, symbol in extra or []:
        if (category, symbol) not in out:
            out[(category, symbol)] = generic_instrument(category, symbol)
    return out
