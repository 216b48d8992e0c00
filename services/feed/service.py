"""Build the feed from Settings and run it: connections, PUB socket, heartbeat, control, metrics.

Everything runs on one asyncio loop: one task per WebSocket connection, one heartbeat task
(``sys.hb.feed`` every ``feed_heartbeat_interval`` s with the connection states as ``info``), and
the control endpoint's socket watched by the loop. The metrics HTTP server runs in its own thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
from typing import Any

import zmq

from services.common.backoff import Backoff
from services.common.bus import Publisher
from services.common.config import Settings
from services.common.errors import ConfigError
from services.common.log import get_logger
from services.common.metrics import new_registry, serve_metrics, up_gauge
from services.common.rpc import error_reply
from services.common.security import CurveConfig, server_mode
from services.feed.adapters.connection import BaseConnection
from services.feed.adapters.control import ControlServer
from services.feed.adapters.metrics import FeedMetrics
from services.feed.adapters.recorder import Recorder
from services.feed.core.control import BadRequest, PingRequest, Resnapshot, parse_request
from services.feed.core.plan import parse_channels, plan_connections
from services.feed.core.session import Session, UnknownTopic

#: ``feed_ws_client`` -> module and class of the transport (imported on use: a missing
#: optional library only matters when it is chosen).
TRANSPORTS = {
    "picows": ("services.feed.adapters.ws_picows", "PicowsConnection"),
    "websockets": ("services.feed.adapters.ws", "WebsocketsConnection"),
}


def transport_class(client: str) -> type[BaseConnection]:
    """The connection class of ``feed_ws_client``; raise ConfigError if unknown or not installed."""
    if client not in TRANSPORTS:
        raise ConfigError(f"TICKWIRE_FEED_WS_CLIENT={client!r}: choose one of {', '.join(TRANSPORTS)}")
    module, name = TRANSPORTS[client]
    try:
        cls: type[BaseConnection] = getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise ConfigError(
            f"TICKWIRE_FEED_WS_CLIENT={client!r} needs the {client} package: {exc}; "
            "install it or set TICKWIRE_FEED_WS_CLIENT=websockets"
        ) from None
    return cls


SERVICE = "feed"


def validate(settings: Settings) -> None:
    """Feed-specific checks on top of load_settings; raise ConfigError."""
    parse_channels(settings.feed_channels)
    if not settings.symbol_list():
        raise ConfigError("TICKWIRE_SYMBOLS is empty: give category:SYMBOL pairs")
    if "{category}" not in settings.bybit_public_ws_url:
        raise ConfigError("TICKWIRE_BYBIT_PUBLIC_WS_URL must contain {category}")
    if settings.feed_ping_interval <= 0 or settings.feed_pong_timeout <= 0:
        raise ConfigError("TICKWIRE_FEED_PING_INTERVAL and TICKWIRE_FEED_PONG_TIMEOUT must be positive")
    if settings.feed_topics_per_connection < 1:
        raise ConfigError("TICKWIRE_FEED_TOPICS_PER_CONNECTION must be at least 1")
    if settings.feed_max_frame_bytes < 1:
        raise ConfigError("TICKWIRE_FEED_MAX_FRAME_BYTES must be positive")
    transport_class(settings.feed_ws_client)
    server_mode(settings.feed_ctl, CurveConfig.from_settings(settings))  # the control endpoint's policy


class Feed:
    """The assembled service (sockets are created in :meth:`open`)."""

    def __init__(self, settings: Settings) -> None:
        validate(settings)
        self.settings = settings
        self.log = get_logger("feed")
        channels = parse_channels(settings.feed_channels)
        plans = plan_connections(
            settings.symbol_list(), channels, settings.orderbook_depth, settings.feed_topics_per_connection
        )
        self.sessions = [
            Session(p, ping_interval=settings.feed_ping_interval, pong_timeout=settings.feed_pong_timeout)
            for p in plans
        ]
        self.registry = new_registry()
        up_gauge(self.registry, SERVICE)
        self.metrics = FeedMetrics(self.registry, lambda: self.sessions)
        self.recorder = Recorder(settings.feed_record_dir) if settings.feed_record_dir else None
        self.connection_class = transport_class(settings.feed_ws_client)
        self.connections: list[BaseConnection] = []
        self.by_symbol: dict[tuple[str, str], BaseConnection] = {}
        self.ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self.pub: Publisher | None = None
        self.control: ControlServer | None = None

    def open(self) -> None:
        s = self.settings
        self.ctx = zmq.Context()
        self.pub = Publisher(self.ctx, s.feed_pub, service=SERVICE, hwm=s.feed_pub_hwm)
        self.control = ControlServer(
            self.ctx,
            s.feed_ctl,
            self.handle_control,
            curve=CurveConfig.from_settings(s),
            registry=self.registry,
        )
        for session in self.sessions:
            url = s.bybit_public_ws_url.replace("{category}", session.category)
            conn = self.connection_class(
                session,
                url,
                publish=self.pub.publish,
                backoff=Backoff(s.feed_backoff_initial, s.feed_backoff_max),
                max_frame_bytes=s.feed_max_frame_bytes,
                on_state=self.metrics.set_state,
                recorder=self.recorder,
            )
            self.connections.append(conn)
            for symbol in session.by_symbol:
                self.by_symbol[(session.category, symbol)] = conn

    # ------------------------------------------------------------------ control

    def handle_control(self, body: bytes) -> dict[str, Any]:
        try:
            req = parse_request(body)
        except BadRequest as exc:
            return exc.reply
        if isinstance(req, PingRequest):
            return {"ok": True, "pong": True, "service": SERVICE}
        if isinstance(req, Resnapshot):
            conn = self.by_symbol.get((req.category, req.symbol))
            if conn is None:
                return error_reply("unknown_symbol", f"the feed does not carry {req.category}:{req.symbol}")
            try:
                result = conn.request_resnapshot(req.symbol)
            except UnknownTopic as exc:
                return error_reply("unknown_symbol", str(exc))
            return {"ok": True, "result": result, "conn": conn.conn_id}
        return {
            "ok": True,
            "service": SERVICE,
            "connections": [self._conn_status(c) for c in self.connections],
        }

    def _conn_status(self, conn: BaseConnection) -> dict[str, Any]:
        return {"id": conn.conn_id, "url": conn.url, "state": conn.state, **conn.session.snapshot_state()}

    def states(self) -> dict[str, str]:
        return {c.conn_id: c.state for c in self.connections}

    # ------------------------------------------------------------------ run

    async def run(self, stop: asyncio.Event) -> None:
        assert self.pub is not None and self.control is not None
        loop = asyncio.get_running_loop()
        self.control.start(loop)
        tasks = [asyncio.ensure_future(c.run()) for c in self.connections]
        self.log.info(
            "feed_started",
            pub=self.pub.endpoint,
            ws_client=self.settings.feed_ws_client,
            ctl=self.settings.feed_ctl,
            connections={c.conn_id: len(c.session.routes) for c in self.connections},
        )
        interval = self.settings.feed_heartbeat_interval
        try:
            while not stop.is_set():
                self.pub.heartbeat(self.states())
                self.control.drain()
                if self.recorder is not None:
                    await asyncio.to_thread(self.recorder.flush)
                for task in tasks:
                    if task.done() and not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()
        if self.control is not None:
            self.control.close()
        if self.pub is not None:
            self.pub.close()
        if self.ctx is not None:
            self.ctx.term()


async def main(stop: asyncio.Event, settings: Settings) -> None:
    """Run the feed until ``stop`` is set."""
    feed = Feed(settings)
    metrics = serve_metrics(feed.registry, settings.metrics_host, settings.feed_metrics_port)
    try:
        feed.open()
        gc.freeze()  # start-up objects leave the collector's generations: shorter GC pauses
        await feed.run(stop)
    finally:
        feed.close()
        metrics.close()
