"""A pure L2 order book with Bybit's update rules and its invariants.

Levels are kept keyed by a float of the price string (bids negated, so on both sides the
smallest key is the best level) and map to the **original** ``(price, size)`` tuple received,
so every value returned is exactly the string Bybit sent. Floats are only sort keys: distinct
decimal prices of up to 15 significant digits map to distinct floats in the same order, so
comparisons (including the crossed check) are exact.

Costs, per level change: a dict set or pop, plus a ``heappush`` when a price is new. The best
level of each side is tracked with a min-heap of keys with lazy deletion (stale keys are
dropped when they reach the top; the heap is rebuilt when it holds twice as many keys as the
side), so the best bid/ask and the crossed check are O(1) amortised after every message.
Sorted views (``top_bids``/``top_asks``) are computed on read by sorting the keys (about
6 us for 1000 floats) and cached until the next change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from heapq import heapify, heappop, heappush

INF = float("inf")

Level = tuple[str, str]

#: Invariant / input violations, as stable codes (also used as resync causes).
BAD_LEVEL = "bad_level"
BAD_SIZE = "bad_size"
BAD_PRICE = "bad_price"
CROSSED = "crossed"
TOO_DEEP = "too_deep"


class BookInvariantError(Exception):
    """The book broke an invariant or received an unusable level; ``code`` names which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _best(heap: list[float], side: dict[float, Level]) -> float | None:
    """The smallest live key of ``side``, dropping stale heap entries on the way."""
    while heap:
        k = heap[0]
        if k in side:
            return k
        heappop(heap)
    return None


