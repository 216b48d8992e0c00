"""Validation of order requests against the instruments, with Bybit's retCodes.

Pure. :func:`parse_create` turns one ``/v5/order/create`` body (or batch item) into an
:class:`OrderSpec` or raises :class:`ApiError`: 10001 for bad parameters (derivatives' tick/lot
violations too), and the spot 170xxx codes (170121 symbol, 170134 price decimals, 170137 qty
decimals, 170135/170136 qty above/below limits, 170140 value below ``minOrderAmt``); derivatives'
notional below ``minNotionalValue`` is 110094 (PROTOCOL.md §7.4, §7.7).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from services.bybit_sim.trading.core import errors as e
from services.bybit_sim.trading.core.errors import ApiError, params_error
from services.bybit_sim.trading.core.model import InstrumentLike

CATEGORIES = ("spot", "linear", "inverse")
SIDES = ("Buy", "Sell")
ORDER_TYPES = ("Market", "Limit")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "PostOnly")
LINK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
#: Largest quote amount precision accepted for spot market buys in quote coin.
QUOTE_STEP = Decimal("0.00000001")
MAX_EXPONENT = 12


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """A validated new order."""

    category: str
    symbol: str
    side: str
    order_type: str
    qty: Decimal
    qty_text: str
    price: Decimal | None
    price_text: str
    time_in_force: str
    order_link_id: str
    position_idx: int
    reduce_only: bool
    close_on_trigger: bool
    market_unit: str  #: spot market orders: "baseCoin" or "quoteCoin"; "" otherwise


def check_category(value: Any) -> str:
    """Return a supported category or raise 10001."""
    if value not in CATEGORIES:
        raise ApiError(e.PARAMS, "Illegal category")
    return str(value)


def parse_decimal(value: Any, name: str, category: str) -> Decimal:
    """Parse a positive decimal string (numbers are accepted too, as Bybit does)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad_value(category, name)
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _bad_value(category, name) from None
    # bounded magnitude keeps grid checks (Decimal %) within the 28-digit context
    if (
        not number.is_finite()
        or number <= 0
        or number.adjusted() > MAX_EXPONENT
        or number.adjusted() < -MAX_EXPONENT
    ):
        raise _bad_value(category, name)
    return number


def _bad_value(category: str, name: str) -> ApiError:
    if category == "spot":
        return ApiError(e.SPOT_BAD_VALUE, f"Order {name} is invalid.")
    return params_error(f"{name} invalid")


def _on_grid(value: Decimal, step: Decimal) -> bool:
    return step > 0 and value % step == 0


def lookup(
    instruments: Mapping[tuple[str, str], InstrumentLike], category: str, symbol: Any
) -> InstrumentLike:
    """The instrument or 170121 (spot) / 10001 (derivatives)."""
    if not isinstance(symbol, str) or not symbol:
        raise (
            params_error("symbol invalid")
            if category != "spot"
            else ApiError(e.SPOT_INVALID_SYMBOL, "Invalid symbol.")
        )
    inst = instruments.get((category, symbol))
    if inst is None:
        if category == "spot":
            raise ApiError(e.SPOT_INVALID_SYMBOL, "Invalid symbol.")
        raise params_error(f"symbol invalid: {symbol}")
    return inst


def check_price(inst: InstrumentLike, price: Decimal) -> None:
    """Price on the tick grid (170134 spot / 10001 derivatives)."""
    if not _on_grid(price, Decimal(inst.tick_size)):
        if inst.category == "spot":
            raise ApiError(e.SPOT_PRICE_DECIMALS, "Order price decimal too long.")
        raise params_error(f"price must be a multiple of tickSize {inst.tick_size}")


