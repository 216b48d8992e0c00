"""Composition root of the monitor: builds the state, threads, collector and HTTP app, runs them.

``build(settings)`` creates every collaborator; :meth:`MonitorService.run` serves until the stop
event is set, then stops the bus and probe threads and the HTTP server.
"""

from __future__ import annotations

import asyncio
import threading

import zmq
from aiohttp import web

from services.common.bus import SeqTracker
from services.common.clock import Clock, SystemClock
from services.common.config import Settings
from services.common.log import get_logger
from services.common.metrics import LATENCY_BUCKETS, new_registry, up_gauge
from services.monitor.adapters.bus import BusThread
from services.monitor.adapters.collector import MonitorCollector
from services.monitor.adapters.http import make_app
from services.monitor.adapters.probe import ProbeThread
from services.monitor.core.state import PUBLISHERS, MonitorState


class MonitorService:
    """The monitor: bus thread + probe thread + aiohttp ``/metrics`` and ``/health``."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.log = get_logger("monitor")
        self.clock = clock or SystemClock()
        self.lock = threading.Lock()
        self.state = MonitorState(
            start_ns=self.clock.now_ns(),
            symbols=settings.symbol_list(),
            services=PUBLISHERS,
            heartbeat_timeout=settings.monitor_heartbeat_timeout,
            stale_after=settings.book_stale_after,
            buckets=LATENCY_BUCKETS,
            new_tracker=SeqTracker,
        )
        self.registry = new_registry()
        up_gauge(self.registry, "monitor")
        self.registry.register(MonitorCollector(self.state, self.lock, self.clock.now_ns))
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        endpoints = {"feed": settings.feed_pub, "book": settings.book_pub, "executor": settings.executor_pub}
        self.bus = BusThread(self.ctx, endpoints, self.state, self.lock, self.clock.now_ns)
        self.probe = ProbeThread(
            self.ctx,
            settings.book_rep,
            self.state,
            self.lock,
            self.clock.now_ns,
            interval=settings.monitor_probe_interval,
        )
        self.app = make_app(self.registry, self.state, self.lock, self.clock.now_ns)

    async def run(self, stop: asyncio.Event) -> None:
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.metrics_host, self.settings.monitor_port)
        self.bus.start()
        self.probe.start()
        try:
            await site.start()
            self.log.info(
                "monitor started",
                http=f"http://{self.settings.metrics_host}:{self.settings.monitor_port}",
                book_rep=self.settings.book_rep,
            )
            await stop.wait()
        finally:
            await asyncio.to_thread(self.bus.stop)
            await asyncio.to_thread(self.probe.stop)
            await runner.cleanup()
            self.ctx.term()


def build(settings: Settings) -> MonitorService:
    return MonitorService(settings)
