"""A fixed-bucket histogram kept as plain counts, exported at scrape time. Pure: no I/O.

Cumulative bucket counts are computed only when read, so :meth:`Histogram.observe` is one
bisect and two additions (cheaper than a prometheus_client call per message).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field


@dataclass(slots=True)
class Histogram:
    """Counts of observations per upper bound (``le``), plus their sum and count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if list(self.bounds) != sorted(self.bounds):
            raise ValueError("histogram bounds must be sorted")
        if not self.counts:
            # One slot per bound plus the +Inf overflow slot.
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """``[(le, cumulative count), ...]`` ending with ``("+Inf", count)``, as Prometheus wants."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            out.append((_fmt(bound), running))
        out.append(("+Inf", self.count))
        return out

    def quantile(self, q: float) -> float | None:
        """Upper bound of the bucket holding quantile ``q`` (None when empty or beyond the last bound)."""
        if self.count == 0:
            return None
        rank = q * self.count
        running = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            if running >= rank:
                return bound
        return None


def _fmt(bound: float) -> str:
    return repr(float(bound))
