"""The book service's main loop: one thread, one ``zmq.Poller`` over the bus SUB socket and the
query ROUTER socket, plus timers. No asyncio.

Each loop turn answers up to :data:`QUERY_BATCH` queries and applies up to :data:`BUS_BATCH`
bus messages, alternating until both are drained, so neither starves the other: after each
batch the other socket is checked again, so what arrived on it meanwhile is handled next. Every
:data:`TICK` seconds it checks staleness, asks the feed for due snapshots, logs resync events
and flushes metrics. Resnapshot requests run in a worker thread (:mod:`.adapters.feed_control`);
Prometheus is served from its own thread.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import zmq

from services.book.adapters import bus_in
from services.book.adapters.bbo import BboPublisher
from services.book.adapters.feed_control import FeedControl
from services.book.adapters.responder import QueryServer
from services.book.core.sync import BUS_GAP, HB_GAP, BookRegistry
from services.book.metrics import BookMetrics
from services.common import topics
from services.common.bus import Gap, Subscriber
from services.common.config import Settings
from services.common.log import get_logger
from services.common.metrics import MetricsServer, new_registry, serve_metrics
from services.common.security import CurveConfig, client_curve
from services.common.wire import BookUpdate, Heartbeat, StreamStatus

QUERY_BATCH = 64
#: ``gc.set_threshold`` for the book process (set by ``__main__``): gen0 collects after 50,000
#: net allocations instead of 700, so a batch's decoded messages die before being scanned.
GC_THRESHOLD = (50_000, 50, 1000)
BUS_BATCH = 256
TICK = 0.1
HEARTBEAT_EVERY = 1.0
FEED_SERVICE = "feed"

_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)

log = get_logger("book")


class BookService:
    def __init__(self, settings: Settings, *, ctx: zmq.Context[zmq.Socket[bytes]] | None = None) -> None:
        self.settings = settings
        self.ctx: zmq.Context[zmq.Socket[bytes]] = ctx or zmq.Context()
        now = time.monotonic()
        self.started = now
        self.registry = BookRegistry(
            settings.symbol_list(),
            now,
            stale_after=settings.book_stale_after,
            resync_timeout=settings.book_resync_timeout,
            depth=settings.orderbook_depth,
        )
        self.feed_hb: list[float | None] = [None]
        self.feed_epoch = 0
        self.feed_info: dict[str, str] = {}
        self.feed_seen = False
        self.bus_messages = 0
        self._decode_errors_seen = 0
        self.prom = new_registry()
        self.metrics = BookMetrics(self.prom, self.registry, self.feed_hb)
        self.sub = Subscriber(
            self.ctx,
            [settings.feed_pub],
            [f"{topics.BOOK}.", f"{topics.STATUS}.", topics.heartbeat(FEED_SERVICE)],
        )
        self.queries = QueryServer(
            self.ctx,
            settings.book_rep,
            self.registry,
            max_request_bytes=settings.book_max_request_bytes,
            status=self.status,
            on_query=self.metrics.on_query,
            curve=CurveConfig.from_settings(settings),
            metrics=self.prom,
        )
        self.bbo = BboPublisher(self.ctx, settings.book_pub)
        self.feed_ctl = FeedControl(
            self.ctx,
            settings.feed_ctl,
            timeout=min(1.0, settings.book_resync_timeout),
            curve=client_curve(CurveConfig.from_settings(settings)),
        )
        self.metrics_server: MetricsServer | None = None
        self._ctl_failing: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ status
    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        hb = self.feed_hb[0]
        hb_age = None if hb is None else now - hb
        limit = max(3.0, 3 * self.settings.feed_heartbeat_interval)
        stats = self.registry.stats
        return {
            "service": "book",
            "uptime_s": round(now - self.started, 3),
            "books": len(self.registry.books),
            "states": self.registry.state_counts(),
            "messages": self.bus_messages,
            "snapshots": stats.snapshots,
            "deltas": stats.deltas,
            "level_changes": stats.level_changes,
            "gaps": dict(stats.gaps),
            "resyncs": dict(stats.resyncs),
            "queries": self.queries.served,
            "bbo_published": self.bbo.published,
            "resnapshot_in_flight": self.feed_ctl.in_flight,
            "feed": {
                "connected": hb_age is not None and hb_age < limit,
                "last_heartbeat_age_ms": None if hb_age is None else int(hb_age * 1000),
                "epoch": self.feed_epoch,
                "info": self.feed_info,
            },
        }

    # ------------------------------------------------------------------ bus
    def ingest(self, limit: int = BUS_BATCH) -> int:
        """Apply up to ``limit`` bus messages; returns how many frames were read (0 = drained)."""
        msgs = bus_in.drain(self.sub, limit)
        if not msgs:
            return 0
        now = time.monotonic()
        t0 = time.perf_counter()
        registry = self.registry
        tracker = self.sub.tracker
        for topic, msg in msgs:
            gap = tracker.observe(topic, msg.epoch, msg.bus_seq)
            if gap is not None:
                self._on_gap(gap, BUS_GAP, now)
            if type(msg) is BookUpdate:
                registry.on_book(msg, now)
            elif type(msg) is StreamStatus:
                registry.on_status(msg, now)
            elif type(msg) is Heartbeat:
                self._on_heartbeat(msg, now)
        self.feed_seen = True
        n = len(msgs)
        self.bus_messages += n
        self.metrics.apply_seconds.observe((time.perf_counter() - t0) / n)
        touched = registry.take_touched()
        if touched:
            self.metrics.bbo.inc(self.bbo.publish_changes(touched))
        return n

    def _on_heartbeat(self, hb: Heartbeat, now: float) -> None:
        if hb.service != FEED_SERVICE:
            return
        self.feed_hb[0] = now
        if hb.epoch != self.feed_epoch:
            if self.feed_epoch:
                log.info("feed restarted", epoch=hb.epoch)
            self.feed_epoch = hb.epoch
        self.feed_info = hb.info
        for gap in self.sub.tracker.observe_heartbeat(hb):
            self._on_gap(gap, HB_GAP, now)

    def _on_gap(self, gap: Gap, cause: str, now: float) -> None:
        try:
            kind, category, symbol = topics.split(gap.topic)
        except ValueError:
            return
        if kind == topics.BOOK:
            self.registry.on_bus_gap(category, symbol, cause, now, f"{gap.topic}: lost {gap.lost}")
        else:
            self.registry.stats.bump(self.registry.stats.gaps, f"{cause}_other")

    # ------------------------------------------------------------------ timers
    def tick(self, now: float) -> None:
        registry = self.registry
        registry.check_stale(now)
        for key, result, detail in self.feed_ctl.take_results():
            self.metrics.requests.labels(result=result).inc()
            if result == "ok":
                self._ctl_failing.discard(key)
            elif key not in self._ctl_failing:  # log once per failure streak, count every one
                self._ctl_failing.add(key)
                log.warning(
                    "resnapshot request failed", category=key[0], symbol=key[1], result=result, detail=detail
                )
        for key in registry.due_requests(now, feed_seen=self.feed_seen):
            self.feed_ctl.request(key)
        for key, cause, detail in registry.take_events():
            if cause == "stale":
                log.warning("book stale", category=key[0], symbol=key[1])
            else:
                log.warning("book resync", category=key[0], symbol=key[1], cause=cause, detail=detail)
        touched = registry.take_touched()
        if touched:
            self.metrics.bbo.inc(self.bbo.publish_changes(touched))
        errors = self.sub.decode_errors - self._decode_errors_seen
        self._decode_errors_seen = self.sub.decode_errors
        self.metrics.flush(registry.stats, errors)

    # ------------------------------------------------------------------ loop
    def run(self, stop: threading.Event) -> None:
        s = self.settings
        self.metrics_server = serve_metrics(self.prom, s.metrics_host, s.book_metrics_port)
        log.info(
            "book started",
            feed_pub=s.feed_pub,
            feed_ctl=s.feed_ctl,
            book_rep=s.book_rep,
            book_pub=s.book_pub,
            metrics_port=self.metrics_server.port,
            symbols=len(self.registry.books),
        )
        poller = zmq.Poller()
        poller.register(self.sub.sock, zmq.POLLIN)
        poller.register(self.queries.sock, zmq.POLLIN)
        query_sock = self.queries.sock
        bus_sock = self.sub.sock
        next_tick = time.monotonic()
        next_hb = next_tick
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= next_tick:
                    self.tick(now)
                    next_tick = now + TICK
                    if now >= next_hb:
                        self.bbo.heartbeat({k: str(v) for k, v in self.registry.state_counts().items()})
                        next_hb = now + HEARTBEAT_EVERY
                    continue
                events = poller.poll(max(1, int((next_tick - now) * 1000) + 1))
                if not events:
                    continue
                ready = dict(events)
                q_ready = query_sock in ready
                b_ready = bus_sock in ready
                # Alternate bounded batches until both are drained: neither side starves.
                while q_ready or b_ready:
                    # Whatever arrived on one socket while the other's batch was handled is
                    # taken next (one EVENTS check, ~1.7 us), not after the other's backlog.
                    if q_ready:
                        q_ready = self.queries.serve(QUERY_BATCH) == QUERY_BATCH
                        b_ready = b_ready or bool(int(bus_sock.getsockopt(_EVENTS)) & _POLLIN)
                    if b_ready:
                        b_ready = self.ingest(BUS_BATCH) == BUS_BATCH
                        q_ready = q_ready or bool(int(query_sock.getsockopt(_EVENTS)) & _POLLIN)
                    if time.monotonic() >= next_tick:
                        break
        finally:
            self.close()

    def close(self) -> None:
        log.info("book stopping")
        self.feed_ctl.close()
        self.queries.close()
        self.sub.close()
        self.bbo.close()
        if self.metrics_server is not None:
            self.metrics_server.close()
            self.metrics_server = None
        self.ctx.term()
