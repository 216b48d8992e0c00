"""Composition of the trading side: engine, keys, rate limiter, private hub, faults, metrics.

Shell code (reads the clock, owns asyncio queues). One :class:`TradingState` per simulator;
the REST handlers and the private WebSocket handler share it. Fault names it reads are listed in
:data:`FAULTS` (armed with ``POST /sim/fault``; see docs/bybit_sim_trading.md).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge

from services.bybit_sim.trading.core.accounts import parse_wallet
from services.bybit_sim.trading.core.engine import Engine, Push
from services.bybit_sim.trading.core.ratelimit import RateLimiter
from services.bybit_sim.trading.core.session import PrivateSession
from services.bybit_sim.trading.core.signing import ApiKey, parse_api_keys
from services.common.errors import ConfigError
from services.common.log import get_logger
from services.common.metrics import NAMESPACE, new_registry

#: Fault names read by the trading side, with their params.
FAULTS = {
    "http_5xx": "next `count` requests (optionally only `path`) get HTTP `status` (default 503)",
    "order_timeout": "next `count` order ops (optionally `path`) are executed, then the response is "
    "delayed `delay_ms` (default 15000) or, with mode=drop, the connection is dropped",
    "rate_limit_burst": "next `count` private requests (optionally `path`) answer 10006",
    "clock_skew": "server clock offset by `offset_ms` (persistent until cleared)",
    "drop_private": "close every private WebSocket now (mode=abort: no close frame, default; "
    "mode=close: close frame 1001)",
}

_encode = msgspec.json.Encoder().encode
DROP = b""  # sentinel queued to a connection to drop it


@dataclass(eq=False)
class PrivateConn:
    """One private WebSocket: its sans-I/O session and its outgoing queue."""

    session: PrivateSession
    queue: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    drop_mode: str = "abort"


class Metrics:
    """The trading side's Prometheus metrics (bounded labels)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        ns = f"{NAMESPACE}_sim_trading"
        self.requests = Counter(f"{ns}_requests_total", "REST requests by endpoint and retCode",
                                ["endpoint", "ret_code"], registry=registry)  # fmt: skip
        self.orders = Counter(f"{ns}_orders_total", "Orders accepted", ["category"], registry=registry)
        self.pushes = Counter(f"{ns}_pushes_total", "Private messages sent", ["topic"], registry=registry)
        self.bad_input = Counter(
            f"{ns}_bad_input_total", "Malformed client input", ["kind"], registry=registry
        )
        self.faults = Counter(f"{ns}_faults_injected_total", "Faults applied", ["name"], registry=registry)
        self.connections = Gauge(f"{ns}_private_connections", "Open private WebSockets", registry=registry)


class TradingState:
    """Everything the trading handlers share."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.market = ctx.market
        self.faults = ctx.faults
        settings = ctx.settings
        try:
            self.keys: dict[str, ApiKey] = parse_api_keys(settings.sim_api_keys)
        except ValueError as exc:
            raise ConfigError(f"TICKWIRE_SIM_API_KEYS: {exc}") from None
        try:
            balances = parse_wallet(settings.sim_wallet)
        except (ValueError, ArithmeticError) as exc:
            raise ConfigError(f"TICKWIRE_SIM_WALLET: {exc}") from None
        self.engine = Engine(self.market.instruments, balances, seed=getattr(settings, "sim_seed", 7))
        for key in self.market.instruments:
            self.engine.books[key] = self.market.book(*key)
        scale = float(getattr(settings, "sim_rate_limit_scale", 1.0))
        if not scale > 0:
            raise ConfigError(f"TICKWIRE_SIM_RATE_LIMIT_SCALE must be > 0, got {scale}")
        self.limiter = RateLimiter(scale)
        registry = getattr(ctx, "registry", None)
        if not isinstance(registry, CollectorRegistry):
            registry = new_registry()
        self.metrics = Metrics(registry)
        self.conns: set[PrivateConn] = set()
        #: Set when the server shuts down: held (``order_timeout``) responses stop waiting.
        self.stopping = asyncio.Event()
        self.log = get_logger("bybit_sim.trading")
        self._ids = itertools.count(1)
        self._rng = random.Random(getattr(settings, "sim_seed", 7))
        self._wall: Callable[[], int] = _wall_ms(ctx)
        self.market.add_listener(self._on_book)

    # --- time --------------------------------------------------------------------------------
    def now_ms(self) -> int:
        """Server time in ms, shifted by an armed ``clock_skew`` fault."""
        skew = self.faults.get("clock_skew") if self.faults else None
        offset = int(skew.get("offset_ms", 0)) if skew else 0
        return self._wall() + offset

    # --- private pushes ----------------------------------------------------------------------
    def new_conn(self) -> PrivateConn:
        alphabet = string.ascii_lowercase + string.digits
        conn_id = "".join(self._rng.choices(alphabet, k=20)) + "-" + "".join(self._rng.choices(alphabet, k=4))
        conn = PrivateConn(PrivateSession(conn_id, self.keys))
        self.conns.add(conn)
        self.metrics.connections.set(len(self.conns))
        return conn

    def close_conn(self, conn: PrivateConn) -> None:
        self.conns.discard(conn)
        self.metrics.connections.set(len(self.conns))

    def publish(self, pushes: list[Push]) -> None:
        """Deliver engine pushes to every subscribed private connection of their account."""
        if not pushes or not self.conns:
            return
        now = self.now_ms()
        for push in pushes:
            for conn in self.conns:
                for topic, data in conn.session.deliveries(push):
                    msg = {"id": f"{push.uid}_{topic}_{next(self._ids)}", "topic": topic,
                           "creationTime": now, "data": data}  # fmt: skip
                    conn.queue.put_nowait(_encode(msg))
                    self.metrics.pushes.labels(topic=topic.split(".", 1)[0]).inc()

    def drop_all(self, mode: str = "abort") -> int:
        """Drop every private connection (fault ``drop_private``); return how many."""
        for conn in self.conns:
            conn.drop_mode = mode
            conn.queue.put_nowait(DROP)
        return len(self.conns)

    def check_drop_fault(self) -> None:
        if self.faults and self.faults.get("drop_private") is not None:
            params = self.faults.take("drop_private") or {}
            self.faults.clear("drop_private")
            dropped = self.drop_all(str(params.get("mode", "abort")))
            self.metrics.faults.labels(name="drop_private").inc()
            self.log.info("fault applied", fault="drop_private", connections=dropped)

    def _on_book(self, category: str, symbol: str, book: Any) -> None:
        # called on every generator tick of every symbol: stay cheap when nothing rests there
        if not self.engine.has_resting(category, symbol):
            return
        pushes = self.engine.on_book(category, symbol, book, self.now_ms())
        if pushes:
            self.publish(pushes)

    async def watch_faults(self, interval: float = 0.05) -> None:
        """Apply ``drop_private`` as soon as it is armed (runs for the life of the server)."""
        while True:
            await asyncio.sleep(interval)
            self.check_drop_fault()


def _wall_ms(ctx: Any) -> Callable[[], int]:
    clock = getattr(ctx, "clock", None)
    now_ns = getattr(clock, "now_ns", None)
    if callable(now_ns):
        return lambda: int(now_ns()) // 1_000_000
    return lambda: time.time_ns() // 1_000_000
