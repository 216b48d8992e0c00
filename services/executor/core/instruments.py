"""Instrument rules (tick size, lot step, min/max quantity and notional) from ``/v5/market/instruments-info``.

Linear/inverse items carry ``lotSizeFilter.qtyStep``; spot items have none and quantities must be
multiples of ``basePrecision`` (quote amounts of ``quotePrecision``), with ``minOrderAmt`` as the
minimum notional. All values are exact :class:`~decimal.Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True, slots=True)
class Instrument:
    """The trading rules of one symbol. ``None`` means the exchange states no such limit."""

    category: str
    symbol: str
    status: str
    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal | None = None
    max_mkt_qty: Decimal | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    min_notional: Decimal | None = None
    max_notional: Decimal | None = None
    quote_step: Decimal | None = None


def _dec(obj: dict[str, Any], key: str) -> Decimal | None:
    value = obj.get(key)
    if value in (None, ""):
        return None
    try:
        out = Decimal(str(value))
    except InvalidOperation:
        return None
    return out if out.is_finite() else None


def parse_instrument(category: str, item: dict[str, Any]) -> Instrument | None:
    """One instruments-info list item → :class:`Instrument`; None if a required rule is missing."""
    symbol = item.get("symbol")
    price_f = item.get("priceFilter") or {}
    lot = item.get("lotSizeFilter") or {}
    if not isinstance(symbol, str) or not isinstance(price_f, dict) or not isinstance(lot, dict):
        return None
    tick = _dec(price_f, "tickSize")
    if category == "spot":
        step = _dec(lot, "basePrecision")
        min_qty = _dec(lot, "minOrderQty") or step
        max_qty = _dec(lot, "maxLimitOrderQty") or _dec(lot, "maxOrderQty")
        max_mkt = _dec(lot, "maxMarketOrderQty") or max_qty
        min_notional = _dec(lot, "minOrderAmt")
        max_notional = _dec(lot, "maxOrderAmt")
        quote_step = _dec(lot, "quotePrecision")
    else:
        step = _dec(lot, "qtyStep")
        min_qty = _dec(lot, "minOrderQty")
        max_qty = _dec(lot, "maxOrderQty")
        max_mkt = _dec(lot, "maxMktOrderQty") or max_qty
        min_notional = _dec(lot, "minNotionalValue")
        max_notional = None
        quote_step = None
    if tick is None or step is None or min_qty is None or tick <= 0 or step <= 0:
        return None
    return Instrument(
        category=category,
        symbol=symbol,
        status=str(item.get("status", "Trading")),
        tick_size=tick,
        qty_step=step,
        min_qty=min_qty,
        max_qty=max_qty,
        max_mkt_qty=max_mkt,
        min_price=_dec(price_f, "minPrice"),
        max_price=_dec(price_f, "maxPrice"),
        min_notional=min_notional,
        max_notional=max_notional,
        quote_step=quote_step,
    )


def parse_instruments(category: str, result: dict[str, Any]) -> tuple[list[Instrument], str]:
    """An instruments-info ``result`` → (instruments, nextPageCursor)."""
    items = result.get("list") or []
    out = [inst for item in items if isinstance(item, dict) and (inst := parse_instrument(category, item))]
    return out, str(result.get("nextPageCursor") or "")
