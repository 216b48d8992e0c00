"""Orders and executions of the simulated exchange, and their Bybit v5 JSON shapes.

Pure: plain dataclasses and renderers. ``render_order`` gives the record used by the private
``order`` topic and by ``GET /v5/order/realtime`` (same fields, PROTOCOL.md §5.3/§7.5);
``render_execution`` the ``execution`` topic record (§5.4). Decimal values are rendered as plain
decimal strings (never floats, never exponents); the ``price``/``qty`` the client sent are echoed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol

ZERO = Decimal(0)
EIGHT_DP = Decimal("0.00000001")

OPEN_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered"})


class InstrumentLike(Protocol):
    """What the core needs of an instrument (``services.bybit_sim.core.instruments.Instrument``)."""

    @property
    def category(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def base_coin(self) -> str: ...
    @property
    def quote_coin(self) -> str: ...
    @property
    def settle_coin(self) -> str: ...
    @property
    def tick_size(self) -> str: ...
    @property
    def qty_step(self) -> str: ...
    @property
    def min_qty(self) -> str: ...
    @property
    def max_qty(self) -> str: ...
    @property
    def min_notional(self) -> str: ...


class BookLike(Protocol):
    """What the matching engine needs of the simulator's true book (``SimBook``)."""

    def best_bid(self) -> Decimal | None: ...
    def best_ask(self) -> Decimal | None: ...
    def levels(self, side: str, n: int) -> list[tuple[str, str]]: ...
    def take(self, taker_side: str, qty: Decimal, limit: Decimal | None) -> list[tuple[Decimal, Decimal]]: ...


def fmt(value: Decimal) -> str:
    """Plain decimal string without exponent or trailing zeros (``Decimal('1E+2')`` -> ``"100"``)."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def q8(value: Decimal) -> Decimal:
    """Round a derived value (average, fee, PnL) to 8 decimals, banker's rounding."""
    return value.quantize(EIGHT_DP, rounding=ROUND_HALF_EVEN)


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of ``step`` not above ``value``."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


