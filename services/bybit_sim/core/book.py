"""The simulator's true order book for one symbol: integer ticks and lots, sorted per side.

Each side keeps *rank keys* sorted ascending so that index 0 is the best level: a bid at tick
``t`` has key ``-t``, an ask has key ``t``. Every change marks the key dirty in each registered
:class:`Tracker`, which the public streams use to derive their deltas. :meth:`SimBook.take`
lets a taker order consume resting liquidity (used by the generator and the trading side); the
fills are queued as public trades and the change is announced to the market's listeners.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from services.bybit_sim.core.instruments import Instrument


@dataclass(slots=True)
class Tracker:
    """Keys changed since the consumer last looked, per side (``b``, ``a``)."""

    b: set[int] = field(default_factory=set)
    a: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Side:
    """One side of the book: sorted rank keys (best first) and lots per key."""

    sign: int  # -1 for bids (key = -tick), +1 for asks (key = tick)
    keys: list[int] = field(default_factory=list)
    sizes: dict[int, int] = field(default_factory=dict)

    def set(self, key: int, lots: int) -> None:
        if lots > 0:
            if key not in self.sizes:
                insort(self.keys, key)
            self.sizes[key] = lots
        elif key in self.sizes:
            del self.sizes[key]
            i = bisect_left(self.keys, key)
            del self.keys[i]

    def slice(self, lo_excl: int | None, hi_incl: int) -> list[int]:
        """Keys in ``(lo_excl, hi_incl]`` (``lo_excl`` None = from the best)."""
        i = 0 if lo_excl is None else bisect_right(self.keys, lo_excl)
        j = bisect_right(self.keys, hi_incl)
        return self.keys[i:j]


@dataclass(frozen=True, slots=True)
class PublicTrade:
    """A fill against the book, to be published on ``publicTrade.{symbol}``."""

    ticks: int
    lots: int
    taker_side: str  # "Buy" | "Sell"
    seq: int


class SimBook:
    """True book of one symbol. Prices are ticks, sizes lots (see :class:`Instrument`)."""

    __slots__ = ("_notify", "a", "b", "instrument", "pending_trades", "seq", "trackers")

    def __init__(self, instrument: Instrument, seq: int = 1) -> None:
        self.instrument = instrument
        self.b = Side(-1)
        self.a = Side(1)
        self.seq = seq
        self.trackers: list[Tracker] = []
        self.pending_trades: list[PublicTrade] = []
        self._notify: Callable[[SimBook], None] | None = None

    # --- mutation ---------------------------------------------------------------------------
    def set_level(self, side: str, ticks: int, lots: int) -> None:
        """Set the absolute size of a level (0 removes it). Does not notify listeners."""
        s = self.b if side == "b" else self.a
        key = ticks * s.sign
        s.set(key, lots)
        for t in self.trackers:
            (t.b if side == "b" else t.a).add(key)

    def track(self) -> Tracker:
        tracker = Tracker()
        self.trackers.append(tracker)
        return tracker

    def untrack(self, tracker: Tracker) -> None:
        if tracker in self.trackers:
            self.trackers.remove(tracker)

    def changed(self) -> None:
        """Announce a finished change to the market's listeners."""
        if self._notify is not None:
            self._notify(self)

    # --- reads ------------------------------------------------------------------------------
    def best_bid_ticks(self) -> int | None:
        return -self.b.keys[0] if self.b.keys else None

    def best_ask_ticks(self) -> int | None:
        return self.a.keys[0] if self.a.keys else None

    def best_bid(self) -> Decimal | None:
        t = self.best_bid_ticks()
        return None if t is None else self.instrument.price_of(t)

    def best_ask(self) -> Decimal | None:
        t = self.best_ask_ticks()
        return None if t is None else self.instrument.price_of(t)

    def depth(self, side: str) -> int:
        return len(self.b.keys if side == "b" else self.a.keys)

    def levels(self, side: str, n: int | None = None) -> list[tuple[str, str]]:
        """Top ``n`` levels (all if None) of side ``"b"``/``"a"``, best first, as Bybit strings."""
        s = self.b if side == "b" else self.a
        keys = s.keys if n is None else s.keys[:n]
        inst = self.instrument
        return [(inst.fmt_price(k * s.sign), inst.fmt_qty(s.sizes[k])) for k in keys]

    # --- taker ------------------------------------------------------------------------------
    def take(
        self, taker_side: str, qty: Decimal, limit: Decimal | None = None
    ) -> list[tuple[Decimal, Decimal]]:
        """Consume resting liquidity like a taker order; return fills ``(price, qty)``.

        ``"Buy"`` eats asks from the best up to ``limit`` (inclusive), ``"Sell"`` eats bids down
        to ``limit``. ``qty`` is floored to the lot step. The fills are queued as public trades
        and listeners are notified once.
        """
        inst = self.instrument
        lots = inst.to_lots(qty, strict=False)
        limit_ticks = None if limit is None else inst.to_ticks(limit, strict=False)
        fills = self.take_lots(taker_side, lots, limit_ticks)
        if fills:
            self.changed()
        return [(inst.price_of(t), inst.qty_of(q)) for t, q in fills]

    def take_lots(self, taker_side: str, lots: int, limit_ticks: int | None) -> list[tuple[int, int]]:
        """Integer form of :meth:`take` without notification; used by the generator."""
        if taker_side not in ("Buy", "Sell"):
            raise ValueError(f"taker side must be Buy or Sell, not {taker_side!r}")
        side, book_side = ("a", self.a) if taker_side == "Buy" else ("b", self.b)
        fills: list[tuple[int, int]] = []
        while lots > 0 and book_side.keys:
            key = book_side.keys[0]
            ticks = key * book_side.sign
            if limit_ticks is not None and (
                (taker_side == "Buy" and ticks > limit_ticks)
                or (taker_side == "Sell" and ticks < limit_ticks)
            ):
                break
            avail = book_side.sizes[key]
            q = min(avail, lots)
            self.set_level(side, ticks, avail - q)
            lots -= q
            fills.append((ticks, q))
        if fills:
            self.seq += 1 + len(fills)
            for ticks, q in fills:
                self.pending_trades.append(PublicTrade(ticks, q, taker_side, self.seq))
        return fills
