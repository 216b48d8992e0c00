"""HTTP shell (aiohttp): the ``/sim/`` control API and Bybit's public market REST endpoints.

Routes (JSON in and out):

* ``GET /sim/health``, ``GET /sim/stats``, ``GET /sim/faults``
* ``POST /sim/fault`` ``{"name": ..., ...params}`` arms a fault; ``DELETE /sim/fault[?name=]`` clears
* ``GET /sim/book?category=&symbol=&depth=[&truth=1]`` the topic's book as last sent (or the truth)
* ``POST /sim/freeze`` ``{"category","symbol","frozen":true}`` stops/starts a symbol's generator
* ``GET /v5/market/instruments-info|orderbook|time`` (Bybit shapes), unless the trading side
  already registered them.

The trading side's routes are added by ``trading.install(ctx, app)`` on the same app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from services.bybit_sim.core.faults import FaultError
from services.bybit_sim.core.protocol import BOOK_DEPTHS

if TYPE_CHECKING:
    from services.bybit_sim.app import Simulator

SIM_KEY: web.AppKey[Simulator] = web.AppKey("sim")


def _sim(request: web.Request) -> Simulator:
    return request.app[SIM_KEY]


def _bad(msg: str, status: int = 400) -> web.Response:
    return web.json_response({"error": msg}, status=status)


async def health(request: web.Request) -> web.Response:
    sim = _sim(request)
    return web.json_response({"status": "ok", "ws_port": sim.ws_port, "http_port": sim.http_port})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(_sim(request).stats())


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response(_sim(request).ctx.faults.active())


async def post_fault(request: web.Request) -> web.Response:
    sim = _sim(request)
    try:
        body = await request.json()
    except ValueError:
        return _bad("body must be JSON")
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return _bad('body must be an object with a "name"')
    name = body.pop("name")
    try:
        sim.ctx.arm_fault(name, **body)
    except (FaultError, TypeError) as exc:
        return _bad(str(exc))
    sim.log.info("fault armed", fault=name, params=body)
    return web.json_response({"ok": True, "active": sim.ctx.faults.active()})


async def delete_fault(request: web.Request) -> web.Response:
    sim = _sim(request)
    name = request.query.get("name") or None
    sim.ctx.faults.clear(name)
    sim.log.info("faults cleared", fault=name or "all")
    return web.json_response({"ok": True, "active": sim.ctx.faults.active()})


def _category_symbol(request: web.Request, query: Any) -> tuple[str, str] | web.Response:
    category, symbol = query.get("category", ""), query.get("symbol", "")
    if not _sim(request).ctx.market.has(category, symbol):
        return _bad(f"unknown instrument {category}:{symbol}", 404)
    return category, symbol


async def get_book(request: web.Request) -> web.Response:
    sim = _sim(request)
    q = request.query
    cs = _category_symbol(request, q)
    if isinstance(cs, web.Response):
        return cs
    try:
        depth = int(q.get("depth", "50"))
    except ValueError:
        return _bad("depth must be an integer")
    if depth not in BOOK_DEPTHS:
        return _bad(f"depth must be one of {sorted(BOOK_DEPTHS)}")
    truth = q.get("truth", "") in ("1", "true", "yes")
    return web.json_response(sim.hub.book_state(*cs, depth, truth=truth))


async def post_freeze(request: web.Request) -> web.Response:
    sim = _sim(request)
    try:
        body = await request.json()
    except ValueError:
        return _bad("body must be JSON")
    cs = _category_symbol(request, body if isinstance(body, dict) else {})
    if isinstance(cs, web.Response):
        return cs
    if body.get("frozen", True):
        sim.ctx.market.frozen.add(cs)
    else:
        sim.ctx.market.frozen.discard(cs)
    return web.json_response({"ok": True, "frozen": [f"{c}:{s}" for c, s in sorted(sim.ctx.market.frozen)]})


def _bybit(result: Any, now_ms: int) -> web.Response:
    return web.json_response(
        {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now_ms}
    )


def _bybit_error(code: int, msg: str, now_ms: int) -> web.Response:
    return web.json_response({"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": now_ms})


async def instruments_info(request: web.Request) -> web.Response:
    sim = _sim(request)
    q = request.query
    category, symbol = q.get("category", ""), q.get("symbol", "")
    now = sim.ctx.now_ms()
    if category not in ("spot", "linear", "inverse"):
        return _bybit_error(10001, "params error: category is invalid", now)
    items = [
        inst.to_bybit()
        for (cat, sym), inst in sim.ctx.market.instruments.items()
        if cat == category and (not symbol or sym == symbol)
    ]
    return _bybit({"category": category, "list": items, "nextPageCursor": ""}, now)


async def market_orderbook(request: web.Request) -> web.Response:
    sim = _sim(request)
    q = request.query
    now = sim.ctx.now_ms()
    category, symbol = q.get("category", ""), q.get("symbol", "")
    if not sim.ctx.market.has(category, symbol):
        return _bybit_error(10001, "params error: symbol invalid", now)
    try:
        limit = max(1, min(int(q.get("limit", "1" if category == "spot" else "25")), 1000))
    except ValueError:
        return _bybit_error(10001, "params error: limit invalid", now)
    book = sim.ctx.market.book(category, symbol)
    stream = sim.hub.book_stream(category, symbol, 1000)
    result = {
        "s": symbol,
        "b": [list(x) for x in book.levels("b", limit)],
        "a": [list(x) for x in book.levels("a", limit)],
        "ts": now,
        "u": stream.u,
        "seq": book.seq,
        "cts": now - 1,
    }
    return _bybit(result, now)


async def market_time(request: web.Request) -> web.Response:
    ns = _sim(request).ctx.clock.now_ns()
    result = {"timeSecond": str(ns // 1_000_000_000), "timeNano": str(ns)}
    return _bybit(result, ns // 1_000_000)


def add_routes(app: web.Application) -> None:
    """Add the ``/sim/`` control routes."""
    app.router.add_get("/sim/health", health)
    app.router.add_get("/sim/stats", stats)
    app.router.add_get("/sim/faults", list_faults)
    app.router.add_post("/sim/fault", post_fault)
    app.router.add_delete("/sim/fault", delete_fault)
    app.router.add_get("/sim/book", get_book)
    app.router.add_post("/sim/freeze", post_freeze)


def add_market_routes(app: web.Application) -> None:
    """Add Bybit market REST routes the trading side has not registered already."""
    taken = {getattr(r, "canonical", "") for r in app.router.resources()}
    for path, handler in (
        ("/v5/market/instruments-info", instruments_info),
        ("/v5/market/orderbook", market_orderbook),
        ("/v5/market/time", market_time),
    ):
        if path not in taken:
            app.router.add_get(path, handler)
