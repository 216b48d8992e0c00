"""PublicHub: topics, their subscribers, the tick schedule and stream-level faults (pure).

The shell calls :meth:`PublicHub.tick` on a timer with the current time; the hub advances the
market one step, then pushes every due topic and returns ``(subscribers, frame)`` pairs for the
shell to send. Cadence in ticks (one tick = 20 ms of simulated time): ``orderbook.1`` every
tick (snapshot only when the top changed, else a repeat after 3 s), ``.50`` every tick,
``.200`` every 5, ``.1000`` every 10, futures tickers every 5, spot tickers every 2, trades
every tick.
Connections are opaque hashable objects. Stream faults read here (see docs/bybit_sim.md):
``stall``, ``skip_delta``, ``restart``, ``resend_snapshot``.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Hashable
from typing import Any

from services.bybit_sim.core.faults import Faults
from services.bybit_sim.core.market import SimMarket
from services.bybit_sim.core.protocol import BOOK_DEPTHS, parse_topic
from services.bybit_sim.core.replay import ReplayFrame
from services.bybit_sim.core.streams import BookStream
from services.bybit_sim.core.tape import Tape, TickerStream

#: Ticks (20 ms each) between pushes per order-book depth: 20, 20, 100, 200 ms.
BOOK_EVERY = {1: 1, 50: 1, 200: 5, 1000: 10}
#: Ticker cadence: spot 40 ms (Bybit 50), futures 100 ms.
TICKER_EVERY = {"spot": 2, "linear": 5, "inverse": 5}

Key = tuple[str, str]  # (category, topic)
Send = tuple[set[Hashable], bytes]


class PublicHub:
    """Every public topic of every category, who listens to it, and what to send each tick."""

    def __init__(
        self,
        market: SimMarket,
        faults: Faults,
        *,
        l1_repeat_ms: int = 3000,
        replay: dict[Key, list[ReplayFrame]] | None = None,
    ) -> None:
        self.market = market
        self.faults = faults
        self.l1_repeat_ms = l1_repeat_ms
        self.replay = replay or {}
        self.tapes = {k: Tape(k[0], market.book(*k), market.seed) for k in market.instruments}
        self.books: dict[Key, BookStream] = {}
        self.tickers: dict[Key, TickerStream] = {}
        self.subs: dict[Key, set[Hashable]] = {}
        self.tick_no = 0
        #: frames sent per topic kind, counting each recipient (read by the metrics exporter).
        self.sent: Counter[str] = Counter()

    # --- topics -----------------------------------------------------------------------------
    def topic_ok(self, category: str, topic: str) -> bool:
        if (category, topic) in self.replay:
            return True
        parsed = parse_topic(topic)
        if parsed is None:
            return False
        kind, depth, symbol = parsed
        if not self.market.has(category, symbol):
            return False
        return kind != "orderbook" or depth in BOOK_DEPTHS

    def book_stream(self, category: str, symbol: str, depth: int) -> BookStream:
        key = (category, f"orderbook.{depth}.{symbol}")
        stream = self.books.get(key)
        if stream is None:
            u0 = 1_000_000 + zlib.crc32(f"{self.market.seed}:{key}".encode()) % 100_000_000
            stream = BookStream(category, self.market.book(category, symbol), depth, u0, self.l1_repeat_ms)
            self.books[key] = stream
        return stream

    def _ticker(self, category: str, symbol: str) -> TickerStream:
        key = (category, f"tickers.{symbol}")
        stream = self.tickers.get(key)
        if stream is None:
            stream = TickerStream(category, self.tapes[(category, symbol)])
            self.tickers[key] = stream
        return stream

    # --- subscriptions ----------------------------------------------------------------------
    def subscribe(
        self, conn: Hashable, category: str, topics: list[str], ts: int
    ) -> tuple[list[bytes], list[str]]:
        """Add ``conn`` to ``topics``; return (initial snapshots, replay topics to play)."""
        snaps: list[bytes] = []
        replays: list[str] = []
        for topic in topics:
            key = (category, topic)
            if key in self.replay:
                replays.append(topic)
                continue
            subs = self.subs.setdefault(key, set())
            first = not subs
            subs.add(conn)
            kind, depth, symbol = parse_topic(topic) or ("", 0, "")
            if kind == "orderbook":
                stream = self.book_stream(category, symbol, depth)
                if first or not stream.active:
                    stream.activate(ts)
                snaps.append(stream.snapshot(ts))
            elif kind == "tickers":
                ticker = self._ticker(category, symbol)
                if first or not ticker.active:
                    ticker.activate(ts)
                snaps.append(ticker.snapshot(ts))
        self.sent["snapshot"] += len(snaps)
        return snaps, replays

    def unsubscribe(self, conn: Hashable, category: str, topics: list[str]) -> None:
        for topic in topics:
            key = (category, topic)
            subs = self.subs.get(key)
            if subs is None:
                continue
            subs.discard(conn)
            if not subs:
                del self.subs[key]
                if key in self.books:
                    self.books[key].deactivate()
                if key in self.tickers:
                    self.tickers[key].active = False

    def subscribers(self, category: str, topic: str) -> set[Hashable]:
        return self.subs.get((category, topic), set())

    # --- time -------------------------------------------------------------------------------
    def _mode(self, category: str, topic: str) -> tuple[str, str]:
        """(push mode, fault to consume once a frame is produced) for a book topic."""
        f = self.faults
        match = {"category": category, "topic": topic}
        if f.get("stall", **match) is not None:
            return "stall", ""
        restart = f.get("restart", **match)
        if restart is not None:
            return ("restart_delta" if restart.get("mode") == "delta" else "restart_snapshot"), "restart"
        if f.get("resend_snapshot", **match) is not None:
            return "snapshot", "resend_snapshot"
        if f.get("skip_delta", **match) is not None:
            return "skip", "skip_delta"
        return "delta", ""

    def tick(self, ts: int) -> list[Send]:
        """Advance the market one tick and return what to send to whom."""
        self.tick_no += 1
        n = self.tick_no
        self.market.step()
        out: list[Send] = []
        sent = self.sent
        faults = bool(self.faults)
        for key, tape in self.tapes.items():
            book = tape.book
            if book.pending_trades:
                records = tape.records(book.pending_trades, ts)
                book.pending_trades.clear()
                subs = self.subs.get((key[0], tape.topic))
                if subs and not (faults and self.faults.get("stall", category=key[0], topic=tape.topic)):
                    out.append((subs, tape.trade_message(records, ts)))
                    sent["publicTrade"] += len(subs)
        for key, stream in self.books.items():
            if not stream.active or n % BOOK_EVERY[stream.depth]:
                continue
            mode, fault = self._mode(*key) if faults else ("delta", "")
            if mode == "stall":
                continue
            frame = stream.push(ts, "delta" if mode == "skip" else mode)
            if frame is None:
                continue
            if fault:
                self.faults.take(fault, category=key[0], topic=key[1])
                if mode == "skip":
                    continue  # the delta is lost on the wire: a u gap for every subscriber
            subs = self.subs.get(key)
            if subs:
                out.append((subs, frame))
                sent["orderbook"] += len(subs)
        for key, ticker in self.tickers.items():
            if not ticker.active or n % TICKER_EVERY[key[0]]:
                continue
            if faults and self.faults.get("stall", category=key[0], topic=key[1]):
                continue
            frame = ticker.push(ts)
            subs = self.subs.get(key)
            if frame is not None and subs:
                out.append((subs, frame))
                sent["tickers"] += len(subs)
        return out

    # --- inspection -------------------------------------------------------------------------
    def book_state(self, category: str, symbol: str, depth: int, truth: bool = False) -> dict[str, Any]:
        """The book of ``orderbook.{depth}.{symbol}`` as a correct client holds it after the last
        message sent on the topic (or the current true window with ``truth``)."""
        stream = self.book_stream(category, symbol, depth)
        ever_sent = bool(stream.sent_b or stream.sent_a)
        state = stream.true_book() if truth or not ever_sent else stream.sent_book()
        state["active"] = stream.active
        return state