class L2Book:
    """One L2 book (both sides). Not thread-safe; no I/O.

    ``apply_snapshot`` / ``apply_delta`` return the number of level changes and raise
    :class:`BookInvariantError` on bad input or a broken invariant (the book is then left
    in an undefined state: the caller must :meth:`clear` it and resync).
    """

    __slots__ = ("_aheap", "_bheap", "_sorted", "_views", "asks", "bids", "depth", "version")

    def __init__(self, depth: int = 0) -> None:
        #: Maximum levels per side (the topic depth); 0 = unlimited.
        self.depth = depth
        #: key = -float(price) -> (price, size)
        self.bids: dict[float, Level] = {}
        #: key = float(price) -> (price, size)
        self.asks: dict[float, Level] = {}
        self._bheap: list[float] = []
        self._aheap: list[float] = []
        #: Incremented on every change; cached views are valid for one version.
        self.version = 0
        self._sorted: dict[int, list[float]] = {}
        self._views: dict[tuple[int, int], list[Level]] = {}

    # ------------------------------------------------------------------ updates
    def clear(self) -> None:
        self.bids = {}
        self.asks = {}
        self._bheap = []
        self._aheap = []
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        if self._views:
            self._views = {}
        if self._sorted:
            self._sorted = {}

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], depth: int | None = None) -> int:
        """Replace the whole book. Zero sizes are skipped. Returns levels loaded."""
        if depth is not None:
            self.depth = depth
        bd: dict[float, Level] = {}
        ad: dict[float, Level] = {}
        try:
            for lvl in bids:
                p, q = lvl
                fq = float(q)
                if 0.0 < fq < INF:
                    k = -float(p)
                    if not -INF < k < 0.0:
                        raise BookInvariantError(BAD_PRICE, f"bad bid price {p!r}")
                    bd[k] = lvl
                elif fq != 0.0:
                    raise BookInvariantError(BAD_SIZE, f"bad bid size {q!r}")
            for lvl in asks:
                p, q = lvl
                fq = float(q)
                if 0.0 < fq < INF:
                    k = float(p)
                    if not 0.0 < k < INF:
                        raise BookInvariantError(BAD_PRICE, f"bad ask price {p!r}")
                    ad[k] = lvl
                elif fq != 0.0:
                    raise BookInvariantError(BAD_SIZE, f"bad ask size {q!r}")
        except (ValueError, TypeError):
            raise BookInvariantError(BAD_LEVEL, "unparsable level in snapshot") from None
        self.bids = bd
        self.asks = ad
        self._bheap = bh = list(bd)
        self._aheap = ah = list(ad)
        heapify(bh)
        heapify(ah)
        self._changed()
        self.check()
        return len(bd) + len(ad)

    def apply_delta(self, bids: Sequence[Level], asks: Sequence[Level]) -> int:
        """Apply absolute sizes; ``"0"`` deletes (absent level: no-op). Returns levels changed."""
        inf = INF
        flt = float
        push = heappush
        try:
            if bids:
                d = self.bids
                heap = self._bheap
                for lvl in bids:
                    p, q = lvl
                    k = -flt(p)
                    if q == "0":
                        d.pop(k, None)
                        continue
                    fq = flt(q)
                    if 0.0 < fq < inf:
                        if k not in d:  # a new price
                            if not -inf < k < 0.0:
                                raise BookInvariantError(BAD_PRICE, f"bad bid price {p!r}")
                            push(heap, k)
                        d[k] = lvl
                    elif fq == 0.0:
                        d.pop(k, None)
                    else:
                        raise BookInvariantError(BAD_SIZE, f"bad bid size {q!r}")
                if len(heap) > 2 * len(d) + 64:
                    self._bheap = heap = list(d)
                    heapify(heap)
            if asks:
                d = self.asks
                heap = self._aheap
                for lvl in asks:
                    p, q = lvl
                    k = flt(p)
                    if q == "0":
                        d.pop(k, None)
                        continue
                    fq = flt(q)
                    if 0.0 < fq < inf:
                        if k not in d:  # a new price
                            if not 0.0 < k < inf:
                                raise BookInvariantError(BAD_PRICE, f"bad ask price {p!r}")
                            push(heap, k)
                        d[k] = lvl
                    elif fq == 0.0:
                        d.pop(k, None)
                    else:
                        raise BookInvariantError(BAD_SIZE, f"bad ask size {q!r}")
                if len(heap) > 2 * len(d) + 64:
                    self._aheap = heap = list(d)
                    heapify(heap)
        except (ValueError, TypeError):
            raise BookInvariantError(BAD_LEVEL, "unparsable level in delta") from None
        self.version += 1
        if self._views:
            self._views = {}
        if self._sorted:
            self._sorted = {}
        self.check()
        return len(bids) + len(asks)

    def check(self) -> None:
        """Raise :class:`BookInvariantError` if the book is crossed or deeper than ``depth``."""
        bids = self.bids
        asks = self.asks
        if bids and asks:
            bk = _best(self._bheap, bids)
            ak = _best(self._aheap, asks)
            if bk is not None and ak is not None and -bk >= ak:
                raise BookInvariantError(CROSSED, f"crossed: bid {bids[bk][0]} >= ask {asks[ak][0]}")
        depth = self.depth
        if depth and (len(bids) > depth or len(asks) > depth):
            raise BookInvariantError(TOO_DEEP, f"more than {depth} levels on a side")

    # ------------------------------------------------------------------ reads
    def best_bid(self) -> Level | None:
        k = _best(self._bheap, self.bids)
        return None if k is None else self.bids[k]

    def best_ask(self) -> Level | None:
        k = _best(self._aheap, self.asks)
        return None if k is None else self.asks[k]

    def top_bids(self, n: int | None = None) -> list[Level]:
        """Bids best first (highest price first), at most ``n`` (None = all). Cached until a change."""
        return self._view(0, self.bids, n)

    def top_asks(self, n: int | None = None) -> list[Level]:
        """Asks best first (lowest price first), at most ``n`` (None = all). Cached until a change."""
        return self._view(1, self.asks, n)

    def _view(self, side: int, d: dict[float, Level], n: int | None) -> list[Level]:
        if n is None or n > len(d):
            n = len(d)
        cache_key = (side, n)
        view = self._views.get(cache_key)
        if view is None:
            if n == 1:
                best = self.best_bid() if side == 0 else self.best_ask()
                view = [best] if best is not None else []
            else:
                keys = self._sorted.get(side)
                if keys is None:
                    keys = self._sorted[side] = sorted(d)
                view = [d[k] for k in keys[:n]]
            self._views[cache_key] = view
        return view

    @property
    def bid_levels(self) -> int:
        return len(self.bids)

    @property
    def ask_levels(self) -> int:
        return len(self.asks)

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)
