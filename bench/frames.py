"""Seeded generator of Bybit v5 public WebSocket frames in the exact wire format.

Pure: no I/O, no clock. The same seed gives the same frames, byte for byte.

* Order books (``orderbook.{depth}.{SYMBOL}``, linear key order ``topic,type,ts,data,cts``): a
  snapshot of ``depth`` levels per side, then deltas of about 30 level changes (~700 bytes, like
  the real XRPUSDT sample): absolute sizes, ``"0"`` deletes, the window kept at exactly ``depth``
  levels per side, never crossed, ``u`` +1 per message, ``seq`` increasing with gaps. Most changes
  are size updates, biased towards the top of the book (see :data:`MOVE_SHARE`).
* Trades (``publicTrade.{SYMBOL}``) and tickers (``tickers.{SYMBOL}``, one snapshot then deltas of
  changed fields only).

:class:`SymbolBook` keeps the true book so a consumer's final state can be checked against it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

#: (tick decimals, size decimals, base price in ticks) for a few symbol "shapes".
_SHAPES = (
    (4, 0, 19_500),  # XRP-like: "1.9531","6198"
    (2, 3, 8_672_340),  # BTC-like: "86723.40","0.194"
    (2, 2, 345_010),  # ETH-like
    (3, 1, 143_250),  # SOL-like
    (5, 0, 38_150),  # DOGE-like
)
BASE_TS_MS = 1_733_011_200_000
#: Share of a delta's changes that move a level (a delete plus an insert elsewhere); the rest
#: change a size. The real XRPUSDT ob500 sample has 1.2 % inserts+deletes; 5 % moves (10 %
#: inserts+deletes) keep the sorted-insert path of a book honestly exercised.
MOVE_SHARE = 0.05


def symbol_names(n: int) -> list[str]:
    """``n`` distinct upper-case alphanumeric symbols ending in USDT."""
    out = []
    for i in range(n):
        a, b = divmod(i, 26 * 26)
        b1, b2 = divmod(b, 26)
        out.append(f"S{chr(65 + a % 26)}{chr(65 + b1)}{chr(65 + b2)}{i}USDT")
    return out


def _fmt(value: int, decimals: int) -> str:
    if decimals == 0:
        return str(value)
    s = str(value).rjust(decimals + 1, "0")
    return f"{s[:-decimals]}.{s[-decimals:]}"


@dataclass
class SymbolBook:
    """One symbol's true book (integer ticks → integer lots) and its stream counters."""

    symbol: str
    depth: int
    tick_dp: int
    size_dp: int
    mid: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    u: int = 0
    seq: int = 0

    def price(self, ticks: int) -> str:
        return _fmt(ticks, self.tick_dp)

    def size(self, lots: int) -> str:
        return "0" if lots == 0 else _fmt(lots, self.size_dp)

    def top(self) -> tuple[int, int, int, int]:
        """Best bid price and size, best ask price and size."""
        bid, ask = max(self.bids), min(self.asks)
        return bid, self.bids[bid], ask, self.asks[ask]

    def as_strings(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The true book as sorted ``(price, size)`` strings: bids high→low, asks low→high."""
        bids = [(self.price(p), self.size(self.bids[p])) for p in sorted(self.bids, reverse=True)]
        asks = [(self.price(p), self.size(self.asks[p])) for p in sorted(self.asks)]
        return bids, asks


def _levels(pairs: list[tuple[str, str]]) -> str:
    return ",".join(f'["{p}","{q}"]' for p, q in pairs)


class FrameGen:
    """Generates frames for many symbols from one seed. Not thread-safe."""

    def __init__(self, seed: int = 7, *, category: str = "linear") -> None:
        self.rng = random.Random(seed)
        self.category = category
        self.books: dict[str, SymbolBook] = {}
        self.ts = BASE_TS_MS
        self._trade_id = 10_000_000
        self._tickers: dict[str, dict[str, str]] = {}

    # ---- books -------------------------------------------------------------------------------
    def add_symbol(self, symbol: str, depth: int) -> SymbolBook:
        tick_dp, size_dp, base = self.rng.choice(_SHAPES)
        mid = base + self.rng.randrange(-base // 20, base // 20 + 1)
        book = SymbolBook(symbol, depth, tick_dp, size_dp, mid)
        book.seq = self.rng.randrange(10**10, 10**11)
        self.books[symbol] = book
        return book

    def _rand_size(self, book: SymbolBook) -> int:
        scale = 10**book.size_dp
        return max(1, int(self.rng.expovariate(1 / (5_000 if book.size_dp == 0 else 2 * scale))))

    def _span(self, book: SymbolBook) -> int:
        # Levels spread over ~2.5x depth ticks, so there are gaps to insert into.
        return max(8, book.depth * 5 // 2)

    def snapshot(self, symbol: str) -> str:
        """A fresh ``depth``-level snapshot for ``symbol`` (replaces the true book)."""
        book = self.books[symbol]
        span = self._span(book)
        bid_ticks = sorted(self.rng.sample(range(book.mid - span, book.mid), book.depth), reverse=True)
        ask_ticks = sorted(self.rng.sample(range(book.mid + 1, book.mid + span + 1), book.depth))
        book.bids = {p: self._rand_size(book) for p in bid_ticks}
        book.asks = {p: self._rand_size(book) for p in ask_ticks}
        book.u += 1
        book.seq += self.rng.randrange(1, 500)
        self.ts += 1
        bids, asks = book.as_strings()
        return self._book_frame(book, "snapshot", bids, asks)

    def _book_frame(
        self, book: SymbolBook, kind: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]
    ) -> str:
        return (
            f'{{"topic":"orderbook.{book.depth}.{book.symbol}","type":"{kind}","ts":{self.ts},'
            f'"data":{{"s":"{book.symbol}","b":[{_levels(bids)}],"a":[{_levels(asks)}],'
            f'"u":{book.u},"seq":{book.seq}}},"cts":{self.ts - 2}}}'
        )

    def delta(self, symbol: str, changes: int = 30, *, touch_top: bool = True) -> str:
        """A delta of about ``changes`` level changes; the window stays ``depth`` per side.

        With ``touch_top`` every delta moves the BBO: the best bid's size changes, and if the
        other changes happen to leave the BBO as it was (a size redrawn equal, 1 in 20 for the
        symbols with few size steps), the best bid's size is then stepped by one unit.
        """
        book = self.books[symbol]
        rng = self.rng
        span = self._span(book)
        out: dict[str, dict[int, int]] = {"b": {}, "a": {}}
        n_changes = max(2, changes + rng.randrange(-4, 5))
        top0 = book.top() if touch_top else None
        if top0 is not None:
            best = top0[0]
            new = self._rand_size(book)
            book.bids[best] = new
            out["b"][best] = new
            n_changes -= 1
        keys = {"b": list(book.bids), "a": list(book.asks)}
        for _ in range(n_changes):
            side = "b" if rng.random() < 0.5 else "a"
            levels = book.bids if side == "b" else book.asks
            changed = out[side]
            p = self._pick(keys[side])
            if p not in levels:
                continue  # deleted earlier in this delta
            if rng.random() >= MOVE_SHARE or book.depth < 4:
                levels[p] = self._rand_size(book)
                changed[p] = levels[p]
                continue
            # Replace the level by another price inside the side's range (delete + insert).
            lo, hi = (book.mid - span, book.mid - 1) if side == "b" else (book.mid + 1, book.mid + span)
            for _try in range(8):
                new_p = rng.randint(lo, hi)
                if new_p not in levels and new_p not in changed:
                    break
            else:
                continue
            del levels[p]
            changed[p] = 0
            levels[new_p] = self._rand_size(book)
            changed[new_p] = levels[new_p]
        if top0 is not None and book.top() == top0:
            best = max(book.bids)
            book.bids[best] += 1
            out["b"][best] = book.bids[best]
        book.u += 1
        book.seq += rng.randrange(1, 500)
        self.ts += 1
        bids = [(book.price(p), book.size(q)) for p, q in sorted(out["b"].items(), reverse=True)]
        asks = [(book.price(p), book.size(q)) for p, q in sorted(out["a"].items())]
        return self._book_frame(book, "delta", bids, asks)

    def _pick(self, keys: list[int]) -> int:
        # A random existing level, biased towards the front (the top of book after a snapshot):
        # mean rank depth/6, as in the real XRPUSDT ob500 sample (median rank 71 of 500).
        idx = min(len(keys) - 1, int(self.rng.expovariate(6 / len(keys))))
        return keys[idx]

    # ---- trades and tickers ------------------------------------------------------------------
    def trade(self, symbol: str, count: int = 1) -> str:
        book = self.books[symbol]
        self.ts += 1
        items = []
        for _ in range(count):
            self._trade_id += 1
            side = "Buy" if self.rng.random() < 0.5 else "Sell"
            price = min(book.asks) if side == "Buy" else max(book.bids)
            items.append(
                f'{{"T":{self.ts - 1},"s":"{symbol}","S":"{side}","v":"{book.size(self._rand_size(book))}",'
                f'"p":"{book.price(price)}","L":"PlusTick","i":"{self._trade_id:08d}-aa4d-45b0-a858-7b8be29ab52b",'
                f'"BT":false,"seq":{book.seq}}}'
            )
        return (
            f'{{"topic":"publicTrade.{symbol}","type":"snapshot","ts":{self.ts},"data":[{",".join(items)}]}}'
        )

    def ticker(self, symbol: str) -> str:
        book = self.books[symbol]
        self.ts += 1
        bid, ask = max(book.bids), min(book.asks)
        fields = {
            "symbol": symbol,
            "markPrice": book.price((bid + ask) // 2),
            "indexPrice": book.price((bid + ask) // 2 + self.rng.randrange(-3, 4)),
            "bid1Price": book.price(bid),
            "bid1Size": book.size(book.bids[bid]),
            "ask1Price": book.price(ask),
            "ask1Size": book.size(book.asks[ask]),
        }
        if symbol not in self._tickers:
            fields.update(
                {
                    "tickDirection": "ZeroPlusTick",
                    "lastPrice": book.price(bid),
                    "prevPrice24h": book.price(bid),
                    "openInterest": "58117.022",
                    "turnover24h": "6073739017.8331",
                    "volume24h": "98430.1050",
                    "fundingRate": "0.00008055",
                }
            )
            self._tickers[symbol] = dict(fields)
            kind = "snapshot"
        else:
            self._tickers[symbol].update(fields)
            kind = "delta"
        body = json.dumps(fields, separators=(",", ":"))
        return f'{{"topic":"tickers.{symbol}","type":"{kind}","data":{body},"cs":{book.seq},"ts":{self.ts}}}'


@dataclass
class Stream:
    """A generated stream: frames in send order and the symbols/depths they cover."""

    frames: list[str]
    symbols: list[str]
    depths: dict[str, int]
    gen: FrameGen
    #: per frame: index into ``symbols`` and the book ``u`` after it (``-1`` for non-book frames)
    sym_idx: list[int]
    book_u: list[int]


def make_stream(
    n_frames: int,
    n_symbols: int,
    *,
    seed: int = 7,
    depths: tuple[int, ...] = (50,),
    book_share: float = 0.8,
    trade_share: float = 0.1,
    changes: int = 30,
    category: str = "linear",
) -> Stream:
    """Snapshots for every symbol first, then ``n_frames`` frames spread over symbols.

    ``book_share`` of them are book deltas, ``trade_share`` trades, the rest ticker updates.
    Depths cycle over ``depths`` per symbol (e.g. ``(50, 200, 1000)``).
    """
    gen = FrameGen(seed, category=category)
    symbols = symbol_names(n_symbols)
    depth_of = {s: depths[i % len(depths)] for i, s in enumerate(symbols)}
    frames: list[str] = []
    sym_idx: list[int] = []
    book_u: list[int] = []
    for i, s in enumerate(symbols):
        gen.add_symbol(s, depth_of[s])
        frames.append(gen.snapshot(s))
        sym_idx.append(i)
        book_u.append(gen.books[s].u)
    rng = random.Random(seed + 1)
    for _ in range(n_frames):
        i = rng.randrange(n_symbols)
        s = symbols[i]
        r = rng.random()
        if r < book_share:
            frames.append(gen.delta(s, changes))
            book_u.append(gen.books[s].u)
        elif r < book_share + trade_share:
            frames.append(gen.trade(s, 1 + int(rng.random() < 0.2)))
            book_u.append(-1)
        else:
            frames.append(gen.ticker(s))
            book_u.append(-1)
        sym_idx.append(i)
    return Stream(frames, symbols, depth_of, gen, sym_idx, book_u)


def apply_frame_reference(books: dict[str, tuple[dict[str, str], dict[str, str]]], frame: str) -> None:
    """Slow, obviously-correct reference apply of one book frame (used by tests and checks)."""
    msg = json.loads(frame)
    if not msg.get("topic", "").startswith("orderbook."):
        return
    data = msg["data"]
    if msg["type"] == "snapshot":
        books[data["s"]] = (dict(data["b"]), dict(data["a"]))
        return
    bids, asks = books[data["s"]]
    for side, levels in ((bids, data["b"]), (asks, data["a"])):
        for p, q in levels:
            if q == "0" or float(q) == 0.0:
                side.pop(p, None)
            else:
                side[p] = q
