"""Accounts, order ids and fill accounting of the simulated exchange (used by the engine).

Pure. :class:`Ledger` owns every account (wallet, positions, orders by id and by orderLinkId),
hands out ids and sequence numbers deterministically from a seed, checks that an order can be
paid for, and books fills: fees
(PROTOCOL.md fee currencies: spot buys pay in base coin, sells in quote coin; derivatives in the
settle coin), spot balances and locks, positions and realised PnL.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services.bybit_sim.trading.core import errors as e
from services.bybit_sim.trading.core.accounts import LEVERAGE, Position, Wallet
from services.bybit_sim.trading.core.errors import ApiError
from services.bybit_sim.trading.core.model import ZERO, BookLike, Fill, InstrumentLike, Order, fmt, q8
from services.bybit_sim.trading.core.validation import OrderSpec

#: (maker, taker) fee rates per category.
FEES: dict[str, tuple[Decimal, Decimal]] = {
    "spot": (Decimal("0.001"), Decimal("0.001")),
    "linear": (Decimal("0.0002"), Decimal("0.00055")),
    "inverse": (Decimal("0.0002"), Decimal("0.00055")),
}


@dataclass(slots=True)
class Account:
    """One UID: wallet, positions, every order it ever placed."""

    uid: int
    wallet: Wallet
    orders: dict[str, Order] = field(default_factory=dict)
    #: The orders that may still be open, in creation order (finished ones are dropped lazily):
    #: margin checks walk these, not every order ever placed.
    live: dict[str, Order] = field(default_factory=dict)
    link_ids: dict[str, str] = field(default_factory=dict)
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)


class Ledger:
    """Accounts, ids and the booking of fills."""

    def __init__(
        self,
        instruments: Mapping[tuple[str, str], InstrumentLike],
        balances: Mapping[str, Decimal],
        seed: int = 7,
    ) -> None:
        self.instruments = instruments
        self.accounts: dict[int, Account] = {}
        #: The true book of each symbol, registered by the shell or seen in ``on_book``.
        self.books: dict[tuple[str, str], BookLike] = {}
        self._balances = dict(balances)
        self._rng = random.Random(seed)
        self._seq = 9_000_000_000
        self._spot_ids = 1_900_000_000_000_000_000
        self._spot_exec_ids = 2_100_000_000_000_000_000

    # --- ids ---------------------------------------------------------------------------------
    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def order_id(self, category: str) -> str:
        if category == "spot":
            self._spot_ids += 1
            return str(self._spot_ids)
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def exec_id(self, category: str) -> str:
        if category == "spot":
            self._spot_exec_ids += 1
            return str(self._spot_exec_ids)
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # --- accounts ----------------------------------------------------------------------------
    def account(self, uid: int) -> Account:
        acct = self.accounts.get(uid)
        if acct is None:
            acct = Account(uid, Wallet(balances=dict(self._balances)))
            self.accounts[uid] = acct
        return acct

    def position(self, acct: Account, inst: InstrumentLike, now_ms: int) -> Position:
        key = (inst.category, inst.symbol)
        pos = acct.positions.get(key)
        if pos is None:
            pos = Position(inst.category, inst.symbol, inst.settle_coin, created_ms=now_ms, updated_ms=now_ms)
            acct.positions[key] = pos
        return pos

    def mark(self, category: str, symbol: str) -> Decimal | None:
        """Mid price of the true book (one side's best if the other is empty), None if unknown."""
        book = self.books.get((category, symbol))
        if book is None:
            return None
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return bid if bid is not None else ask

    def usd_price(self, coin: str) -> Decimal | None:
        for category in ("spot", "linear"):
            mark = self.mark(category, f"{coin}USDT")
            if mark is not None:
                return mark
        return None

    def render_wallet(self, acct: Account) -> dict[str, Any]:
        upl: dict[str, Decimal] = {}
        im: dict[str, Decimal] = {}
        for (category, symbol), pos in acct.positions.items():
            mark = self.mark(category, symbol)
            upl[pos.settle_coin] = upl.get(pos.settle_coin, ZERO) + pos.unrealised(mark)
            im[pos.settle_coin] = im.get(pos.settle_coin, ZERO) + pos.value() / LEVERAGE
        return acct.wallet.render(self.usd_price, upl, im)

    def free_margin(self, acct: Account, settle_coin: str) -> Decimal:
        """Settle-coin balance minus position and open-order initial margin (leverage 10)."""
        used = ZERO
        for pos in acct.positions.values():
            if pos.settle_coin == settle_coin:
                used += pos.value() / LEVERAGE
        live = acct.live
        for order in list(live.values()):
            if not order.is_open:  # finished orders never reopen
                del live[order.order_id]
                continue
            if order.category != "spot" and order.price is not None:
                inst = self.instruments.get((order.category, order.symbol))
                if inst is not None and inst.settle_coin == settle_coin:
                    used += order_value(order.category, order.leaves, order.price) / LEVERAGE
        return acct.wallet.balances.get(settle_coin, ZERO) - used

    def check_funds(
        self, acct: Account, inst: InstrumentLike, spec: OrderSpec, ref: Decimal | None, now_ms: int
    ) -> None:
        """Refuse an order the account cannot pay for: spot 170131 (available balance, net of
        locks), derivatives 110007 (initial margin at 10x above free margin), reduce-only 110017."""
        wallet = acct.wallet
        if spec.category == "spot":
            if spec.side == "Buy":
                if spec.market_unit == "quoteCoin":
                    need = spec.qty
                else:
                    price = spec.price if spec.price is not None else ref
                    need = spec.qty * price if price is not None else ZERO
                enough = wallet.available(inst.quote_coin) >= need
            else:
                enough = wallet.available(inst.base_coin) >= spec.qty
            if not enough:
                raise ApiError(e.SPOT_INSUFFICIENT, "Insufficient balance.")
            return
        pos = self.position(acct, inst, now_ms)
        if spec.reduce_only:
            if pos.size == 0:
                raise ApiError(e.REDUCE_ONLY, "current position is zero, cannot fix reduce-only order qty")
            if (pos.size > 0) == (spec.side == "Buy"):
                raise ApiError(e.REDUCE_ONLY, "reduce-only order has same side with current position")
            return
        opening = (pos.size >= 0) == (spec.side == "Buy") or pos.size == 0
        price = spec.price if spec.price is not None else ref
        if opening and price is not None:
            need = order_value(spec.category, spec.qty, price) / LEVERAGE
            if need > self.free_margin(acct, inst.settle_coin):
                raise ApiError(e.INSUFFICIENT_AB, "ab not enough for new order")

    # --- spot locks --------------------------------------------------------------------------
    def relock(self, acct: Account, order: Order) -> None:
        """Make the order's spot lock match its open part (0 once closed)."""
        if order.category != "spot":
            return
        inst = self.instruments[(order.category, order.symbol)]
        if not order.is_open or order.price is None:
            want = ZERO
        elif order.side == "Buy":
            want = order.leaves * order.price
        else:
            want = order.leaves
        coin = inst.quote_coin if order.side == "Buy" else inst.base_coin
        acct.wallet.lock(coin, want - order.locked)
        order.locked = want

    # --- fills -------------------------------------------------------------------------------
    def book_fill(
        self, acct: Account, order: Order, price: Decimal, qty: Decimal, is_maker: bool, now_ms: int
    ) -> Fill:
        """Book one execution of ``qty`` at ``price``: order totals, wallet, position."""
        inst = self.instruments[(order.category, order.symbol)]
        maker_rate, taker_rate = FEES.get(order.category, FEES["linear"])
        rate = maker_rate if is_maker else taker_rate
        value = order_value(order.category, qty, price)
        wallet = acct.wallet
        closed = pnl = ZERO
        if order.category == "spot":
            if order.side == "Buy":
                fee, fee_coin = qty * rate, inst.base_coin
                wallet.add(inst.quote_coin, -value)
                wallet.add(inst.base_coin, qty - fee)
            else:
                fee, fee_coin = value * rate, inst.quote_coin
                wallet.add(inst.base_coin, -qty)
                wallet.add(inst.quote_coin, value - fee)
        else:
            fee, fee_coin = value * rate, inst.settle_coin
            pos = self.position(acct, inst, now_ms)
            closed, pnl = pos.apply_fill(order.side, qty, price)
            pos.updated_ms = now_ms
            pos.seq = self.next_seq()
            wallet.add(fee_coin, pnl - fee)
            wallet.realised[fee_coin] = wallet.realised.get(fee_coin, ZERO) + pnl - fee
        order.cum_qty += qty
        order.cum_value += value
        order.cum_fee += fee
        order.fee_coin = fee_coin
        order.fee_detail[fee_coin] = order.fee_detail.get(fee_coin, ZERO) + fee
        order.updated_ms = now_ms
        order.status = "Filled" if order.leaves == 0 else "PartiallyFilled"
        self.relock(acct, order)
        mark = self.mark(order.category, order.symbol)
        return Fill(
            order=order,
            exec_id=self.exec_id(order.category),
            price=price,
            qty=qty,
            value=value,
            fee=fee,
            fee_rate=rate,
            fee_coin=fee_coin,
            is_maker=is_maker,
            closed_size=closed,
            exec_pnl=pnl,
            time_ms=now_ms,
            seq=self.next_seq(),
            leaves_after=order.leaves,
            mark_price=fmt(mark) if mark is not None else "",
        )


def order_value(category: str, qty: Decimal, price: Decimal) -> Decimal:
    """Value of ``qty`` at ``price``: quote coin (spot, linear) or coin (inverse: qty / price)."""
    if category == "inverse":
        return q8(qty / price)
    return qty * price
