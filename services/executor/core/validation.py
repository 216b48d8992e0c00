"""Exchange-rule validation of an intent before anything leaves: symbol, tick, lot, min/max, notional.

Raises :class:`Refusal` (a stable ``code`` plus a readable reason). Exact decimal arithmetic only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation

from msgspec import UNSET

from services.common.errors import TickwireError
from services.executor.core.instruments import Instrument
from services.executor.core.intents import AmendIntent, CreateIntent


class Refusal(TickwireError):
    """The executor refuses an intent; ``code`` is one of the codes listed in docs/orders.md."""


@dataclass(frozen=True, slots=True)
class Checked:
    """A create intent's exact numbers after validation.

    ``base_qty`` is the quantity in base coin/contracts (``None`` for a spot market Buy in quote
    units without a reference price); ``notional`` is in quote coin (USD contracts for inverse),
    ``None`` when it cannot be known (market order, no reference price).
    """

    qty: Decimal
    price: Decimal | None
    base_qty: Decimal | None
    notional: Decimal | None


#: Enough digits for ``value % step`` with any intent value (<= 40 digits) and any sane step: the
#: default context (28 digits) raises InvalidOperation once ``value / step`` exceeds 10**28
#: (e.g. a 20-digit price on a 1e-10 tick).
_EXACT = Context(prec=200)


def _multiple(value: Decimal, step: Decimal) -> bool:
    try:
        return _EXACT.remainder(value, step) == 0
    except InvalidOperation:  # quotient beyond 200 digits: certainly not a sane multiple
        return False


def check_price(inst: Instrument, price: Decimal) -> None:
    if price <= 0:
        raise Refusal(f"price {price} must be positive", code="bad_price")
    if not _multiple(price, inst.tick_size):
        raise Refusal(f"price {price} is not a multiple of tickSize {inst.tick_size}", code="bad_tick")
    if inst.min_price is not None and price < inst.min_price:
        raise Refusal(f"price {price} below minPrice {inst.min_price}", code="price_out_of_range")
    if inst.max_price is not None and price > inst.max_price:
        raise Refusal(f"price {price} above maxPrice {inst.max_price}", code="price_out_of_range")


def _quote_units(intent: CreateIntent) -> bool:
    """Spot market Buy quantities are quote-coin amounts unless ``marketUnit`` says otherwise."""
    if intent.category != "spot" or intent.orderType != "Market":
        return False
    if intent.marketUnit is UNSET:
        return intent.side == "Buy"
    return intent.marketUnit == "quoteCoin"


def check_instrument(inst: Instrument | None, category: str, symbol: str) -> Instrument:
    if inst is None:
        raise Refusal(f"unknown symbol {category}:{symbol}", code="unknown_symbol")
    if inst.status != "Trading":
        raise Refusal(f"{category}:{symbol} is {inst.status}, not Trading", code="symbol_not_trading")
    return inst


def validate_create(intent: CreateIntent, inst: Instrument | None, ref_price: Decimal | None) -> Checked:
    """Check a create intent against its instrument; ``ref_price`` (book mid) prices market orders."""
    inst = check_instrument(inst, intent.category, intent.symbol)
    qty = Decimal(intent.qty)
    price = None if intent.orderType == "Market" or intent.price is UNSET else Decimal(intent.price)
    if price is not None:
        check_price(inst, price)
    if qty <= 0:
        raise Refusal(f"qty {qty} must be positive", code="bad_qty")
    if _quote_units(intent):
        step = inst.quote_step or inst.tick_size
        if not _multiple(qty, step):
            raise Refusal(f"quote qty {qty} is not a multiple of quotePrecision {step}", code="bad_lot")
        _check_notional(inst, qty)
        base = qty / ref_price if ref_price else None
        return Checked(qty, None, base, qty)
    if not _multiple(qty, inst.qty_step):
        name = "basePrecision" if inst.category == "spot" else "qtyStep"
        raise Refusal(f"qty {qty} is not a multiple of {name} {inst.qty_step}", code="bad_lot")
    if qty < inst.min_qty:
        raise Refusal(f"qty {qty} below minOrderQty {inst.min_qty}", code="qty_below_min")
    max_qty = inst.max_mkt_qty if intent.orderType == "Market" else inst.max_qty
    if max_qty is not None and qty > max_qty:
        raise Refusal(f"qty {qty} above max {intent.orderType} qty {max_qty}", code="qty_above_max")
    px = price if price is not None else ref_price
    if intent.category == "inverse":
        notional: Decimal | None = qty  # contracts are USD
    else:
        notional = qty * px if px is not None else None
    if notional is not None and intent.category != "inverse":
        _check_notional(inst, notional)
    return Checked(qty, price, qty, notional)


def _check_notional(inst: Instrument, notional: Decimal) -> None:
    if inst.min_notional is not None and notional < inst.min_notional:
        raise Refusal(f"notional {notional} below minimum {inst.min_notional}", code="notional_below_min")
    if inst.max_notional is not None and notional > inst.max_notional:
        raise Refusal(f"notional {notional} above maximum {inst.max_notional}", code="notional_above_max")


def validate_amend(intent: AmendIntent, inst: Instrument | None) -> None:
    """Check the new price/qty of an amend against the instrument's grid and limits."""
    inst = check_instrument(inst, intent.category, intent.symbol)
    if intent.price is not UNSET:
        check_price(inst, Decimal(intent.price))
    if intent.qty is not UNSET:
        qty = Decimal(intent.qty)
        if qty <= 0 or not _multiple(qty, inst.qty_step):
            raise Refusal(f"qty {qty} is not a positive multiple of {inst.qty_step}", code="bad_lot")
        if qty < inst.min_qty:
            raise Refusal(f"qty {qty} below minOrderQty {inst.min_qty}", code="qty_below_min")
        if inst.max_qty is not None and qty > inst.max_qty:
            raise Refusal(f"qty {qty} above maxOrderQty {inst.max_qty}", code="qty_above_max")