def check_qty(inst: InstrumentLike, qty: Decimal) -> None:
    """Quantity on the lot grid and within [min_qty, max_qty]."""
    spot = inst.category == "spot"
    if not _on_grid(qty, Decimal(inst.qty_step)):
        if spot:
            raise ApiError(e.SPOT_QTY_DECIMALS, "Order quantity has too many decimals.")
        raise params_error(f"qty must be a multiple of qtyStep {inst.qty_step}")
    if qty < Decimal(inst.min_qty):
        if spot:
            raise ApiError(e.SPOT_QTY_TOO_SMALL, "Order quantity exceeded lower limit.")
        raise ApiError(e.PARAMS, "The number of contracts below min limit allowed")
    if inst.max_qty and qty > Decimal(inst.max_qty):
        if spot:
            raise ApiError(e.SPOT_QTY_TOO_LARGE, "Order quantity exceeded upper limit.")
        raise ApiError(e.PARAMS, "The number of contracts exceeds maximum limit allowed: too large")


def check_notional(inst: InstrumentLike, notional: Decimal) -> None:
    """Order value at least ``min_notional`` (170140 spot / 110094 derivatives)."""
    if not inst.min_notional:
        return
    minimum = Decimal(inst.min_notional)
    if notional < minimum:
        if inst.category == "spot":
            raise ApiError(e.SPOT_VALUE_TOO_SMALL, "Order value exceeded lower limit.")
        raise ApiError(
            e.MIN_NOTIONAL, f"Order does not meet minimum order value {inst.min_notional}{inst.quote_coin}"
        )


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise params_error(f"{name} invalid")


def parse_create(
    body: Mapping[str, Any],
    instruments: Mapping[tuple[str, str], InstrumentLike],
    ref_price: Decimal | None,
) -> OrderSpec:
    """Validate one new order.

    Args:
        body: the request JSON object (batch items carry the batch's ``category``).
        instruments: instruments by ``(category, symbol)``.
        ref_price: the side's best price, used for the notional check of market orders.

    Raises:
        ApiError: with the retCode Bybit uses for the first problem found.
    """
    category = check_category(body.get("category"))
    inst = lookup(instruments, category, body.get("symbol"))
    side = body.get("side")
    if side not in SIDES:
        raise params_error("side invalid")
    order_type = body.get("orderType")
    if order_type not in ORDER_TYPES:
        raise params_error("orderType invalid")
    tif = body.get("timeInForce") or "GTC"
    if tif not in TIME_IN_FORCE:
        raise params_error("timeInForce invalid")
    if order_type == "Market":
        tif = "IOC"
    link = body.get("orderLinkId") or ""
    if not isinstance(link, str) or (link and not LINK_ID_RE.match(link)):
        raise params_error("orderLinkId invalid")
    position_idx = body.get("positionIdx", 0)
    if category != "spot" and position_idx not in (0, "0"):
        raise params_error("position idx not match position mode")
    reduce_only = _flag(body, "reduceOnly")
    close_on_trigger = _flag(body, "closeOnTrigger")
    if "qty" not in body:
        raise params_error("qty is required")
    qty_raw = body["qty"]
    qty = parse_decimal(qty_raw, "qty", category)
    price: Decimal | None = None
    price_text = ""
    if order_type == "Limit":
        if body.get("price") in (None, ""):
            raise params_error("price is required for a limit order")
        price = parse_decimal(body["price"], "price", category)
        check_price(inst, price)
        price_text = str(body["price"])
    market_unit = ""
    if category == "spot" and order_type == "Market":
        unit = body.get("marketUnit") or ("quoteCoin" if side == "Buy" else "baseCoin")
        if unit not in ("baseCoin", "quoteCoin"):
            raise params_error("marketUnit invalid")
        market_unit = str(unit)
    if market_unit == "quoteCoin":
        if not _on_grid(qty, QUOTE_STEP):
            raise ApiError(e.SPOT_QTY_DECIMALS, "Order quantity has too many decimals.")
        check_notional(inst, qty)
    else:
        check_qty(inst, qty)
        notional_price = price if price is not None else ref_price
        if notional_price is not None and category != "inverse":
            check_notional(inst, qty * notional_price)
    return OrderSpec(
        category=category,
        symbol=inst.symbol,
        side=str(side),
        order_type=str(order_type),
        qty=qty,
        qty_text=str(qty_raw),
        price=price,
        price_text=price_text,
        time_in_force=str(tif),
        order_link_id=link,
        position_idx=0,
        reduce_only=reduce_only,
        close_on_trigger=close_on_trigger,
        market_unit=market_unit,
    )
