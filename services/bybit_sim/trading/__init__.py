"""Trading side of the Bybit simulator: signed REST orders, private WebSocket, matching engine.

The server calls :func:`install` once at start (adds the REST routes to its aiohttp app) and
routes WebSocket path ``/v5/private`` to :func:`private_ws`. ``core/`` is pure (signing checks,
rate-limit windows, validation, order state machine and matching); ``rest.py``, ``private_ws.py``
and ``state.py`` are the thin shell. See docs/bybit_sim_trading.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from services.bybit_sim.trading.private_ws import serve_private
from services.bybit_sim.trading.rest import RestApi
from services.bybit_sim.trading.state import FAULTS, TradingState

__all__ = ["FAULTS", "install", "private_ws", "state_of"]

APP_KEY = web.AppKey("bybit_sim_trading", TradingState)
EXTRA_KEY = "trading"


def state_of(ctx: Any) -> TradingState:
    """The trading state kept in ``ctx.extra`` (created on first use)."""
    state = ctx.extra.get(EXTRA_KEY)
    if not isinstance(state, TradingState):
        state = TradingState(ctx)
        ctx.extra[EXTRA_KEY] = state
    return state


def install(ctx: Any, app: web.Application) -> None:
    """Create the trading state for ``ctx`` and add the REST routes (and ``GET /sim/orders``)."""
    state = state_of(ctx)
    app[APP_KEY] = state
    app.router.add_routes(RestApi(state).routes())
    with contextlib.suppress(RuntimeError):  # frozen signal list: nothing to release early
        app.on_shutdown.append(_release_held)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        app.on_startup.append(_start_watcher)
        return
    task = loop.create_task(state.watch_faults())
    _keep(app, task)


async def _release_held(app: web.Application) -> None:
    app[APP_KEY].stopping.set()


async def _start_watcher(app: web.Application) -> None:
    task = asyncio.get_running_loop().create_task(app[APP_KEY].watch_faults())
    _keep(app, task)


def _keep(app: web.Application, task: asyncio.Task[None]) -> None:
    async def stop(_app: web.Application) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with contextlib.suppress(RuntimeError):  # frozen signal list: the task dies with the loop
        app.on_cleanup.append(stop)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


_TASKS: set[asyncio.Task[None]] = set()


async def private_ws(ctx: Any, websocket: Any) -> None:
    """Serve one ``/v5/private`` WebSocket connection (a websockets ServerConnection)."""
    await serve_private(state_of(ctx), websocket)
