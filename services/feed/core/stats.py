"""Plain-integer counters of one connection, updated on the hot path, read by the metrics shell.

A Prometheus call costs about 1 µs (PERF_NOTES); an integer increment costs tens of ns. The hot
path therefore only bumps these fields; a custom collector exposes them at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from services.common.metrics import LATENCY_BUCKETS

#: Receive-lag bucket bounds in ms (Bybit's ``ts`` is in ms), same bounds as LATENCY_BUCKETS.
LAG_BOUNDS_MS = tuple(b * 1000.0 for b in LATENCY_BUCKETS)


@dataclass(slots=True)
class LagHistogram:
    """Histogram of local receive time minus exchange ``ts`` (whole ms).

    A negative lag (clock skew) lands in the first bucket. The count is the sum of the buckets
    (one increment less on the hot path, which may also update ``buckets`` directly).
    """

    buckets: list[int] = field(default_factory=lambda: [0] * (len(LAG_BOUNDS_MS) + 1))
    total_ms: float = 0.0

    def observe_ms(self, lag_ms: float) -> None:
        self.buckets[bisect_left(LAG_BOUNDS_MS, lag_ms)] += 1
        self.total_ms += lag_ms

    @property
    def count(self) -> int:
        return sum(self.buckets)


@dataclass(slots=True)
class Stats:
    """Counters of one connection (they survive reconnects)."""

    #: Order-book frames and bytes (the hot path: plain attributes, merged into
    #: :meth:`messages_by_kind`/:meth:`bytes_by_kind`).
    book_messages: int = 0
    book_bytes: int = 0
    messages: dict[str, int] = field(
        default_factory=lambda: {"book": 0, "trade": 0, "ticker": 0, "control": 0}
    )
    bytes: dict[str, int] = field(default_factory=lambda: {"book": 0, "trade": 0, "ticker": 0, "control": 0})
    malformed: dict[str, int] = field(default_factory=dict)
    lag: LagHistogram = field(default_factory=LagHistogram)
    u_gaps: int = 0
    stale_u: int = 0
    resubscribes: dict[str, int] = field(default_factory=lambda: {"gap": 0, "control": 0, "retry": 0})
    subscribe_errors: int = 0
    reconnects: int = 0
    pong_timeouts: int = 0

    def messages_by_kind(self) -> dict[str, int]:
        out = dict(self.messages)
        out["book"] = out.get("book", 0) + self.book_messages
        return out

    def bytes_by_kind(self) -> dict[str, int]:
        out = dict(self.bytes)
        out["book"] = out.get("book", 0) + self.book_bytes
        return out
