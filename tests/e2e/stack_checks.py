"""Checks shared by the compose and demo end-to-end tests: the same system, two ways to run it.

Given the host-side addresses of a running stack, they query the book over REQ, send order
intents over PUSH and read their reports over SUB, scrape every ``/metrics``, and evaluate every
dashboard and alert query against a real Prometheus that scrapes the stack.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from decimal import Decimal

from services.common.book_client import BookClient
from services.common.order_client import OrderClient
from services.common.rpc import RpcError, RpcTimeout
from tests.e2e.promcheck import all_queries, check_queries, rules_health, targets_health
from tests.helpers import eventually

SYMBOL = ("linear", "BTCUSDT")


def live_book(book_rep: str) -> dict[str, object]:
    """Wait until the book service answers with a live, two-sided BTCUSDT book; return it."""
    with BookClient(book_rep, timeout=2.0) as client:

        def ready() -> dict[str, object] | None:
            try:
                reply = client.book(*SYMBOL, depth=5)
            except (RpcError, RpcTimeout):
                return None
            return reply if reply.get("state") == "live" and reply["bids"] and reply["asks"] else None

        book = eventually(ready, timeout=90, interval=0.5, message="live BTCUSDT book over REQ")
        symbols = client.request({"op": "symbols"})
    assert symbols["ok"]
    return book


def order_round_trip(pull: str, pub: str, mid: Decimal) -> dict[str, list[str]]:
    """Send a valid limit order and an oversized one; return ``{"ok": statuses, "bad": statuses}``."""
    price = (mid * Decimal("0.99")).quantize(Decimal("0.1"))
    with OrderClient(pull, pub) as oc:
        assert oc.wait_ready(timeout=30), "no executor heartbeat on its PUB socket"
        good = oc.send(
            {
                "action": "create",
                "category": "linear",
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "qty": "0.001",
                "price": str(price),
                "timeInForce": "GTC",
            }
        )
        bad = oc.send(
            {
                "action": "create",
                "category": "linear",
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "qty": "5000",
                "price": str(price),
            }
        )
        ok_reports = oc.wait(good, until={"new", "filled", "partially_filled"}, timeout=30)
        bad_reports = oc.wait(bad, until={"rejected"}, timeout=30)
    return {"ok": [r.status for r in ok_reports], "bad": [r.status for r in bad_reports]}


def scrape_all(urls: Mapping[str, str]) -> dict[str, str]:
    """GET every ``/metrics`` (``{name: url}``); return the bodies."""
    bodies = {}
    for name, url in urls.items():
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.status == 200, name
            bodies[name] = resp.read().decode()
    return bodies


def prometheus_sees_everything(base: str, jobs: int, timeout: float = 150) -> None:
    """Every target up, every rule healthy, every dashboard/alert query with data."""
    eventually(
        lambda: len(h := targets_health(base)) >= jobs and all(v == "up" for v in h.values()),
        timeout=90,
        interval=1,
        message=f"all scrape targets up ({base})",
    )
    queries = all_queries()
    last: list[str] = []

    def no_problems() -> bool:
        last[:] = check_queries(base, queries) + rules_health(base)
        return not last

    try:
        eventually(no_problems, timeout=timeout, interval=2, message="queries with data")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n" + "\n".join(last)) from None
