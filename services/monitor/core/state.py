"""The monitor's aggregate view of the bus, built from messages and receive times. Pure: no I/O.

The shell hands every drained batch to :meth:`MonitorState.on_batch` with the publisher it came
from (``feed``, ``book`` or ``executor``) and the wall-clock receive time in ns; it reads the
result at scrape time (ages are computed then, from the ``now_ns`` it passes in).

What is aggregated (what no single service can see):

* latency stages per symbol (seconds; negative values, i.e. clock skew, count as 0 and are
  counted in ``clock_skew``):
  ``exchange_to_feed`` = feed ``recv_ns`` - exchange ``ts`` (feed receive lag, from ``md.*``),
  ``feed_to_monitor`` = monitor receive - feed ``recv_ns`` (from ``md.*``),
  ``feed_to_book`` = book ``pub_ns`` - feed ``recv_ns`` (from ``bk.bbo``),
  ``book_to_monitor`` = monitor receive - book ``pub_ns``,
  ``exchange_to_book`` = book ``pub_ns`` - exchange ``ts``: end to end, exchange to queryable book,
  ``exchange_to_monitor`` = monitor receive - exchange ``ts``;
* per-symbol last-seen times (staleness) and message counts (rates) per kind;
* bus ``bus_seq`` gaps, lost messages and publisher restarts, per publisher (:class:`SeqTracker`);
* book states and resyncs (from ``Bbo.state``), feed stream states (``StreamStatus``);
* order outcomes (``ExecReport.status``) and reject codes;
* heartbeats per service (liveness = heartbeat age below a timeout).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.common.wire import (
    Bbo,
    BookUpdate,
    BusMessage,
    ExecReport,
    Heartbeat,
    StreamStatus,
    Ticker,
    Trades,
)
from services.monitor.core.histogram import Histogram
from services.monitor.core.probe import ProbeResult, ProbeView

NS = 1_000_000_000
MS = 1_000_000
PUBLISHERS = ("feed", "book", "executor")
STAGES = (
    "exchange_to_feed",
    "feed_to_monitor",
    "feed_to_book",
    "book_to_monitor",
    "exchange_to_book",
    "exchange_to_monitor",
)
#: Book states that mean "rebuilding from a snapshot"; entering one counts as a resync.
RESYNC_STATES = frozenset({"syncing", "resyncing"})
#: Feed stream states that count as a disconnect when entered.
DISCONNECT_STATES = frozenset({"disconnected", "error"})
_KIND_OF = {BookUpdate: "book", Trades: "trade", Ticker: "ticker", Bbo: "bbo"}

SymbolKey = tuple[str, str]


class Lost(Protocol):
    @property
    def lost(self) -> int: ...


class SeqObserver(Protocol):
    """What :class:`services.common.bus.SeqTracker` offers (injected: it lives beside zmq code)."""

    def observe(self, topic: str, epoch: int, seq: int) -> Lost | None: ...

    def observe_heartbeat(self, hb: Heartbeat) -> Sequence[Lost]: ...


@dataclass(slots=True)
class SymbolView:
    """What the monitor knows about one ``(category, symbol)``."""

    last_ns: dict[str, int] = field(default_factory=dict)
    book_state: str = ""
    stream_state: str = ""
    stream_reason: str = ""
    bid: str = ""
    ask: str = ""


@dataclass(slots=True)
class ServiceView:
    """Heartbeat bookkeeping for one service."""

    last_ns: int = 0
    epoch: int = 0
    restarts: int = 0
    info: dict[str, str] = field(default_factory=dict)


class MonitorState:
    """Aggregates bus traffic; every method takes the current time, none reads a clock.

    Args:
        start_ns: when the monitor started (ages of never-seen things count from here).
        symbols: the configured ``(category, symbol)`` pairs, always reported.
        services: services whose heartbeats are expected, always reported.
        heartbeat_timeout: seconds without a heartbeat after which a service is down.
        stale_after: seconds without data after which a symbol is stale (for ``/health``).
        buckets: latency histogram upper bounds in seconds.
        new_tracker: makes a bus_seq loss detector per publisher (``SeqTracker``).
    """

    def __init__(
        self,
        *,
        start_ns: int,
        symbols: Iterable[SymbolKey],
        services: Iterable[str] = PUBLISHERS,
        heartbeat_timeout: float = 5.0,
        stale_after: float = 10.0,
        buckets: Sequence[float] = (0.001, 0.01, 0.1, 1.0),
        new_tracker: Callable[[], SeqObserver],
    ) -> None:
        self.new_tracker = new_tracker
        self.start_ns = start_ns
        self.heartbeat_timeout = heartbeat_timeout
        self.stale_after = stale_after
        self.bounds = tuple(float(b) for b in buckets)
        self.symbols: dict[SymbolKey, SymbolView] = {key: SymbolView() for key in symbols}
        self.services: dict[str, ServiceView] = {name: ServiceView() for name in services}
        self.trackers: dict[str, SeqObserver] = {name: new_tracker() for name in PUBLISHERS}
        self.messages: dict[tuple[str, str, str], int] = {}
        self.received: dict[str, int] = dict.fromkeys(PUBLISHERS, 0)
        self.heartbeats: dict[str, int] = dict.fromkeys(self.services, 0)
        self.gaps: dict[str, int] = dict.fromkeys(PUBLISHERS, 0)
        self.lost: dict[str, int] = dict.fromkeys(PUBLISHERS, 0)
        self.decode_errors: dict[str, int] = dict.fromkeys(PUBLISHERS, 0)
        self.latency: dict[tuple[str, str, str], Histogram] = {}
        self.clock_skew: dict[str, int] = dict.fromkeys(STAGES, 0)
        self.book_states: dict[tuple[str, str, str], int] = {}
        self.resyncs: dict[SymbolKey, int] = dict.fromkeys(self.symbols, 0)
        self.stream_states: dict[tuple[str, str, str], int] = {}
        self.disconnects: dict[SymbolKey, int] = dict.fromkeys(self.symbols, 0)
        self.reports: dict[tuple[str, str, str], int] = {}
        self.rejects: dict[str, int] = {}
        self.probe = ProbeView(self.bounds)
        for key in self.symbols:
            for stage in STAGES:
                self.latency[(stage, *key)] = Histogram(self.bounds)

    # --- input ----------------------------------------------------------------------------

    def on_batch(self, publisher: str, batch: Sequence[tuple[str, BusMessage]], now_ns: int) -> None:
        """Account for messages drained together from ``publisher`` at ``now_ns``."""
        tracker = self.trackers.get(publisher)
        if tracker is None:
            tracker = self.trackers[publisher] = self.new_tracker()
        self.received[publisher] = self.received.get(publisher, 0) + len(batch)
        for topic, msg in batch:
            gap = tracker.observe(topic, msg.epoch, msg.bus_seq)
            if gap is not None:
                self._gap(publisher, gap.lost)
            if isinstance(msg, Heartbeat):
                self._heartbeat(tracker, publisher, msg, now_ns)
            elif isinstance(msg, Bbo):
                self._bbo(msg, now_ns)
            elif isinstance(msg, BookUpdate | Trades | Ticker):
                self._market(msg, now_ns)
            elif isinstance(msg, StreamStatus):
                self._status(msg, now_ns)
            else:
                self._report(msg, now_ns)

    def on_decode_errors(self, publisher: str, count: int) -> None:
        """Count ``count`` undecodable payloads from ``publisher``."""
        if count:
            self.decode_errors[publisher] = self.decode_errors.get(publisher, 0) + count

    def on_probe(self, result: ProbeResult, now_ns: int) -> None:
        """Record one book-service probe round."""
        self.probe.record(result, now_ns)

    def _gap(self, publisher: str, lost: int) -> None:
        self.gaps[publisher] = self.gaps.get(publisher, 0) + 1
        self.lost[publisher] = self.lost.get(publisher, 0) + max(lost, 0)

    def _symbol(self, category: str, symbol: str) -> SymbolView:
        key = (category, symbol)
        view = self.symbols.get(key)
        if view is None:
            view = self.symbols[key] = SymbolView()
            self.resyncs[key] = 0
            self.disconnects[key] = 0
        return view

    def _count(self, kind: str, category: str, symbol: str, now_ns: int) -> SymbolView:
        view = self._symbol(category, symbol)
        view.last_ns[kind] = now_ns
        key = (kind, category, symbol)
        self.messages[key] = self.messages.get(key, 0) + 1
        return view

    def _observe(self, stage: str, category: str, symbol: str, delta_ns: int) -> None:
        if delta_ns < 0:
            self.clock_skew[stage] += 1
            delta_ns = 0
        key = (stage, category, symbol)
        hist = self.latency.get(key)
        if hist is None:
            hist = self.latency[key] = Histogram(self.bounds)
        hist.observe(delta_ns / NS)

    def _market(self, msg: BookUpdate | Trades | Ticker, now_ns: int) -> None:
        self._count(_KIND_OF[type(msg)], msg.category, msg.symbol, now_ns)
        if msg.recv_ns > 0:
            if msg.ts > 0:
                self._observe("exchange_to_feed", msg.category, msg.symbol, msg.recv_ns - msg.ts * MS)
            self._observe("feed_to_monitor", msg.category, msg.symbol, now_ns - msg.recv_ns)

    def _bbo(self, msg: Bbo, now_ns: int) -> None:
        view = self._count("bbo", msg.category, msg.symbol, now_ns)
        view.bid, view.ask = msg.bid, msg.ask
        self._book_state(msg.category, msg.symbol, view, msg.state)
        cat, sym = msg.category, msg.symbol
        if msg.pub_ns > 0:
            self._observe("book_to_monitor", cat, sym, now_ns - msg.pub_ns)
            if msg.recv_ns > 0:
                self._observe("feed_to_book", cat, sym, msg.pub_ns - msg.recv_ns)
        if msg.ts > 0:
            exchange_ns = msg.ts * MS
            self._observe("exchange_to_monitor", cat, sym, now_ns - exchange_ns)
            if msg.pub_ns > 0:
                self._observe("exchange_to_book", cat, sym, msg.pub_ns - exchange_ns)

    def _book_state(self, category: str, symbol: str, view: SymbolView, state: str) -> None:
        if state == view.book_state or not state:
            return
        view.book_state = state
        key = (category, symbol, state)
        self.book_states[key] = self.book_states.get(key, 0) + 1
        if state in RESYNC_STATES:
            self.resyncs[(category, symbol)] = self.resyncs.get((category, symbol), 0) + 1

    def _status(self, msg: StreamStatus, now_ns: int) -> None:
        view = self._count("status", msg.category, msg.symbol, now_ns)
        if msg.state != view.stream_state:
            key = (msg.category, msg.symbol, msg.state)
            self.stream_states[key] = self.stream_states.get(key, 0) + 1
            if msg.state in DISCONNECT_STATES:
                sym_key = (msg.category, msg.symbol)
                self.disconnects[sym_key] = self.disconnects.get(sym_key, 0) + 1
        view.stream_state, view.stream_reason = msg.state, msg.reason

    def _report(self, msg: ExecReport, now_ns: int) -> None:
        self._count("report", msg.category, msg.symbol, now_ns)
        key = (msg.status, msg.category, msg.symbol)
        self.reports[key] = self.reports.get(key, 0) + 1
        if msg.status == "rejected":
            code = msg.code or "unknown"
            self.rejects[code] = self.rejects.get(code, 0) + 1

    def _heartbeat(self, tracker: SeqObserver, publisher: str, hb: Heartbeat, now_ns: int) -> None:
        view = self.services.get(hb.service)
        if view is None:
            view = self.services[hb.service] = ServiceView()
        if view.epoch and hb.epoch != view.epoch:
            view.restarts += 1
        view.last_ns, view.epoch, view.info = now_ns, hb.epoch, dict(hb.info)
        self.heartbeats[hb.service] = self.heartbeats.get(hb.service, 0) + 1
        for gap in tracker.observe_heartbeat(hb):
            self._gap(publisher, gap.lost)

    # --- output ---------------------------------------------------------------------------

    def age(self, last_ns: int, now_ns: int) -> float:
        """Seconds since ``last_ns`` (since start when never seen), never negative."""
        return max(now_ns - (last_ns or self.start_ns), 0) / NS

    def staleness(self, now_ns: int) -> dict[tuple[str, str, str], float]:
        """Seconds per ``(source, category, symbol)``: feed = last ``md.book``, book = last ``bk.bbo``."""
        out: dict[tuple[str, str, str], float] = {}
        for (cat, sym), view in self.symbols.items():
            out[("feed", cat, sym)] = self.age(view.last_ns.get("book", 0), now_ns)
            out[("book", cat, sym)] = self.age(view.last_ns.get("bbo", 0), now_ns)
        return out

    def service_ages(self, now_ns: int) -> dict[str, float]:
        return {name: self.age(view.last_ns, now_ns) for name, view in self.services.items()}

    def service_up(self, name: str, now_ns: int) -> bool:
        view = self.services.get(name)
        return bool(view and view.last_ns and self.age(view.last_ns, now_ns) < self.heartbeat_timeout)

    def health(self, now_ns: int) -> dict[str, object]:
        """The ``/health`` document: ``status`` is ``ok`` only if every service and symbol is fine."""
        services = {
            name: {
                "up": self.service_up(name, now_ns),
                "heartbeat_age_s": round(self.age(view.last_ns, now_ns), 3),
                "restarts": view.restarts,
                "info": view.info,
            }
            for name, view in sorted(self.services.items())
        }
        symbols: dict[str, object] = {}
        all_fresh = True
        for (cat, sym), view in sorted(self.symbols.items()):
            feed_age = self.age(view.last_ns.get("book", 0), now_ns)
            book_age = self.age(view.last_ns.get("bbo", 0), now_ns)
            fresh = max(feed_age, book_age) < self.stale_after
            all_fresh = all_fresh and fresh
            symbols[f"{cat}:{sym}"] = {
                "fresh": fresh,
                "feed_age_s": round(feed_age, 3),
                "book_age_s": round(book_age, 3),
                "book_state": view.book_state or self.probe.states.get((cat, sym), ""),
                "stream_state": view.stream_state,
                "bid": view.bid,
                "ask": view.ask,
                "resyncs": self.resyncs.get((cat, sym), 0),
            }
        all_up = all(s["up"] for s in services.values())
        return {
            "status": "ok" if all_up and all_fresh else "degraded",
            "uptime_s": round(self.age(self.start_ns, now_ns), 3),
            "services": services,
            "symbols": symbols,
            "bus": {
                "received": dict(self.received),
                "gaps": dict(self.gaps),
                "lost": dict(self.lost),
                "decode_errors": dict(self.decode_errors),
            },
            "book_probe": self.probe.health(),
            "orders": {f"{s}:{c}:{y}": n for (s, c, y), n in sorted(self.reports.items())},
        }
