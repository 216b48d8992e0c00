"""The executor's shell: sockets, clocks, start-up, the poll loop and periodic work.

One thread runs everything that touches the journal or order state (the loop below); the private
WebSocket runs in its own thread and hands frames over an ``inproc`` socket, and REST calls run on
``executor_http_workers`` sender threads (:mod:`services.executor.calls`) that signal finished calls
on an eventfd. The loop polls the intent PULL socket, the inproc socket and that eventfd; each
round applies finished calls first (so a call's outcome is reported before the stream's news of
that order), then stream frames, then intents drained without blocking, which the
:class:`~services.executor.engine.Engine` journals in one transaction and hands to free senders.
On stop, calls in flight get up to ``executor_http_timeout`` + 1 s to finish and be journaled.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import zmq

from services.common.config import Secret, Settings
from services.common.errors import ConfigError, ProtocolError
from services.common.log import get_logger
from services.common.metrics import new_registry, serve_metrics
from services.common.security import CurveConfig, ServerSecurity, client_curve, secure_server_socket
from services.executor.adapters.book import BookPrices
from services.executor.adapters.journal import Journal
from services.executor.adapters.private_ws import INPROC, PrivateStream, session_of
from services.executor.adapters.reports import ReportPublisher
from services.executor.adapters.rest import RestClient
from services.executor.adapters.wire import WireSender
from services.executor.calls import InlineSender, SenderPool
from services.executor.core.instruments import parse_instruments
from services.executor.core.modes import Endpoints
from services.executor.core.requests import build_instruments, build_time
from services.executor.core.risk import RiskGate, RiskLimits
from services.executor.core.signing import Signer
from services.executor.core.stream import Control, parse_frame
from services.executor.dispatch import Dispatcher, SharedRateLimiter
from services.executor.engine import Engine
from services.executor.metrics import ExecutorMetrics
from services.executor.recovery import reconcile

CATEGORIES = ("linear", "spot", "inverse")
HEARTBEAT_S = 1.0
UNKNOWN_CHECK_S = 2.0
CLOCK_SYNC_S = 300.0
MAX_DRAIN = 1000
#: Stream frames applied between two looks at the intent socket.
STREAM_CHUNK = 32
#: Largest ``executor_http_workers``.
MAX_HTTP_WORKERS = 64
#: The PULL socket's ZMQ MAXMSGSIZE is this many times ``executor_max_intent_bytes``.
HARD_CAP_FACTOR = 4
#: Seconds the start-up waits for the private stream before reconciling without it.
STREAM_WAIT_S = 5.0


def make_scrubber(*secrets: Secret) -> Any:
    values = [s.reveal() for s in secrets if s and len(s.reveal()) >= 4]

    def scrub(text: str) -> str:
        for v in values:
            if v in text:
                text = text.replace(v, "***")
        return text

    return scrub


class ExecutorService:
    def __init__(self, settings: Settings, endpoints: Endpoints, api_key: Secret, api_secret: Secret) -> None:
        if endpoints.needs_keys and endpoints.private_ws_url:
            session_of(settings.executor_ws_client)  # a missing library: refused before anything starts
        self.s = settings
        self.ep = endpoints
        self.log = get_logger("executor")
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.registry = new_registry()
        self.metrics = ExecutorMetrics(self.registry)
        scrub = make_scrubber(api_key, api_secret)
        self.signer = (
            Signer(api_key, api_secret, settings.executor_recv_window) if endpoints.needs_keys else None
        )
        self.rest = RestClient(endpoints.rest_url, self.signer, timeout=settings.executor_http_timeout)
        self.paper: Any = None
        transport: Any = self.rest
        if endpoints.mode == "paper":
            from services.executor.adapters.paper import PaperVenue

            self.paper = PaperVenue(self.rest, None, self.ctx)
            transport = self.paper
        self.journal = Journal(settings.executor_journal, sync=settings.executor_journal_sync)
        self.reports = ReportPublisher(
            self.ctx,
            settings.executor_pub,
            scrub=scrub,
            on_report=lambda st: self.metrics.reports.labels(st).inc(),
        )
        self.limiter = SharedRateLimiter()
        self.dispatcher = Dispatcher(transport, self.limiter, self.metrics, self.log)
        workers = settings.executor_http_workers
        if not 0 <= workers <= MAX_HTTP_WORKERS:
            raise ConfigError(f"TICKWIRE_EXECUTOR_HTTP_WORKERS={workers}: choose 0..{MAX_HTTP_WORKERS}")
        wire = settings.executor_wire_connections
        if not 0 <= wire <= MAX_HTTP_WORKERS:
            raise ConfigError(f"TICKWIRE_EXECUTOR_WIRE_CONNECTIONS={wire}: choose 0..{MAX_HTTP_WORKERS}")
        # paper mode's venue lives on the loop's thread: one call at a time there
        self.sender: SenderPool | InlineSender | WireSender = (
            SenderPool(self.dispatcher, workers, self.log)
            if workers > 0 and self.paper is None
            else InlineSender(self.dispatcher, self.log)
        )
        target = self.rest.wire_target() if isinstance(self.sender, SenderPool) and wire > 0 else None
        if target is not None and isinstance(self.sender, SenderPool):
            self.sender = WireSender(
                self.dispatcher,
                self.rest,
                target,
                self.sender,
                wire,
                self.metrics,
                self.log,
                timeout=settings.executor_http_timeout,
            )
        limits = RiskLimits(
            max_order_notional=Decimal(settings.executor_max_order_notional),
            max_position=Decimal(settings.executor_max_position),
            max_open_orders=settings.executor_max_open_orders,
            max_orders_per_second=settings.executor_max_orders_per_second,
            price_band_pct=Decimal(settings.executor_price_band_pct),
        )
        now_ms = self.rest.now_ms
        self.gate = RiskGate(limits, kill_switch=settings.executor_kill_switch, now_ms=now_ms())
        self.metrics.kill_switch.set(1 if settings.executor_kill_switch else 0)
        needs_book = limits.band_enabled or endpoints.mode == "paper"
        self.curve = CurveConfig.from_settings(settings)
        self.book = (
            BookPrices(settings.book_rep, self.ctx, curve=client_curve(self.curve)) if needs_book else None
        )
        if self.paper is not None:
            self.paper.book = self.book
        self.engine = Engine(
            self.journal,
            self.reports,
            self.dispatcher,
            self.gate,
            self.book,
            self.metrics,
            self.log,
            now_ms=now_ms,
            sender=self.sender,
        )
        self.engine.max_intent_bytes = settings.executor_max_intent_bytes
        self.pull: zmq.Socket[bytes] = self.ctx.socket(zmq.PULL)
        self.pull.setsockopt(zmq.LINGER, 0)
        # Intents up to HARD_CAP_FACTOR x the limit are read and refused with a report (counted
        # ``too_large``); ZMQ drops larger ones (and that sender's connection) without reading them.
        self.pull.setsockopt(zmq.MAXMSGSIZE, max(settings.executor_max_intent_bytes * HARD_CAP_FACTOR, 4096))
        self.pull.setsockopt(zmq.RCVHWM, 100_000)
        self.inproc: zmq.Socket[bytes] = self.ctx.socket(zmq.PULL)
        self.inproc.bind(INPROC)
        self.stream: PrivateStream | None = None
        self.pull_security: ServerSecurity | None = None
        self.metrics_server: Any = None
        self._next_instruments = 0.0
        self._next_hb = 0.0
        self._next_check = 0.0
        self._next_clock = 0.0
        self._needs_reconcile = False
        self._ws_connects = 0

    # --- start-up ------------------------------------------------------------------------------
    def _sync_clock(self) -> bool:
        offset = self.dispatcher.t.sync_clock(build_time())
        if offset is None:
            return False
        self.metrics.clock_offset.set(offset)
        self.log.info("clock synchronised", offset_ms=offset)
        return True

    def _load_instruments(self) -> None:
        for category in CATEGORIES:
            found = []
            cursor = ""
            ok = True
            for _ in range(50):
                result = self.dispatcher.get_json(build_instruments(category, cursor))
                if result is None:
                    ok = False
                    break
                items, cursor = parse_instruments(category, result)
                found += items
                if not cursor:
                    break
            if ok:
                for inst in found:
                    self.engine.instruments[(category, inst.symbol)] = inst
                self.engine.loaded_categories.add(category)
            self.log.info(
                "instruments loaded" if ok else "instruments unavailable", category=category, count=len(found)
            )

    def start(self, stop: threading.Event) -> bool:
        self.metrics_server = serve_metrics(self.registry, self.s.metrics_host, self.s.executor_metrics_port)
        # plain on loopback; beyond loopback only with CURVE keys (docs/security.md)
        self.pull_security = secure_server_socket(
            self.ctx, self.pull, self.s.executor_pull, self.curve, registry=self.registry
        )
        delay = 0.5
        while not self._sync_clock():
            self.log.warning("exchange unreachable, retrying", url=self.ep.rest_url, retry_in_s=delay)
            if stop.wait(delay):
                return False
            delay = min(delay * 2, 10.0)
        self._load_instruments()
        self._next_instruments = time.monotonic() + self.s.executor_instruments_refresh
        self._next_clock = time.monotonic() + CLOCK_SYNC_S
        if self.signer is not None and self.ep.private_ws_url:
            self.stream = PrivateStream(
                self.ep.private_ws_url,
                self.signer,
                self.ctx,
                offset_ms=lambda: self.rest.offset_ms,
                client=self.s.executor_ws_client,
            )
            self.stream.start()
            # reconcile after the subscription when possible, so no update falls in between
            deadline = time.monotonic() + STREAM_WAIT_S
            while not self.stream.connected and time.monotonic() < deadline:
                if stop.wait(0.05):
                    return False
            if not self.stream.connected:
                self.log.warning("private stream not connected yet; starting anyway")
        while not reconcile(self.engine, self.s.symbol_list(), first=True):
            if stop.wait(2.0):
                return False
        self.log.info("executor ready", pull=self.s.executor_pull, pub=self.s.executor_pub, mode=self.ep.mode)
        return True

    # --- loop ----------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        if not self.start(stop):
            return
        poller = zmq.Poller()
        poller.register(self.pull, zmq.POLLIN)
        poller.register(self.inproc, zmq.POLLIN)
        done_fd = self.sender.fileno()
        if done_fd is not None:
            poller.register(done_fd, zmq.POLLIN)
        engine = self.engine
        while not stop.is_set():
            events = dict(poller.poll(50))
            try:
                # intents first, and again after each piece of other work: their latency is the point
                self._intents()
                if (done_fd in events or engine.inflight) and engine.pump():
                    self._intents()
                if self.inproc in events:
                    while frames := self._drain(self.inproc, STREAM_CHUNK):
                        self._on_stream(frames)
                        self._intents()
                        if len(frames) < STREAM_CHUNK:
                            break
                self._periodic()
            except Exception:  # a bug must not stop order handling: orders in doubt get looked up
                self.log.exception("executor loop error")
                self.metrics.bad_input.labels("internal_error").inc()
                engine.unknown.update(
                    link for link, o in engine.orders.items() if o.status in ("pending", "unknown")
                )
        self._settle()

    def _settle(self) -> None:
        """Stopping: let the calls in flight finish (bounded) and journal their outcomes."""
        try:
            left = self.engine.settle(self.s.executor_http_timeout + 1.0)
        except Exception:
            self.log.exception("error while finishing calls in flight")
            return
        if left:
            self.log.warning("stopping with calls in flight; recovery settles them at next start", count=left)

    def _intents(self) -> None:
        """Drain the intent socket without blocking and hand what came to the engine."""
        raws = self._drain(self.pull)
        if raws:
            self.engine.handle_intents(raws)
            if self.sender.fileno() is None:
                self.engine.pump()  # inline sending: the calls have run already

    @staticmethod
    def _drain(sock: zmq.Socket[bytes], limit: int = MAX_DRAIN) -> list[bytes]:
        out = []
        for _ in range(limit):
            try:
                out.append(sock.recv(zmq.NOBLOCK))
            except zmq.Again:
                break
        return out

    def _on_stream(self, frames: list[bytes]) -> None:
        records = []
        for frame in frames:
            if frame.startswith(b'{"_tw"'):
                self._on_ws_state(frame)
                continue
            try:
                parsed = parse_frame(frame)
            except ProtocolError:
                self.metrics.bad_input.labels("private_frame").inc()
                continue
            if isinstance(parsed, Control):
                if not parsed.success and parsed.op not in ("pong", "ping"):
                    self.log.warning("private stream op failed", op=parsed.op, message=parsed.message[:200])
            elif parsed:
                records += parsed
        if records:
            self.engine.on_records(records)

    def _on_ws_state(self, frame: bytes) -> None:
        connected = b'"connected"' in frame
        self.metrics.ws_connected.set(1 if connected else 0)
        if connected:
            # updates may have been missed before the subscription (start) or while down: reconcile
            self._ws_connects += 1
            self._needs_reconcile = True
        else:
            self.log.warning("private stream disconnected")

    def _periodic(self) -> None:
        now = time.monotonic()
        if self._needs_reconcile:
            self._needs_reconcile = not reconcile(self.engine, self.s.symbol_list(), first=False)
        if now >= self._next_hb:
            self._next_hb = now + HEARTBEAT_S
            self.reports.heartbeat(
                {
                    "mode": self.ep.mode,
                    "kill_switch": str(self.gate.kill_switch).lower(),
                    "private_ws": "up" if self.stream is not None and self.stream.connected else "down",
                    "open_orders": str(self.engine.open_count()),
                }
            )
            self.metrics.open_orders.set(self.engine.open_count())
            self.metrics.journal_bytes.set(self.journal.size_bytes())
            self.metrics.inflight.set(self.engine.inflight)
            self.metrics.held.set(self.engine.keys.held)
            now_ms = self.rest.now_ms()
            for (path, cat), frac in self.limiter.headroom(now_ms).items():
                self.metrics.headroom.labels(path, cat).set(frac)
            if self.paper is not None:
                self.paper.tick()
        if now >= self._next_check and self.engine.unknown:
            self._next_check = now + UNKNOWN_CHECK_S
            for link in list(self.engine.unknown):
                self.engine.resolve(link)
        if now >= self._next_clock:
            self._next_clock = now + CLOCK_SYNC_S
            self._sync_clock()
        if now >= self._next_instruments:
            self._next_instruments = now + self.s.executor_instruments_refresh
            self._load_instruments()

    def close(self) -> None:
        self.sender.close()
        if self.stream is not None:
            self.stream.stop()
        if self.metrics_server is not None:
            self.metrics_server.close()
        if self.pull_security is not None:
            self.pull_security.close()
        else:
            self.pull.close(linger=0)
        self.inproc.close(linger=0)
        self.reports.close()
        if self.paper is not None:
            self.paper.close()
        if self.book is not None:
            self.book.close()
        self.rest.close()
        self.journal.close()
        self.ctx.term()
