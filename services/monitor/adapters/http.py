"""The monitor's HTTP server (aiohttp): ``/metrics`` for Prometheus and ``/health`` as JSON.

``/health`` answers 200 with ``status`` ``ok`` or ``degraded``; ``/health?strict=1`` answers
503 when degraded (for load balancers). ``/`` lists both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from services.monitor.core.state import MonitorState

INDEX = (
    "tickwire monitor\n/metrics  Prometheus metrics\n/health   JSON health (?strict=1: 503 when degraded)\n"
)


def make_app(
    registry: CollectorRegistry, state: MonitorState, lock: threading.Lock, now_ns: Callable[[], int]
) -> web.Application:
    async def metrics(_request: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health(request: web.Request) -> web.Response:
        with lock:
            doc = state.health(now_ns())
        strict = request.query.get("strict", "") in ("1", "true", "yes")
        status = 503 if strict and doc["status"] != "ok" else 200
        return web.json_response(doc, status=status)

    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=INDEX)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/health", health)
    app.router.add_get("/", index)
    return app