@dataclass(slots=True)
class Order:
    """One order held by the exchange, open or closed."""

    uid: int
    category: str
    symbol: str
    order_id: str
    order_link_id: str
    side: str
    order_type: str
    price_text: str  #: echoed ``price`` ("0" on spot market orders, protection price on derivatives)
    qty_text: str
    qty: Decimal  #: in base coin / contracts, or quote coin when ``market_unit == "quoteCoin"``
    price: Decimal | None
    time_in_force: str
    created_ms: int
    position_idx: int = 0
    reduce_only: bool = False
    close_on_trigger: bool = False
    market_unit: str = ""
    status: str = "New"
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    cum_qty: Decimal = ZERO
    cum_value: Decimal = ZERO
    cum_fee: Decimal = ZERO
    fee_coin: str = ""
    updated_ms: int = 0
    last_price_on_created: str = ""
    locked: Decimal = ZERO  #: spot: funds reserved for the open part
    seq: int = 0  #: creation sequence, for newest-first sorting
    fee_detail: dict[str, Decimal] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def leaves(self) -> Decimal:
        """Open quantity (in the unit of ``qty``)."""
        if not self.is_open:
            return ZERO
        done = self.cum_value if self.market_unit == "quoteCoin" else self.cum_qty
        return max(ZERO, self.qty - done)


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution against an order."""

    order: Order
    exec_id: str
    price: Decimal
    qty: Decimal
    value: Decimal
    fee: Decimal
    fee_rate: Decimal
    fee_coin: str
    is_maker: bool
    closed_size: Decimal
    exec_pnl: Decimal
    time_ms: int
    seq: int
    leaves_after: Decimal
    mark_price: str


def _avg_price(order: Order) -> str:
    if order.cum_qty == 0:
        return "" if order.category != "spot" else "0"
    if order.category == "inverse":  # value is in coin: avg = contracts / value
        return fmt(q8(order.cum_qty / order.cum_value))
    return fmt(q8(order.cum_value / order.cum_qty))


def render_order(order: Order) -> dict[str, Any]:
    """The v5 order record (``order`` topic / ``/v5/order/realtime`` item)."""
    leaves = order.leaves
    if order.market_unit == "quoteCoin":  # leaves are quote coin: Bybit shows them as leavesValue
        leaves_value, leaves = (order.qty - order.cum_value, ZERO) if order.cum_qty else (ZERO, ZERO)
    elif order.order_type == "Limit" and order.price is not None:
        leaves_value = (
            leaves * order.price
            if order.category != "inverse"
            else (leaves / order.price if order.price else ZERO)
        )
    else:
        leaves_value = ZERO
    record: dict[str, Any] = {
        "category": order.category,
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderLinkId": order.order_link_id,
        "blockTradeId": "",
        "side": order.side,
        "positionIdx": order.position_idx,
        "orderStatus": order.status,
        "cancelType": order.cancel_type,
        "rejectReason": order.reject_reason,
        "timeInForce": order.time_in_force,
        "isLeverage": "0" if order.category == "spot" else "",
        "price": order.price_text,
        "qty": order.qty_text,
        "avgPrice": _avg_price(order),
        "leavesQty": fmt(leaves),
        "leavesValue": fmt(q8(leaves_value)),
        "cumExecQty": fmt(order.cum_qty),
        "cumExecValue": fmt(order.cum_value),
        "cumExecFee": fmt(order.cum_fee),
        "orderType": order.order_type,
        "stopOrderType": "",
        "orderIv": "",
        "triggerPrice": "",
        "takeProfit": "",
        "stopLoss": "",
        "triggerBy": "",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "placeType": "",
        "lastPriceOnCreated": order.last_price_on_created,
        "closeOnTrigger": order.close_on_trigger,
        "reduceOnly": order.reduce_only,
        "smpGroup": 0,
        "smpType": "None",
        "smpOrderId": "",
        "slLimitPrice": "0",
        "tpLimitPrice": "0",
        "tpslMode": "UNKNOWN",
        "createType": "CreateByUser",
        "marketUnit": order.market_unit,
        "createdTime": str(order.created_ms),
        "updatedTime": str(order.updated_ms or order.created_ms),
        "feeCurrency": order.fee_coin if order.category == "spot" else "",
        "closedPnl": "0",
        "cumFeeDetail": {coin: fmt(fee) for coin, fee in order.fee_detail.items()},
    }
    return record


def render_execution(fill: Fill) -> dict[str, Any]:
    """The v5 ``execution`` topic record for one fill."""
    order = fill.order
    spot = order.category == "spot"
    return {
        "category": order.category,
        "symbol": order.symbol,
        "closedSize": "" if spot else fmt(fill.closed_size),
        "execFee": fmt(fill.fee),
        "execId": fill.exec_id,
        "execPrice": format(fill.price, "f"),
        "execQty": fmt(fill.qty),
        "execType": "Trade",
        "execValue": fmt(fill.value),
        "feeRate": fmt(fill.fee_rate),
        "feeCurrency": fill.fee_coin,
        "tradeIv": "",
        "markIv": "",
        "blockTradeId": "",
        "markPrice": "" if spot else fill.mark_price,
        "indexPrice": "",
        "underlyingPrice": "",
        "leavesQty": "0" if order.market_unit == "quoteCoin" else fmt(fill.leaves_after),
        "orderId": order.order_id,
        "orderLinkId": order.order_link_id,
        "orderPrice": order.price_text,
        "orderQty": order.qty_text,
        "orderType": order.order_type,
        "stopOrderType": "" if spot else "UNKNOWN",
        "side": order.side,
        "execTime": str(fill.time_ms),
        "isLeverage": "0",
        "isMaker": fill.is_maker,
        "seq": fill.seq,
        "marketUnit": order.market_unit,
        "createType": "CreateByUser",
        "execPnl": "" if spot else fmt(fill.exec_pnl),
    }
