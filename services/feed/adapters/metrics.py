"""Prometheus metrics of the feed, served on its own ``/metrics`` (``feed_metrics_port``).

Hot-path counters are plain integers in each session's :class:`~services.feed.core.stats.Stats`;
:class:`FeedCollector` turns them into metric families when Prometheus scrapes, so receiving a
frame costs no Prometheus call at all. Rare events (connection state) use a regular Gauge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from services.common.metrics import LATENCY_BUCKETS, NAMESPACE
from services.feed.core.session import Session

P = f"{NAMESPACE}_feed"

#: Connection state -> gauge value.
STATE_VALUES = {"down": 0, "backoff": 0, "connecting": 1, "subscribing": 2, "live": 3}


class FeedCollector(Collector):
    """Exposes the counters of every session at scrape time."""

    def __init__(self, sessions: Callable[[], Iterable[Session]]) -> None:
        self._sessions = sessions

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        sessions = list(self._sessions())
        msgs = CounterMetricFamily(f"{P}_messages", "Frames received from Bybit, by kind", labels=["kind"])
        nbytes = CounterMetricFamily(f"{P}_bytes", "Bytes received from Bybit, by kind", labels=["kind"])
        malformed = CounterMetricFamily(
            f"{P}_malformed_frames", "Frames that could not be used, by kind", labels=["kind"]
        )
        gaps = CounterMetricFamily(
            f"{P}_u_gaps", "Gaps seen in Bybit's book update id u", labels=["category"]
        )
        stale = CounterMetricFamily(f"{P}_stale_u", "Book deltas with an old u", labels=["category"])
        reconnects = CounterMetricFamily(f"{P}_reconnects", "WebSocket reconnects", labels=["category"])
        pong_to = CounterMetricFamily(f"{P}_pong_timeouts", "Pong deadlines missed", labels=["category"])
        resubs = CounterMetricFamily(
            f"{P}_resubscribes", "Topic resubscriptions, by reason", labels=["reason"]
        )
        sub_err = CounterMetricFamily(
            f"{P}_subscribe_errors", "Refused subscribe requests", labels=["category"]
        )
        totals: dict[str, dict[str, int]] = {"m": {}, "b": {}, "x": {}, "r": {}}
        per_cat: dict[str, list[int]] = {}
        buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        lag_sum = 0.0
        for s in sessions:
            st = s.stats
            for src, dst in (
                (st.messages_by_kind(), totals["m"]),
                (st.bytes_by_kind(), totals["b"]),
                (st.malformed, totals["x"]),
            ):
                for key, value in dict(src).items():
                    dst[key] = dst.get(key, 0) + value
            for key, value in dict(st.resubscribes).items():
                totals["r"][key] = totals["r"].get(key, 0) + value
            cat = per_cat.setdefault(s.category, [0, 0, 0, 0, 0])
            for i, value in enumerate(
                (st.u_gaps, st.stale_u, st.reconnects, st.pong_timeouts, st.subscribe_errors)
            ):
                cat[i] += value
            for i, value in enumerate(list(st.lag.buckets)):
                buckets[i] += value
            lag_sum += st.lag.total_ms / 1000.0
        for key, value in totals["m"].items():
            msgs.add_metric([key], value)
        for key, value in totals["b"].items():
            nbytes.add_metric([key], value)
        for key, value in totals["x"].items():
            malformed.add_metric([key], value)
        for key, value in totals["r"].items():
            resubs.add_metric([key], value)
        for category, values in per_cat.items():
            for family, value in zip((gaps, stale, reconnects, pong_to, sub_err), values, strict=True):
                family.add_metric([category], value)
        cumulative: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*map(str, LATENCY_BUCKETS), "+Inf"), buckets, strict=True):
            running += count
            cumulative.append((bound, running))
        lag = HistogramMetricFamily(
            f"{P}_receive_lag_seconds",
            "Local receive time minus Bybit ts",
            buckets=cumulative,
            sum_value=lag_sum,
        )
        yield from (msgs, nbytes, malformed, gaps, stale, reconnects, pong_to, resubs, sub_err, lag)


class FeedMetrics:
    """The feed's metrics on ``registry``."""

    def __init__(self, registry: CollectorRegistry, sessions: Callable[[], Iterable[Session]]) -> None:
        registry.register(FeedCollector(sessions))
        self.conn_state = Gauge(
            f"{P}_connection_state",
            "Connection state: 0 down/backoff, 1 connecting, 2 subscribing, 3 live",
            ["conn"],
            registry=registry,
        )

    def set_state(self, conn_id: str, state: str) -> None:
        self.conn_state.labels(conn=conn_id).set(STATE_VALUES.get(state, 0))
