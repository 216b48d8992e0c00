"""The live-order book of the executor and what the private stream tells about it.

:class:`OrderTracker` holds the orders that are not final (``orders``), the resting quantity per
``(category, symbol, side)`` and the positions (for risk checks), and applies private-stream
records (``order``, ``execution``, ``position``, ``wallet``): each is journaled, then reported
(reports are held until the journal transaction commits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.executor.adapters.journal import Journal
from services.executor.adapters.reports import ReportPublisher
from services.executor.core import lifecycle
from services.executor.core.intents import CreateIntent
from services.executor.core.risk import Exposure
from services.executor.core.stream import Record, as_strings, signed_position


@dataclass(slots=True)
class LiveOrder:
    """An order that is not final, as the engine knows it."""

    link: str
    intent_id: int | None
    category: str
    symbol: str
    side: str
    base_qty: Decimal
    status: str
    order_id: str = ""
    cum_exec_qty: str = "0"
    intent: CreateIntent | None = None
    resends: int = 0


class OrderTracker:
    """Live orders, resting quantities and positions; the private-stream record handlers."""

    def __init__(self, journal: Journal, reports: ReportPublisher) -> None:
        self.journal = journal
        self.reports = reports
        self.orders: dict[str, LiveOrder] = {}
        self.positions: dict[tuple[str, str], Decimal] = {}
        self.unknown: set[str] = set()
        self.resting: dict[tuple[str, str, str], Decimal] = {}

    def exposure(self, category: str, symbol: str) -> Exposure:
        zero = Decimal(0)
        return Exposure(
            self.positions.get((category, symbol), zero),
            self.resting.get((category, symbol, "Buy"), zero),
            self.resting.get((category, symbol, "Sell"), zero),
        )

    # --- the set of live orders and the resting quantity per (category, symbol, side) ----------
    def track(self, order: LiveOrder) -> None:
        self.untrack(order.link)
        self.orders[order.link] = order
        self._adjust(order, order.base_qty)

    def untrack(self, link: str) -> None:
        order = self.orders.pop(link, None)
        if order is not None:
            self._adjust(order, -order.base_qty)

    def set_base(self, order: LiveOrder, qty: Decimal) -> None:
        if self.orders.get(order.link) is order:
            self._adjust(order, qty - order.base_qty)
        order.base_qty = qty

    def _adjust(self, order: LiveOrder, delta: Decimal) -> None:
        key = (order.category, order.symbol, order.side)
        self.resting[key] = self.resting.get(key, Decimal(0)) + delta

    def open_count(self) -> int:
        return len(self.orders)

    # --- private stream ------------------------------------------------------------------------
    def on_records(self, records: Sequence[Record]) -> None:
        with self.reports.hold(), self.journal.tx():  # commit, then publish
            for rec in records:
                if rec.kind == "order":
                    self.on_order_record(rec.fields)
                elif rec.kind == "execution":
                    self._on_execution(rec.fields)
                elif rec.kind == "position":
                    self._on_position(rec.fields)
                elif rec.kind == "wallet":
                    self._on_wallet(rec.fields)

    def on_order_record(self, f: dict[str, Any]) -> None:
        link = str(f.get("orderLinkId") or "")
        category, symbol = str(f.get("category", "")), str(f.get("symbol", ""))
        status = lifecycle.map_status(str(f.get("orderStatus", "")))
        cum = str(f.get("cumExecQty", "") or "0")
        order_id = str(f.get("orderId", ""))
        if not link:
            self.reports.report(status, "stream", category, symbol, order_id=order_id, data=as_strings(f))
            return
        order = self.orders.get(link)
        if order is None:
            row = self.journal.get_order(link)
            if row is not None and lifecycle.is_final(row.status):
                return  # late push for a finished order
            if row is None:
                self.journal.add_order(
                    link,
                    None,
                    category,
                    symbol,
                    str(f.get("side", "")),
                    str(f.get("qty", "")),
                    str(f.get("price", "")),
                    status,
                    order_id,
                )
            order = LiveOrder(
                link,
                None,
                category,
                symbol,
                str(f.get("side", "")),
                _dec(f.get("leavesQty")) or _dec(f.get("qty")) or Decimal(0),
                "accepted",
                order_id,
            )
            if not lifecycle.is_final(status):
                self.track(order)
        if not lifecycle.should_apply(order.status, status):
            return
        if status == order.status and cum == order.cum_exec_qty:
            return
        self.journal.update_order(
            link,
            status,
            order_id=order_id,
            cum_exec_qty=cum,
            leaves_qty=str(f.get("leavesQty", "")),
            avg_price=str(f.get("avgPrice", "")),
            reason=str(f.get("rejectReason", "")) if status == "rejected" else "",
        )
        order.status, order.cum_exec_qty = status, cum
        if order_id:
            order.order_id = order_id
        leaves = _dec(f.get("leavesQty"))
        if leaves is not None:
            self.set_base(order, leaves)
        if lifecycle.is_final(status):
            self.untrack(link)
            self.unknown.discard(link)
        reject = str(f.get("rejectReason", ""))
        code = reject if status in ("rejected", "cancelled") and reject != "EC_NoError" else ""
        self.reports.report(
            status,
            "create",
            category,
            symbol,
            link=link,
            order_id=order.order_id,
            code=code,
            data=as_strings(f),
        )

    def _on_execution(self, f: dict[str, Any]) -> None:
        category, symbol = str(f.get("category", "")), str(f.get("symbol", ""))
        link = str(f.get("orderLinkId") or "")
        self.journal.event(
            link,
            None,
            "execution",
            "",
            "",
            f"{f.get('execId', '')} {f.get('execQty', '')}@{f.get('execPrice', '')}",
        )
        if category == "spot":
            qty = _dec(f.get("execQty")) or Decimal(0)
            key = (category, symbol)
            self.positions[key] = self.positions.get(key, Decimal(0)) + (
                qty if f.get("side") == "Buy" else -qty
            )
        self.reports.report(
            "execution",
            "create",
            category,
            symbol,
            link=link,
            order_id=str(f.get("orderId", "")),
            data=as_strings(f),
        )

    def _on_position(self, f: dict[str, Any]) -> None:
        category, symbol = str(f.get("category", "")), str(f.get("symbol", ""))
        size = signed_position(f)
        if size is not None and (d := _dec(size, allow_negative=True)) is not None:
            self.positions[(category, symbol)] = d
        self.journal.event("", None, "position", "", "", f"{category}:{symbol} {size}")
        self.reports.report("position", "stream", category, symbol, data=as_strings(f))

    def _on_wallet(self, f: dict[str, Any]) -> None:
        coins = f.get("coin") or []
        top = {k: v for k, v in f.items() if k != "coin"}
        self.journal.event("", None, "wallet", "", "", str(top.get("totalEquity", "")))
        for coin in coins if isinstance(coins, list) else []:
            if isinstance(coin, dict):
                data = as_strings({**top, **coin})
                self.reports.report("wallet", "stream", "wallet", str(coin.get("coin", "")), data=data)


def _dec(value: object, *, allow_negative: bool = False) -> Decimal | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        d = Decimal(value)
    except ArithmeticError:
        return None
    if not d.is_finite() or (d < 0 and not allow_negative):
        return None
    return d
