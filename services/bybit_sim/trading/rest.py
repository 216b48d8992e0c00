"""aiohttp handlers of the simulated Bybit v5 REST API (market, order, position, account).

Thin shell over the pure core: it reads the exact query string / raw body, authenticates,
applies faults and rate limits, calls the engine, publishes the private pushes and renders
Bybit's envelope ``{"retCode","retMsg","result","retExtInfo","time"}``. Business errors are
HTTP 200 (PROTOCOL.md §7.2). Order of a private request: fault ``http_5xx`` -> signature and
timestamp -> fault ``rate_limit_burst`` -> rate limit (10006) -> operation -> fault
``order_timeout`` (the operation has already taken effect).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from services.bybit_sim.http_api import SIM_KEY
from services.bybit_sim.trading.core import errors as e
from services.bybit_sim.trading.core.batch import batch_size, create_batch
from services.bybit_sim.trading.core.errors import ApiError, params_error
from services.bybit_sim.trading.core.model import render_order
from services.bybit_sim.trading.core.queries import open_orders, paginate, positions, wallet_balance
from services.bybit_sim.trading.core.ratelimit import Grant
from services.bybit_sim.trading.core.signing import ApiKey, authenticate_rest
from services.bybit_sim.trading.core.validation import check_category
from services.bybit_sim.trading.state import TradingState

_encode = msgspec.json.Encoder().encode
KNOWN_CATEGORIES = ("spot", "linear", "inverse", "option")
ORDER_OPS = ("/v5/order/create", "/v5/order/create-batch", "/v5/order/amend", "/v5/order/cancel",
             "/v5/order/cancel-all")  # fmt: skip

Op = Callable[[ApiKey, dict[str, Any], int, int], tuple[Any, dict[str, Any]]]


def envelope(code: int, msg: str, result: Any, ext: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """Bybit's response envelope."""
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": ext, "time": now_ms}


