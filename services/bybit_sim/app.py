"""Simulator assembly: settings → market, faults, hub → WebSocket, HTTP and metrics servers.

:func:`main` is the coroutine run by :func:`services.common.runtime.run`; it starts everything,
logs one line with the URLs, runs the tick loop and the idle watchdog until ``stop`` is set,
then closes the servers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from services.bybit_sim import trading
from services.bybit_sim.context import SimContext
from services.bybit_sim.core.faults import Faults, parse_fault_specs
from services.bybit_sim.core.hub import PublicHub
from services.bybit_sim.core.instruments import build_instruments
from services.bybit_sim.core.market import SimMarket
from services.bybit_sim.core.replay import ReplayFrame, load_replay
from services.bybit_sim.http_api import SIM_KEY, add_market_routes, add_routes
from services.bybit_sim.ws_public import PublicServer
from services.common.clock import SystemClock
from services.common.config import Settings, parse_symbols
from services.common.errors import ConfigError
from services.common.log import get_logger
from services.common.metrics import MetricsServer, new_registry, serve_metrics, up_gauge

#: Simulated milliseconds per generator tick (the orderbook.50 cadence).
TICK_MS = 20.0


class _SimCollector(Collector):
    """Exports the simulator's counters at scrape time (no per-message metric calls)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def collect(self) -> Iterator[Any]:
        sim = self.sim
        sent = CounterMetricFamily("tickwire_sim_messages_sent", "Frames sent to clients", labels=["kind"])
        for kind, n in sorted(sim.hub.sent.items()):
            sent.add_metric([kind], n)
        yield sent
        conns = GaugeMetricFamily(
            "tickwire_sim_connections", "Open WebSocket connections", labels=["category"]
        )
        for cat, n in sim.ws.connection_counts().items():
            conns.add_metric([cat], n)
        yield conns
        events = CounterMetricFamily("tickwire_sim_events", "Connection events", labels=["event"])
        for name, n in sorted(sim.ws.stats.items()):
            events.add_metric([name], n)
        yield events
        faults = CounterMetricFamily("tickwire_sim_faults_injected", "Faults injected", labels=["name"])
        for name, n in sorted(sim.ctx.faults.injected.items()):
            faults.add_metric([name], n)
        yield faults


class Simulator:
    """One simulator process's parts."""

    def __init__(self, settings: Settings) -> None:
        self.log = get_logger("bybit_sim")
        clock = SystemClock()
        extra = parse_symbols(settings.sim_symbols)
        market = SimMarket(build_instruments(extra), seed=settings.sim_seed)
        self.ctx = SimContext(market, Faults(clock.monotonic), settings, clock, new_registry())
        for name, params in parse_fault_specs(settings.sim_faults):
            self.ctx.arm_fault(name, **params)
        replay: dict[tuple[str, str], list[ReplayFrame]] = {}
        if settings.sim_replay:
            if settings.sim_replay_category not in ("spot", "linear", "inverse"):
                raise ConfigError("TICKWIRE_SIM_REPLAY_CATEGORY must be spot, linear or inverse")
            frames = load_replay(settings.sim_replay)
            for f in frames:
                replay.setdefault((settings.sim_replay_category, f.topic), []).append(f)
        speed = max(settings.sim_speed, 1e-3)
        self.tick_s = TICK_MS / 1000.0 / speed
        self.hub = PublicHub(market, self.ctx.faults, l1_repeat_ms=int(3000 / speed), replay=replay)
        self.ws = PublicServer(self.ctx, self.hub, settings.sim_replay_speed)
        self.app = web.Application()
        self.app[SIM_KEY] = self
        add_routes(self.app)
        trading.install(self.ctx, self.app)
        add_market_routes(self.app)
        self.ws_port = 0
        self.http_port = 0
        self._runner: web.AppRunner | None = None
        self._metrics: MetricsServer | None = None
        up_gauge(self.ctx.registry, "bybit_sim")
        self.ctx.registry.register(_SimCollector(self))

    def stats(self) -> dict[str, Any]:
        return {
            "ticks": self.hub.tick_no,
            "symbols": len(self.ctx.market.instruments),
            "connections": self.ws.connection_counts(),
            "events": dict(self.ws.stats),
            "sent": dict(self.hub.sent),
            "topics": {f"{c}:{t}": len(s) for (c, t), s in self.hub.subs.items()},
            "faults_active": self.ctx.faults.active(),
            "faults_injected": dict(self.ctx.faults.injected),
        }

    async def start(self) -> None:
        s = self.ctx.settings
        self.ws_port = await self.ws.start(s.sim_host, s.sim_ws_port)
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, s.sim_host, s.sim_http_port)
        await site.start()
        server: Any = site._server
        self.http_port = int(server.sockets[0].getsockname()[1])
        self._metrics = serve_metrics(self.ctx.registry, s.metrics_host, s.sim_metrics_port)
        self.log.info(
            "bybit_sim started",
            ws=f"ws://{s.sim_host}:{self.ws_port}/v5/public/{{category}}",
            ws_private=f"ws://{s.sim_host}:{self.ws_port}/v5/private",
            http=f"http://{s.sim_host}:{self.http_port}",
            metrics=f"http://{s.metrics_host}:{self._metrics.port}/metrics",
            symbols=len(self.ctx.market.instruments),
            seed=s.sim_seed,
            speed=s.sim_speed,
            replay=s.sim_replay or None,
            faults=self.ctx.faults.active() or None,
        )

    async def close(self) -> None:
        await self.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._metrics is not None:
            self._metrics.close()


async def main(settings: Settings, stop: asyncio.Event) -> None:
    sim = Simulator(settings)
    await sim.start()
    tasks = [
        asyncio.create_task(sim.ws.run_ticks(stop, sim.tick_s)),
        asyncio.create_task(sim.ws.run_watchdog(stop, settings.sim_idle_timeout)),
    ]
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stopper:
                t.result()  # a loop ended by itself: raise its error
    finally:
        stopper.cancel()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await sim.close()
