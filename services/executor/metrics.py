"""Prometheus metrics of the executor (own registry, served on ``executor_metrics_port``).

``tickwire_executor_intents_total{outcome}``, ``..._rest_latency_seconds{endpoint}``,
``..._retries_total{cause}``, ``..._ratelimit_headroom{endpoint,category}`` (0..1),
``..._clock_offset_ms``, ``..._journal_bytes``, ``..._open_orders``, ``..._reports_total{status}``,
``..._bad_input_total{kind}``, ``..._private_ws_connected``, ``..._kill_switch``,
``..._calls_in_flight``, ``..._calls_held`` (sampled every second).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.common.metrics import LATENCY_BUCKETS, NAMESPACE, up_gauge

P = f"{NAMESPACE}_executor"


class ExecutorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        up_gauge(registry, "executor")
        self.intents = Counter(f"{P}_intents_total", "Intents by outcome", ["outcome"], registry=registry)
        self.rest_latency = Histogram(
            f"{P}_rest_latency_seconds",
            "REST round trip by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.retries = Counter(f"{P}_retries_total", "REST retries by cause", ["cause"], registry=registry)
        self.headroom = Gauge(
            f"{P}_ratelimit_headroom",
            "Fraction of the rate-limit bucket available",
            ["endpoint", "category"],
            registry=registry,
        )
        self.clock_offset = Gauge(
            f"{P}_clock_offset_ms", "Exchange minus local clock (ms)", registry=registry
        )
        self.journal_bytes = Gauge(f"{P}_journal_bytes", "Journal size on disk incl. WAL", registry=registry)
        self.open_orders = Gauge(f"{P}_open_orders", "Orders not yet final", registry=registry)
        self.reports = Counter(
            f"{P}_reports_total", "Reports published by status", ["status"], registry=registry
        )
        self.bad_input = Counter(
            f"{P}_bad_input_total", "Malformed input by kind", ["kind"], registry=registry
        )
        self.ws_connected = Gauge(
            f"{P}_private_ws_connected", "1 while the private stream is up", registry=registry
        )
        self.kill_switch = Gauge(f"{P}_kill_switch", "1 while the kill switch is on", registry=registry)
        self.inflight = Gauge(f"{P}_calls_in_flight", "REST calls handed to senders", registry=registry)
        self.held = Gauge(
            f"{P}_calls_held", "Calls held back behind a call in flight on the same key", registry=registry
        )
        self.calls_by_route = Counter(
            f"{P}_calls_total",
            "REST calls by route: wire (sent from the loop on its own connections) or pool (sender threads)",
            ["route"],
            registry=registry,
        )
        self.wire_connections = Gauge(
            f"{P}_wire_connections", "Open connections of the wire transport", registry=registry
        )