class RestApi:
    """The REST routes of the trading side."""

    def __init__(self, state: TradingState) -> None:
        self.s = state

    def routes(self) -> list[web.RouteDef]:
        priv = self._private
        return [
            web.get("/v5/market/time", self._guard(self.market_time)),
            web.get("/v5/market/instruments-info", self._guard(self.instruments_info)),
            web.get("/v5/market/orderbook", self._guard(self.orderbook)),
            web.post("/v5/order/create", priv(self.op_create)),
            web.post("/v5/order/create-batch", priv(self.op_create_batch)),
            web.post("/v5/order/amend", priv(self.op_amend)),
            web.post("/v5/order/cancel", priv(self.op_cancel)),
            web.post("/v5/order/cancel-all", priv(self.op_cancel_all)),
            web.get("/v5/order/realtime", priv(self.op_realtime)),
            web.get("/v5/position/list", priv(self.op_positions)),
            web.get("/v5/account/wallet-balance", priv(self.op_wallet)),
            web.get("/sim/orders", self.sim_orders),
        ]

    # --- plumbing ----------------------------------------------------------------------------
    def _respond(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> web.Response:
        self.s.metrics.requests.labels(endpoint=path, ret_code=str(body["retCode"])).inc()
        hdrs = {"Timenow": str(body["time"])}
        if headers:
            hdrs.update(headers)
        return web.Response(body=_encode(body), content_type="application/json", headers=hdrs)

    def _http_fault(self, path: str) -> web.Response | None:
        fault = self.s.faults.take("http_5xx", path=path) if self.s.faults else None
        if fault is None:
            return None
        status = int(fault.get("status", 503))
        self.s.metrics.faults.labels(name="http_5xx").inc()
        self.s.metrics.requests.labels(endpoint=path, ret_code=f"http_{status}").inc()
        html = f"<html><body><h1>{status} Service Unavailable</h1></body></html>"
        return web.Response(status=status, text=html, content_type="text/html")

    def _guard(
        self, fn: Callable[[web.Request, int], dict[str, Any]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            failed = self._http_fault(request.path)
            if failed is not None:
                return failed
            now = self.s.now_ms()
            try:
                result = fn(request, now)
            except ApiError as exc:
                return self._respond(request.path, envelope(exc.ret_code, exc.ret_msg, {}, {}, now))
            return self._respond(request.path, envelope(0, "OK", result, {}, now))

        return handler

    def _private(self, op: Op) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            path = request.path
            failed = self._http_fault(path)
            if failed is not None:
                return failed
            now = self.s.now_ms()
            if request.method == "GET":
                payload = request.rel_url.raw_query_string
            else:
                payload = (await request.read()).decode("utf-8", errors="replace")
            try:
                key = authenticate_rest(self.s.keys, request.headers, payload, now)
                params = self._params(request, payload)
            except ApiError as exc:
                return self._respond(path, envelope(exc.ret_code, exc.ret_msg, {}, {}, now))
            raw_category = params.get("category")
            # only known categories key a rate-limit window (untrusted input must not grow state)
            category = raw_category if raw_category in KNOWN_CATEGORIES else ""
            burst = self.s.faults.take("rate_limit_burst", path=path) if self.s.faults else None
            if burst is not None:
                self.s.metrics.faults.labels(name="rate_limit_burst").inc()
                grant = self.s.limiter.acquire(key.uid, path, category, now, 0)
                headers = Grant(0, grant.limit, 0, grant.reset_ms).headers()
                return self._respond(
                    path, envelope(e.TOO_MANY_VISITS, e.TOO_MANY.ret_msg, {}, {}, now), headers
                )
            units = batch_size(params) if path == "/v5/order/create-batch" else 1
            grant = self.s.limiter.acquire(key.uid, path, category, now, units)
            if grant.granted == 0:
                body = envelope(e.TOO_MANY_VISITS, e.TOO_MANY.ret_msg, {}, {}, now)
                return self._respond(path, body, grant.headers())
            try:
                result, ext = op(key, params, now, grant.granted)
            except ApiError as exc:
                return self._respond(path, envelope(exc.ret_code, exc.ret_msg, {}, {}, now), grant.headers())
            if path in ORDER_OPS:
                await self._timeout_fault(request, path)
            return self._respond(path, envelope(0, "OK", result, ext, now), grant.headers())

        return handler

    def _params(self, request: web.Request, payload: str) -> dict[str, Any]:
        if request.method == "GET":
            return dict(request.query)
        try:
            body = json.loads(payload) if payload else {}
        except ValueError:
            self.s.metrics.bad_input.labels(kind="rest_json").inc()
            raise params_error("request body is not valid JSON") from None
        if not isinstance(body, dict):
            self.s.metrics.bad_input.labels(kind="rest_json").inc()
            raise params_error("request body must be a JSON object")
        return body

    async def _timeout_fault(self, request: web.Request, path: str) -> None:
        fault = self.s.faults.take("order_timeout", path=path) if self.s.faults else None
        if fault is None:
            return
        self.s.metrics.faults.labels(name="order_timeout").inc()
        self.s.log.info("fault applied", fault="order_timeout", path=path, mode=fault.get("mode", "delay"))
        if fault.get("mode") == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # nothing more to send on a dropped connection
        # the server's shutdown ends the wait early instead of waiting for held responses
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.s.stopping.wait(), float(fault.get("delay_ms", 15000)) / 1000)

    # --- market ------------------------------------------------------------------------------
    def market_time(self, request: web.Request, now: int) -> dict[str, Any]:
        return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}

    def instruments_info(self, request: web.Request, now: int) -> dict[str, Any]:
        q = request.query
        category = check_category(q.get("category"))
        items = [i for (cat, _), i in sorted(self.s.market.instruments.items()) if cat == category]
        if q.get("symbol"):
            items = [i for i in items if i.symbol == q["symbol"]]
        if q.get("baseCoin"):
            items = [i for i in items if i.base_coin == q["baseCoin"]]
        if q.get("status") and q["status"] != "Trading":
            items = []
        if category == "spot":  # spot is not paginated
            return {"category": category, "list": [i.to_bybit() for i in items], "nextPageCursor": ""}
        page, nxt = paginate(items, q, 500, 1000)
        return {"category": category, "list": [i.to_bybit() for i in page], "nextPageCursor": nxt}

    def orderbook(self, request: web.Request, now: int) -> dict[str, Any]:
        q = request.query
        category = check_category(q.get("category"))
        symbol = q.get("symbol", "")
        if not symbol or (category, symbol) not in self.s.market.instruments:
            raise params_error("symbol invalid")
        default = 1 if category == "spot" else 25
        try:
            limit = int(q.get("limit", default))
        except ValueError:
            raise params_error("limit invalid") from None
        if not 1 <= limit <= 1000:
            raise params_error("limit invalid")
        book = self.s.market.book(category, symbol)
        seq = int(getattr(book, "seq", 0))
        bids = [list(x) for x in book.levels("b", limit)]
        asks = [list(x) for x in book.levels("a", limit)]
        # ``u`` is the 1000-level stream's update id (PROTOCOL.md §3.4), kept by the public hub
        hub = getattr(request.app.get(SIM_KEY), "hub", None)
        u = int(hub.book_stream(category, symbol, 1000).u) if hub is not None else seq
        return {"s": symbol, "b": bids, "a": asks, "ts": now, "u": u, "seq": seq, "cts": now - 1}

    # --- orders ------------------------------------------------------------------------------
    def _book(self, params: dict[str, Any]) -> Any:
        # str(): the body is untrusted JSON (a list would be unhashable)
        return self.s.engine.books.get((str(params.get("category")), str(params.get("symbol"))))

    def op_create(
        self, key: ApiKey, params: dict[str, Any], now: int, granted: int
    ) -> tuple[Any, dict[str, Any]]:
        order, pushes = self.s.engine.create(key.uid, params, self._book(params), now)
        self.s.metrics.orders.labels(category=order.category).inc()
        self.s.publish(pushes)
        return {"orderId": order.order_id, "orderLinkId": order.order_link_id}, {}

    def op_create_batch(
        self, key: ApiKey, params: dict[str, Any], now: int, granted: int
    ) -> tuple[Any, dict[str, Any]]:
        result, ext, pushes = create_batch(self.s.engine, key.uid, params, self.s.engine.books, granted, now)
        self.s.metrics.orders.labels(category=str(params["category"])).inc(
            sum(1 for c in ext["list"] if c["code"] == 0)
        )
        self.s.publish(pushes)
        return result, ext

    def op_amend(
        self, key: ApiKey, params: dict[str, Any], now: int, granted: int
    ) -> tuple[Any, dict[str, Any]]:
        order, pushes = self.s.engine.amend(key.uid, params, self._book(params), now)
        self.s.publish(pushes)
        return {"orderId": order.order_id, "orderLinkId": order.order_link_id}, {}

    def op_cancel(
        self, key: ApiKey, params: dict[str, Any], now: int, granted: int
    ) -> tuple[Any, dict[str, Any]]:
        order, pushes = self.s.engine.cancel(key.uid, params, now)
        self.s.publish(pushes)
        return {"orderId": order.order_id, "orderLinkId": order.order_link_id}, {}

    def op_cancel_all(
        self, key: ApiKey, params: dict[str, Any], now: int, granted: int
    ) -> tuple[Any, dict[str, Any]]:
        orders, pushes = self.s.engine.cancel_all(key.uid, params, now)
        self.s.publish(pushes)
        items = [{"orderId": o.order_id, "orderLinkId": o.order_link_id} for o in orders]
        return {"list": items, "success": "1"}, {}

    def op_realtime(
        self, key: ApiKey, params: dict[str, Any], now: int, granted: int
    ) -> tuple[Any, dict[str, Any]]:
        return open_orders(self.s.engine, key.uid, params), {}

    def op_positions(
        self, key: ApiKey, params: dict[str, Any], now: int, granted: int
    ) -> tuple[Any, dict[str, Any]]:
        return positions(self.s.engine, key.uid, params), {}

    def op_wallet(
        self, key: ApiKey, params: dict[str, Any], now: int, granted: int
    ) -> tuple[Any, dict[str, Any]]:
        return wallet_balance(self.s.engine, key.uid, params), {}

    # --- test introspection ------------------------------------------------------------------
    async def sim_orders(self, request: web.Request) -> web.Response:
        """``GET /sim/orders[?apiKey=K|uid=N]``: every order held, open or closed, oldest first."""
        uid: int | None = None
        if request.query.get("apiKey"):
            found = self.s.keys.get(request.query["apiKey"])
            if found is None:
                return web.json_response({"error": "unknown apiKey"}, status=404)
            uid = found.uid
        elif request.query.get("uid", "").isdigit():
            uid = int(request.query["uid"])
        out = []
        for acct in self.s.engine.accounts.values():
            if uid is not None and acct.uid != uid:
                continue
            for order in sorted(acct.orders.values(), key=lambda o: o.seq):
                out.append({"uid": acct.uid, **render_order(order)})
        return web.Response(body=_encode({"orders": out}), content_type="application/json")
