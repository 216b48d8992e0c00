"""Matching engine and order state machine of the simulated exchange.

Pure: the caller passes the request body, the true book (``BookLike``) and ``now_ms``; every
method returns the affected order(s) and the private pushes to deliver (``Push``). Semantics
(PROTOCOL.md §5.3, §7.5, §9):

* Market orders and marketable limit orders take liquidity with ``book.take``; derivatives market
  orders carry a protection price (best ± 5 %), spot market orders price "0". Spot market buys
  are in quote coin unless ``marketUnit=baseCoin``.
* PostOnly that would cross: accepted, then Cancelled with ``EC_PostOnlyWillTakeLiquidity``.
  FOK not fully fillable: Cancelled (``EC_CancelForNoFullFill``), nothing filled. IOC/market
  remainder: Cancelled (derivatives) / PartiallyFilledCanceled (spot, if anything filled).
* Resting limit orders fill as maker, at their own price, when the book crosses them
  (:meth:`Engine.on_book`). States go New -> PartiallyFilled -> Filled / Cancelled; an order push
  carries the state after each step, one execution push per fill, a position push after every
  derivatives order operation, a wallet push after fills (never an initial snapshot).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from services.bybit_sim.trading.core import errors as e
from services.bybit_sim.trading.core.errors import ApiError, order_not_exists, params_error
from services.bybit_sim.trading.core.ledger import Account, Ledger
from services.bybit_sim.trading.core.model import (
    ZERO,
    BookLike,
    Fill,
    InstrumentLike,
    Order,
    floor_to,
    fmt,
    render_execution,
    render_order,
)
from services.bybit_sim.trading.core.validation import (
    check_category,
    check_notional,
    check_price,
    check_qty,
    parse_create,
    parse_decimal,
)

PROTECTION = Decimal("0.05")
UNCHANGED = "The order remains unchanged as the parameters entered match the existing ones."
DEPTH_SCAN = 1000


@dataclass(frozen=True, slots=True)
class Push:
    """One private-stream message for account ``uid``: topic base and its records."""

    uid: int
    topic: str  #: "order", "execution", "position" or "wallet"
    category: str  #: "" for wallet
    data: list[dict[str, Any]]


class Engine(Ledger):
    """Order entry, matching and queries for every account."""

    def __init__(
        self,
        instruments: Mapping[tuple[str, str], InstrumentLike],
        balances: Mapping[str, Decimal],
        seed: int = 7,
    ) -> None:
        super().__init__(instruments, balances, seed)
        self._open: dict[tuple[str, str], dict[str, Order]] = {}
        self._busy = False

    # --- order entry -------------------------------------------------------------------------
    def create(
        self, uid: int, body: Mapping[str, Any], book: BookLike | None, now_ms: int
    ) -> tuple[Order, list[Push]]:
        """Accept (or refuse with ApiError) one new order and match it."""
        side = body.get("side")
        ref = None
        if book is not None:
            ref = book.best_ask() if side == "Buy" else book.best_bid()
        spec = parse_create(body, self.instruments, ref)
        acct = self.account(uid)
        if spec.order_link_id and spec.order_link_id in acct.link_ids:
            raise e.duplicate_link_id(spec.category)
        inst = self.instruments[(spec.category, spec.symbol)]
        self.check_funds(acct, inst, spec, ref, now_ms)
        order = Order(
            uid=uid,
            category=spec.category,
            symbol=spec.symbol,
            order_id=self.order_id(spec.category),
            order_link_id=spec.order_link_id,
            side=spec.side,
            order_type=spec.order_type,
            price_text=spec.price_text,
            qty_text=spec.qty_text,
            qty=spec.qty,
            price=spec.price,
            time_in_force=spec.time_in_force,
            created_ms=now_ms,
            updated_ms=now_ms,
            reduce_only=spec.reduce_only,
            close_on_trigger=spec.close_on_trigger,
            market_unit=spec.market_unit,
            last_price_on_created=_fmt_opt(self.mark(spec.category, spec.symbol)),
            seq=self.next_seq(),
        )
        if order.order_type == "Market":
            order.price_text = "0" if order.category == "spot" else self._protection(inst, order.side, ref)
        acct.orders[order.order_id] = order
        acct.live[order.order_id] = order
        if order.order_link_id:
            acct.link_ids[order.order_link_id] = order.order_id
        pushes = self._match_new(acct, inst, order, book, now_ms)
        return order, pushes

    def amend(
        self, uid: int, body: Mapping[str, Any], book: BookLike | None, now_ms: int
    ) -> tuple[Order, list[Push]]:
        """Change qty and/or price of an open order; a price that now crosses trades at once."""
        category = check_category(body.get("category"))
        acct = self.account(uid)
        order = self._find(acct, category, body)
        inst = self.instruments[(order.category, order.symbol)]
        new_qty = order.qty
        new_price = order.price
        if body.get("qty") not in (None, ""):
            new_qty = parse_decimal(body["qty"], "qty", category)
            check_qty(inst, new_qty)
        if body.get("price") not in (None, ""):
            if order.order_type != "Limit":
                raise params_error("price cannot be amended on a market order")
            new_price = parse_decimal(body["price"], "price", category)
            check_price(inst, new_price)
        if new_qty == order.qty and new_price == order.price:
            raise ApiError(e.PARAMS, UNCHANGED)
        if new_qty < order.cum_qty:
            raise params_error("qty must not be below the filled quantity")
        if new_price is not None and category != "inverse":
            check_notional(inst, new_qty * new_price)
        if new_qty != order.qty:
            order.qty = new_qty
            order.qty_text = str(body["qty"])
        if new_price != order.price:
            order.price = new_price
            order.price_text = str(body["price"])
        order.updated_ms = now_ms
        pushes: list[Push] = []
        if order.leaves == 0:
            order.status = "Filled"
        self.relock(acct, order)
        if order.is_open and book is not None and self._crosses(order, book):
            if order.time_in_force == "PostOnly":
                self._close(acct, order, "Cancelled", "EC_PostOnlyWillTakeLiquidity", now_ms)
            else:
                pushes.extend(self._fill_resting(acct, order, book, now_ms, is_maker=False))
        if not order.is_open:
            self._unlist(order)
        pushes.insert(0, self._order_push(order))
        pushes.extend(self._after_op(acct, order, any(p.topic == "execution" for p in pushes), now_ms))
        return order, pushes

    def cancel(self, uid: int, body: Mapping[str, Any], now_ms: int) -> tuple[Order, list[Push]]:
        """Cancel one open order (110001 / 170213 if unknown or finished)."""
        category = check_category(body.get("category"))
        acct = self.account(uid)
        order = self._find(acct, category, body)
        self._cancel_order(acct, order, now_ms)
        return order, [self._order_push(order), *self._after_op(acct, order, False, now_ms)]

    def cancel_all(self, uid: int, body: Mapping[str, Any], now_ms: int) -> tuple[list[Order], list[Push]]:
        """Cancel every open order matching ``symbol`` / ``baseCoin`` / ``settleCoin``."""
        category = check_category(body.get("category"))
        symbol, base, settle = body.get("symbol"), body.get("baseCoin"), body.get("settleCoin")
        if category != "spot" and not (symbol or base or settle):
            raise e.missing_scope()
        acct = self.account(uid)
        cancelled: list[Order] = []
        for order in list(acct.orders.values()):
            if not order.is_open or order.category != category:
                continue
            inst = self.instruments[(order.category, order.symbol)]
            if symbol:
                if order.symbol != symbol:
                    continue
            elif base:
                if inst.base_coin != base:
                    continue
            elif settle and inst.settle_coin != settle:
                continue
            self._cancel_order(acct, order, now_ms)
            cancelled.append(order)
        pushes = [self._order_push(o) for o in cancelled]
        if category != "spot":
            for order in {o.symbol: o for o in cancelled}.values():
                pushes.extend(self._after_op(acct, order, False, now_ms))
        return cancelled, pushes

    # --- market movements --------------------------------------------------------------------
    def has_resting(self, category: str, symbol: str) -> bool:
        """True if an open limit order rests on ``(category, symbol)``."""
        return bool(self._open.get((category, symbol)))

    def on_book(self, category: str, symbol: str, book: BookLike, now_ms: int) -> list[Push]:
        """The true book changed: refresh the mark and fill resting orders it now crosses."""
        self.books[(category, symbol)] = book
        resting = self._open.get((category, symbol))
        if not resting or self._busy:
            return []
        pushes: list[Push] = []
        self._busy = True
        try:
            for order in list(resting.values()):
                if not order.is_open or not self._crosses(order, book):
                    continue
                acct = self.account(order.uid)
                fills = self._fill_resting(acct, order, book, now_ms, is_maker=True)
                if not fills:
                    continue
                if not order.is_open:
                    self._unlist(order)
                pushes.append(self._order_push(order))
                pushes.extend(fills)
                pushes.extend(self._after_op(acct, order, True, now_ms))
        finally:
            self._busy = False
        return pushes

    # --- internals ---------------------------------------------------------------------------
    def _find(self, acct: Account, category: str, body: Mapping[str, Any]) -> Order:
        order_id, link = body.get("orderId"), body.get("orderLinkId")
        if not order_id and not link:
            raise params_error("OrderId or orderLinkId is required")
        if order_id:
            order = acct.orders.get(str(order_id))
        else:
            found = acct.link_ids.get(str(link))
            order = acct.orders.get(found) if found else None
        symbol = body.get("symbol")
        if (
            order is None
            or order.category != category
            or (symbol and order.symbol != symbol)
            or not order.is_open
        ):
            raise order_not_exists(category)
        return order

    def _protection(self, inst: InstrumentLike, side: str, ref: Decimal | None) -> str:
        if ref is None:
            return "0"
        tick = Decimal(inst.tick_size)
        if side == "Buy":
            raw = ref * (1 + PROTECTION)
            return fmt((raw / tick).to_integral_value(rounding=ROUND_DOWN) * tick)
        raw = ref * (1 - PROTECTION)
        return fmt((raw / tick).to_integral_value(rounding=ROUND_UP) * tick)

    def _crosses(self, order: Order, book: BookLike) -> bool:
        if order.price is None:
            return False
        if order.side == "Buy":
            ask = book.best_ask()
            return ask is not None and ask <= order.price
        bid = book.best_bid()
        return bid is not None and bid >= order.price

    def _fillable(self, order: Order, book: BookLike) -> Decimal:
        total = ZERO
        for price_text, size_text in book.levels("a" if order.side == "Buy" else "b", DEPTH_SCAN):
            price = Decimal(price_text)
            if order.price is not None and (
                price > order.price if order.side == "Buy" else price < order.price
            ):
                break
            total += Decimal(size_text)
        return total

    def _quote_to_base(self, order: Order, inst: InstrumentLike, book: BookLike) -> Decimal:
        step = Decimal(inst.qty_step)
        remaining = order.leaves
        base = ZERO
        for price_text, size_text in book.levels("a", DEPTH_SCAN):
            price, size = Decimal(price_text), Decimal(size_text)
            can = min(size, floor_to(remaining / price, step))
            if can <= 0:
                break
            base += can
            remaining -= can * price
        return base

    def _take(self, acct: Account, order: Order, book: BookLike | None, now_ms: int) -> list[Push]:
        if book is None:
            return []
        inst = self.instruments[(order.category, order.symbol)]
        if order.market_unit == "quoteCoin":
            qty = self._quote_to_base(order, inst, book)
            limit = None
        else:
            qty = order.leaves
            limit = order.price
            if order.order_type == "Market" and order.category != "spot" and order.price_text != "0":
                limit = Decimal(order.price_text)
        if qty <= 0:
            return []
        pushes = []
        self._busy = True
        try:
            raw = book.take(order.side, qty, limit)
        finally:
            self._busy = False
        for price, size in raw:
            fill = self.book_fill(acct, order, price, size, False, now_ms)
            pushes.append(self._exec_push(fill))
        return pushes

    def _fill_resting(
        self, acct: Account, order: Order, book: BookLike, now_ms: int, *, is_maker: bool
    ) -> list[Push]:
        assert order.price is not None
        self._busy = True
        try:
            raw = book.take(order.side, order.leaves, order.price)
        finally:
            self._busy = False
        pushes = []
        for price, size in raw:
            fill_price = order.price if is_maker else price
            pushes.append(self._exec_push(self.book_fill(acct, order, fill_price, size, is_maker, now_ms)))
        return pushes

    def _match_new(
        self, acct: Account, inst: InstrumentLike, order: Order, book: BookLike | None, now_ms: int
    ) -> list[Push]:
        execs: list[Push] = []
        tif = order.time_in_force
        if tif == "PostOnly" and book is not None and self._crosses(order, book):
            self._close(acct, order, "Cancelled", "EC_PostOnlyWillTakeLiquidity", now_ms)
        elif tif == "FOK" and (book is None or self._fillable(order, book) < order.qty):
            self._close(acct, order, "Cancelled", "EC_CancelForNoFullFill", now_ms)
        else:
            if tif != "PostOnly" and (
                order.order_type == "Market" or (book is not None and self._crosses(order, book))
            ):
                execs = self._take(acct, order, book, now_ms)
            if order.is_open and (order.order_type == "Market" or tif in ("IOC", "FOK")):
                if order.cum_qty == 0:
                    self._close(acct, order, "Cancelled", "EC_NoImmediateQtyToFill", now_ms)
                else:
                    status = "PartiallyFilledCanceled" if order.category == "spot" else "Cancelled"
                    self._close(acct, order, status, "EC_CancelForNoFullFill", now_ms)
            if order.is_open:
                self._open.setdefault((order.category, order.symbol), {})[order.order_id] = order
                self.relock(acct, order)
        pushes = [self._order_push(order), *execs]
        pushes.extend(self._after_op(acct, order, bool(execs), now_ms))
        return pushes

    def _close(self, acct: Account, order: Order, status: str, reason: str, now_ms: int) -> None:
        order.status = status
        order.reject_reason = reason
        order.updated_ms = now_ms
        self.relock(acct, order)
        self._unlist(order)

    def _cancel_order(self, acct: Account, order: Order, now_ms: int) -> None:
        status = "PartiallyFilledCanceled" if order.category == "spot" and order.cum_qty > 0 else "Cancelled"
        order.cancel_type = "CancelByUser"
        self._close(acct, order, status, "EC_NoError", now_ms)

    def _unlist(self, order: Order) -> None:
        resting = self._open.get((order.category, order.symbol))
        if resting is not None:
            resting.pop(order.order_id, None)

    def _order_push(self, order: Order) -> Push:
        return Push(order.uid, "order", order.category, [render_order(order)])

    def _exec_push(self, fill: Fill) -> Push:
        return Push(fill.order.uid, "execution", fill.order.category, [render_execution(fill)])

    def _after_op(self, acct: Account, order: Order, filled: bool, now_ms: int) -> list[Push]:
        pushes = []
        if order.category != "spot":
            inst = self.instruments[(order.category, order.symbol)]
            pos = self.position(acct, inst, now_ms)
            mark = self.mark(order.category, order.symbol)
            pushes.append(Push(acct.uid, "position", order.category, [pos.render(mark)]))
        if filled:
            pushes.append(Push(acct.uid, "wallet", "", [self.render_wallet(acct)]))
        return pushes


def _fmt_opt(value: Decimal | None) -> str:
    return "" if value is None else fmt(value)
