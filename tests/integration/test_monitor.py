"""Integration tests of the monitor: a real ``python -m services.monitor`` process fed by real
PUB sockets and a fake book ROUTER on 127.0.0.1, read over real HTTP.

The unit half is tests/unit/monitor/test_state.py.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest
import zmq

from services.common.bus import Publisher
from services.common.rpc import encode_json, recv_request, router_socket, send_reply
from services.common.wire import Bbo, BookUpdate, ExecReport
from tests.helpers import ServiceProcess, eventually, free_port, tcp

pytestmark = pytest.mark.integration


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


@pytest.fixture
def ctx() -> Iterator[zmq.Context[zmq.Socket[bytes]]]:
    c: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    yield c
    c.term()


class FakeBook(threading.Thread):
    """Answers ``status`` and ``symbols`` like the book service."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str) -> None:
        super().__init__(daemon=True)
        self.sock = router_socket(ctx, endpoint)
        self.stopping = threading.Event()
        self.requests: list[dict[str, object]] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            if not self.sock.poll(50):
                continue
            got = recv_request(self.sock)
            if got is None:
                continue
            env, body = got
            req = json.loads(body)
            self.requests.append(req)
            if req.get("op") == "status":
                reply = {"ok": True, "books": [{"category": "linear", "symbol": "BTCUSDT", "state": "live"}]}
            else:
                reply = {"ok": True, "symbols": ["linear:BTCUSDT"]}
            send_reply(self.sock, env, encode_json(reply))
        self.sock.close(linger=0)


def test_monitor_aggregates_bus_and_serves_metrics_and_health(
    spawn: Callable[..., ServiceProcess], ctx: zmq.Context[zmq.Socket[bytes]]
) -> None:
    """Feed, book and executor traffic shows up as latency, rates, states, outcomes and liveness."""
    ports = {name: free_port() for name in ("feed", "book", "executor", "rep", "http")}
    feed = Publisher(ctx, tcp(ports["feed"]), service="feed")
    book = Publisher(ctx, tcp(ports["book"]), service="book")
    executor = Publisher(ctx, tcp(ports["executor"]), service="executor")
    fake_book = FakeBook(ctx, tcp(ports["rep"]))
    fake_book.start()
    proc = spawn(
        "services.monitor",
        feed_pub=tcp(ports["feed"]),
        book_pub=tcp(ports["book"]),
        executor_pub=tcp(ports["executor"]),
        book_rep=tcp(ports["rep"]),
        monitor_port=ports["http"],
        monitor_probe_interval=0.2,
        symbols="linear:BTCUSDT",
    )
    base = f"http://127.0.0.1:{ports['http']}"
    try:
        eventually(lambda: http_get(f"{base}/health")[0] == 200, timeout=20, message="monitor HTTP up")

        def publish_round() -> None:
            now = time.time_ns()
            ts_ms = now // 1_000_000 - 3
            feed.publish(
                "md.book.linear.BTCUSDT",
                BookUpdate("linear", "BTCUSDT", 50, "delta", [["1", "2"]], [], 1, 0, ts_ms, 0, now),
            )
            book.publish(
                "bk.bbo.linear.BTCUSDT",
                Bbo("linear", "BTCUSDT", "live", "1", "2", "3", "4", 1, ts_ms, now, time.time_ns()),
            )
            executor.publish(
                "ex.report.linear.BTCUSDT",
                ExecReport(
                    "rejected", "create", "linear", "BTCUSDT", "x1", "", "risk_notional", "too big", now
                ),
            )
            for pub in (feed, book, executor):
                pub.heartbeat()

        def all_seen() -> bool:
            publish_round()
            doc = json.loads(http_get(f"{base}/health")[1])
            return doc["status"] == "ok" and doc["book_probe"]["ok"] and bool(doc["orders"])

        eventually(all_seen, timeout=20, interval=0.2, message="monitor saw every publisher")
        status, text = http_get(f"{base}/metrics")
        assert status == 200
        for needle in (
            'tickwire_monitor_latency_seconds_count{category="linear",stage="exchange_to_book",symbol="BTCUSDT"}',
            'tickwire_monitor_service_up{service="feed"} 1.0',
            'tickwire_monitor_service_up{service="executor"} 1.0',
            'tickwire_monitor_order_rejects_total{code="risk_notional"}',
            'tickwire_monitor_book_state{category="linear",state="live",symbol="BTCUSDT"} 1.0',
            "tickwire_monitor_book_probe_ok 1.0",
            'tickwire_build_info{service="monitor",version="0.1.0"} 1.0',
        ):
            assert needle in text, needle
        counts = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("tickwire_monitor_latency_seconds_count")
            and 'stage="exchange_to_book"' in line
        ]
        assert counts and counts[0] >= 1
        assert http_get(f"{base}/")[0] == 200
    finally:
        fake_book.stopping.set()
        fake_book.join(2)
        for pub in (feed, book, executor):
            pub.close()
    assert proc.stop() == 0


def test_monitor_health_strict_is_503_when_nothing_runs(spawn: Callable[..., ServiceProcess]) -> None:
    """With no publishers and no book, the monitor stays up and says degraded (503 when strict)."""
    port = free_port()
    proc = spawn(
        "services.monitor",
        feed_pub=tcp(free_port()),
        book_pub=tcp(free_port()),
        executor_pub=tcp(free_port()),
        book_rep=tcp(free_port()),
        monitor_port=port,
        monitor_probe_interval=0.2,
    )
    base = f"http://127.0.0.1:{port}"
    eventually(lambda: http_get(f"{base}/health")[0] == 200, timeout=20)
    status, body = http_get(f"{base}/health?strict=1")
    assert status == 503
    doc = json.loads(body)
    assert doc["status"] == "degraded" and not doc["services"]["feed"]["up"]
    eventually(lambda: json.loads(http_get(f"{base}/health")[1])["book_probe"]["failures"] >= 1, timeout=20)
    assert proc.stop() == 0
