"""A pure L2 order book with Bybit's update rules and its invariants.

Each side maps the **original** price string to the **original** size string, so every value
returned is exactly what Bybit sent, and an update of a live price (most level changes) costs a
string-keyed dict probe and store plus the size check (one ``float`` of the size), with no price
parse. A second dict per side maps a sort key (a float of the price, negated for bids so that on
both sides the smallest key is the best level) to the price string; it is touched only when a
price appears or goes, and folds two spellings of one price ("1.0", "1.00") into one level, the
last one received. Floats are only sort keys: distinct decimal prices of up to 15 significant
digits map to distinct floats in the same order, so comparisons (including the crossed check)
are exact.

The best level of each side is tracked with a min-heap of keys with lazy deletion (stale keys are
dropped when they reach the top; the heap is rebuilt when it holds twice as many keys as the
side), so the best bid/ask and the crossed check are O(1) amortised. A delta can only cross the
book or make a side too deep if it adds a price, so those checks run only after a delta that
added one (and after every snapshot). Sorted views (``top_bids``/``top_asks``) are computed on
read by sorting the keys (about 6 us for 1000 floats) and cached until the next change (the cache
is stamped with ``version``, so an update does not touch it).
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


def _best(heap: list[float], keys: dict[float, str]) -> float | None:
    """The smallest live key of a side, dropping stale heap entries on the way."""
    while heap:
        k = heap[0]
        if k in keys:
            return k
        heappop(heap)
    return None


def _load_side(levels: Iterable[Level], bid: bool) -> tuple[dict[str, str], dict[float, str]]:
    """A snapshot side as (price -> size, sort key -> price), strings as received; zero sizes skipped."""
    d: dict[str, str] = {}
    keys: dict[float, str] = {}
    name = "bid" if bid else "ask"
    for p, q in levels:
        fq = float(q)
        if 0.0 < fq < INF:
            fp = float(p)
            if not 0.0 < fp < INF:
                raise BookInvariantError(BAD_PRICE, f"bad {name} price {p!r}")
            k = -fp if bid else fp
            old = keys.get(k)
            if old is not None:  # the same price again (maybe spelt otherwise): the last one wins
                del d[old]
            keys[k] = p
            d[p] = q
        elif fq != 0.0:
            raise BookInvariantError(BAD_SIZE, f"bad {name} size {q!r}")
    return d, keys


def _apply_side(
    d: dict[str, str], keys: dict[float, str], heap: list[float], levels: Sequence[Level], bid: bool
) -> bool:
    """Apply one side of a delta; True if a price was added (only then can the book cross).

    Hot path: an update of a live price is a string-keyed dict probe and store plus one float
    of the size (no price parse); the store comes first and a size that is not a positive finite
    number is dealt with after it (a zero deletes the level; a bad size raises, leaving the book
    undefined as any error does). New prices and deletes parse the price. The side's heap is
    rebuilt in place from its live keys when it holds more than twice as many keys as levels."""
    inf = INF
    flt = float
    added = False
    for p, q in levels:
        if p in d:
            d[p] = q
            if 0.0 < flt(q) < inf:
                continue
            if q == "0" or flt(q) == 0.0:  # any spelling of zero deletes
                del d[p]
                fp = flt(p)
                del keys[-fp if bid else fp]
                continue
            raise BookInvariantError(BAD_SIZE, f"bad {'bid' if bid else 'ask'} size {q!r}")
        if q == "0":  # delete an absent price, or another spelling of a live one
            fp = flt(p)
            old = keys.pop(-fp if bid else fp, None)
            if old is not None:
                del d[old]
            continue
        fq = flt(q)
        fp = flt(p)  # an unparsable price is reported before a bad size, as an unparsable size is
        if 0.0 < fq < inf:
            if not 0.0 < fp < inf:
                raise BookInvariantError(BAD_PRICE, f"bad {'bid' if bid else 'ask'} price {p!r}")
            k = -fp if bid else fp
            old = keys.setdefault(k, p)
            if old is p:  # a new level
                heappush(heap, k)
            else:  # another spelling of a live price: replace it
                del d[old]
                keys[k] = p
            d[p] = q
            added = True
        elif fq == 0.0:
            old = keys.pop(-fp if bid else fp, None)
            if old is not None:
                del d[old]
        else:
            raise BookInvariantError(BAD_SIZE, f"bad {'bid' if bid else 'ask'} size {q!r}")
    if len(heap) > 2 * len(d) + 64:  # mostly stale keys: rebuild in place from the live ones
        heap[:] = keys
        heapify(heap)
    return added


class L2Book:
    """One L2 book (both sides). Not thread-safe; no I/O.

    ``apply_snapshot`` / ``apply_delta`` return the number of level changes and raise
    :class:`BookInvariantError` on bad input or a broken invariant (the book is then left
    in an undefined state: the caller must :meth:`clear` it and resync).
    """

    __slots__ = (
        "_aheap",
        "_akeys",
        "_bheap",
        "_bkeys",
        "_cached_at",
        "_sorted",
        "_views",
        "asks",
        "bids",
        "depth",
        "version",
    )

    def __init__(self, depth: int = 0) -> None:
        #: Maximum levels per side (the topic depth); 0 = unlimited.
        self.depth = depth
        #: price string -> size string, both as received
        self.bids: dict[str, str] = {}
        #: price string -> size string, both as received
        self.asks: dict[str, str] = {}
        #: sort key (-float(price)) -> price string of the live bid at that price
        self._bkeys: dict[float, str] = {}
        #: sort key (float(price)) -> price string of the live ask at that price
        self._akeys: dict[float, str] = {}
        self._bheap: list[float] = []
        self._aheap: list[float] = []
        #: Incremented on every change; cached views are valid for one version.
        self.version = 0
        #: The version the cached sorted keys and views below belong to.
        self._cached_at = 0
        self._sorted: dict[int, list[float]] = {}
        self._views: dict[tuple[int, int], list[Level]] = {}

    # ------------------------------------------------------------------ updates
    def clear(self) -> None:
        self.bids = {}
        self.asks = {}
        self._bkeys = {}
        self._akeys = {}
        self._bheap = []
        self._aheap = []
        self._changed()

    def _changed(self) -> None:
        self.version += 1

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], depth: int | None = None) -> int:
        """Replace the whole book. Zero sizes are skipped. Returns levels loaded."""
        if depth is not None:
            self.depth = depth
        try:
            bd, bk = _load_side(bids, True)
            ad, ak = _load_side(asks, False)
        except (ValueError, TypeError):
            raise BookInvariantError(BAD_LEVEL, "unparsable level in snapshot") from None
        self.bids = bd
        self.asks = ad
        self._bkeys = bk
        self._akeys = ak
        self._bheap = bh = list(bk)
        self._aheap = ah = list(ak)
        heapify(bh)
        heapify(ah)
        self._changed()
        self.check()
        return len(bd) + len(ad)

    def apply_delta(self, bids: Sequence[Level], asks: Sequence[Level]) -> int:
        """Apply absolute sizes; ``"0"`` deletes (absent level: no-op). Returns levels changed."""
        added = False
        try:
            if bids:
                added = _apply_side(self.bids, self._bkeys, self._bheap, bids, True)
            if asks and _apply_side(self.asks, self._akeys, self._aheap, asks, False):
                added = True
        except (ValueError, TypeError):
            raise BookInvariantError(BAD_LEVEL, "unparsable level in delta") from None
        self.version += 1
        if added:  # updates and deletes can neither cross the book nor deepen it
            self.check()
        return len(bids) + len(asks)

    def check(self) -> None:
        """Raise :class:`BookInvariantError` if the book is crossed or deeper than ``depth``."""
        bids = self.bids
        asks = self.asks
        if bids and asks:
            bk = _best(self._bheap, self._bkeys)
            ak = _best(self._aheap, self._akeys)
            if bk is not None and ak is not None and -bk >= ak:
                raise BookInvariantError(CROSSED, f"crossed: bid {self._bkeys[bk]} >= ask {self._akeys[ak]}")
        depth = self.depth
        if depth and (len(bids) > depth or len(asks) > depth):
            raise BookInvariantError(TOO_DEEP, f"more than {depth} levels on a side")

    # ------------------------------------------------------------------ reads
    def best_bid(self) -> Level | None:
        keys = self._bkeys
        k = _best(self._bheap, keys)
        if k is None:
            return None
        p = keys[k]
        return (p, self.bids[p])

    def best_ask(self) -> Level | None:
        keys = self._akeys
        k = _best(self._aheap, keys)
        if k is None:
            return None
        p = keys[k]
        return (p, self.asks[p])

    def top_bids(self, n: int | None = None) -> list[Level]:
        """Bids best first (highest price first), at most ``n`` (None = all). Cached until a change."""
        return self._view(0, self.bids, self._bkeys, n)

    def top_asks(self, n: int | None = None) -> list[Level]:
        """Asks best first (lowest price first), at most ``n`` (None = all). Cached until a change."""
        return self._view(1, self.asks, self._akeys, n)

    def _view(self, side: int, d: dict[str, str], kd: dict[float, str], n: int | None) -> list[Level]:
        if n is None or n > len(d):
            n = len(d)
        if self._cached_at != self.version:
            self._views = {}
            self._sorted = {}
            self._cached_at = self.version
        cache_key = (side, n)
        view = self._views.get(cache_key)
        if view is None:
            if n == 1:
                best = self.best_bid() if side == 0 else self.best_ask()
                view = [best] if best is not None else []
            else:
                keys = self._sorted.get(side)
                if keys is None:
                    keys = self._sorted[side] = sorted(kd)
                view = [(p, d[p]) for p in map(kd.__getitem__, keys[:n])]
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
