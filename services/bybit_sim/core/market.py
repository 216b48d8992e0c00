"""SimMarket: every instrument's true book, a deterministic random generator, and listeners.

The generator evolves each symbol's book once per *tick* (20 ms of market time; the shell
calls :meth:`SimMarket.step` on a timer): a few level changes concentrated near the touch,
sometimes a taker trade at the touch (which removes liquidity and queues a public trade), and a
refill of the far end so each side always holds more than 1000 levels. Everything is drawn
from one ``random.Random`` per symbol seeded from (seed, category, symbol), so a seed fixes the
whole evolution.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable

from services.bybit_sim.core.book import SimBook
from services.bybit_sim.core.instruments import Instrument

Listener = Callable[[str, str, SimBook], None]

#: Levels per side the generator maintains (the 1000 window plus a margin).
DEFAULT_LEVELS = 1060


#: Depth index (0 = best) of a generated change: geometric, mean ~12, most within the top 50.
_TABLE = 1024
_index_rng = random.Random(1)
_INDEX_TABLE = tuple(int(_index_rng.expovariate(1 / 12.0)) for _ in range(_TABLE))


class SymbolGenerator:
    """Random evolution of one book. Cheap: ``random()`` draws and table look-ups only."""

    __slots__ = ("book", "levels", "rng", "sizes", "spread_max")

    def __init__(self, book: SimBook, seed: int, levels: int = DEFAULT_LEVELS) -> None:
        inst = book.instrument
        self.book = book
        self.levels = levels
        self.rng = random.Random(zlib.crc32(f"{seed}:{inst.category}:{inst.symbol}".encode()))
        lot = inst.ref_lots
        self.sizes = tuple(1 + int(self.rng.expovariate(1.0) * lot) for _ in range(_TABLE))
        self.spread_max = 3
        book.seq = 10_000_000 + self.rng.randrange(1_000_000_000)
        self._fill(inst.ref_ticks)

    def _size(self) -> int:
        return self.sizes[int(self.rng.random() * _TABLE)]

    def _fill(self, mid: int) -> None:
        rnd = self.rng.random
        for side, start, step in (("b", mid - 1, -1), ("a", mid, 1)):
            t, n = start, 0
            while n < self.levels:
                if n == 0 or rnd() < 0.75:
                    self.book.set_level(side, t, self._size())
                    n += 1
                t += step

    def step(self) -> None:
        """One tick (20 ms of market time): sometimes a trade at the touch, 1-7 level changes
        concentrated near the touch, then keep the depth and a sane spread."""
        book = self.book
        rnd = self.rng.random
        sizes = self.sizes
        book.seq += 20 + int(rnd() * 380)
        if rnd() < 0.2:
            taker = "Buy" if rnd() < 0.5 else "Sell"
            side = book.a if taker == "Buy" else book.b
            if side.keys:
                top = side.sizes[side.keys[0]]
                lots = 1 + int(top * rnd() * 1.3)
                book.take_lots(taker, lots, None)
        for _ in range(1 + int(rnd() * 7)):
            r = rnd()
            sname = "b" if r < 0.5 else "a"
            side = book.b if sname == "b" else book.a
            keys = side.keys
            if not keys:
                continue
            i = _INDEX_TABLE[int(rnd() * _TABLE)]
            if i >= len(keys):
                i = len(keys) - 1
            key = keys[i]
            r = rnd()
            if r < 0.65:
                book.set_level(sname, key * side.sign, sizes[int(rnd() * _TABLE)])
            elif r < 0.82:
                if i > 0:
                    book.set_level(sname, key * side.sign, 0)
            else:
                # a new level in the gap next to key (never crossing the other side)
                new_key = key - 1 if i == 0 or keys[i - 1] != key - 1 else key + 1
                if new_key not in side.sizes and self._uncrossed(sname, new_key * side.sign):
                    book.set_level(sname, new_key * side.sign, sizes[int(rnd() * _TABLE)])
        self._repair()

    def _uncrossed(self, sname: str, ticks: int) -> bool:
        book = self.book
        if sname == "b":
            ask = book.best_ask_ticks()
            return ask is None or ticks < ask
        bid = book.best_bid_ticks()
        return bid is None or ticks > bid

    def _repair(self) -> None:
        book = self.book
        rnd = self.rng.random
        bid, ask = book.best_bid_ticks(), book.best_ask_ticks()
        if bid is not None and ask is not None and ask - bid > self.spread_max:
            # close a wide spread from a random side, as market makers would
            if rnd() < 0.5:
                book.set_level("b", bid + 1, self._size())
            else:
                book.set_level("a", ask - 1, self._size())
        for sname, side in (("b", book.b), ("a", book.a)):
            n = len(side.keys)
            if n < self.levels:
                if n == 0:
                    anchor = (bid if sname == "a" else ask) or self.book.instrument.ref_ticks
                    book.set_level(sname, anchor + (1 if sname == "a" else -1), self._size())
                    continue
                last = side.keys[-1]
                book.set_level(sname, (last + 1 + int(rnd() < 0.3)) * side.sign, self._size())
            elif n > self.levels + 20:
                book.set_level(sname, side.keys[-1] * side.sign, 0)


class SimMarket:
    """All instruments and their books. Pure: the shell drives time by calling :meth:`step`."""

    def __init__(
        self, instruments: dict[tuple[str, str], Instrument], seed: int = 7, levels: int = DEFAULT_LEVELS
    ) -> None:
        self.instruments = dict(instruments)
        self.seed = seed
        self._books: dict[tuple[str, str], SimBook] = {}
        self._gens: dict[tuple[str, str], SymbolGenerator] = {}
        self._listeners: list[Listener] = []
        self.frozen: set[tuple[str, str]] = set()
        for key, inst in self.instruments.items():
            book = SimBook(inst)
            self._gens[key] = SymbolGenerator(book, seed, levels)
            book._notify = self._make_notifier(key)
            self._books[key] = book

    def _make_notifier(self, key: tuple[str, str]) -> Callable[[SimBook], None]:
        category, symbol = key
        state = {"busy": False, "again": False}

        def notify(book: SimBook) -> None:
            # a listener that changes the book (e.g. take()) triggers one more round, not recursion
            if state["busy"]:
                state["again"] = True
                return
            state["busy"] = True
            try:
                for _ in range(100):
                    state["again"] = False
                    for cb in list(self._listeners):
                        cb(category, symbol, book)
                    if not state["again"]:
                        break
            finally:
                state["busy"] = False

        return notify

    def book(self, category: str, symbol: str) -> SimBook:
        """The true book of ``(category, symbol)``; KeyError if not listed."""
        return self._books[(category, symbol)]

    def has(self, category: str, symbol: str) -> bool:
        return (category, symbol) in self._books

    def keys(self) -> list[tuple[str, str]]:
        return list(self._books)

    def add_listener(self, cb: Listener) -> None:
        """``cb(category, symbol, book)`` runs after every change of a symbol's true book."""
        self._listeners.append(cb)

    def remove_listener(self, cb: Listener) -> None:
        if cb in self._listeners:
            self._listeners.remove(cb)

    def step(self, keys: list[tuple[str, str]] | None = None) -> None:
        """Advance the generator one tick for ``keys`` (default: every symbol not frozen)."""
        listeners = self._listeners
        for key in self._gens if keys is None else keys:
            if key in self.frozen:
                continue
            self._gens[key].step()
            if listeners:
                self._books[key].changed()
