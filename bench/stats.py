"""Figures, percentiles, the results table and its JSON form. Pure: no I/O, no clock.

A :class:`Figure` is one measured value, optionally with the baseline measured in the same run,
their ratio, and a target on either the ratio or the absolute value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: shown for a missing value
DASH = "\u2013"


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of the full sample, nearest-rank on the sorted data."""
    if not samples:
        return math.nan
    data = sorted(samples)
    k = max(0, min(len(data) - 1, math.ceil(q / 100 * len(data)) - 1))
    return float(data[k])


def summarize(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50/p90/p99/p99.9/max in microseconds and the count, from nanosecond samples."""
    data = sorted(samples_ns)
    n = len(data)
    if n == 0:
        return {"n": 0}

    def pick(q: float) -> float:
        return data[max(0, min(n - 1, math.ceil(q / 100 * n) - 1))] / 1000

    return {
        "n": n,
        "p50_us": pick(50),
        "p90_us": pick(90),
        "p99_us": pick(99),
        "p999_us": pick(99.9),
        "max_us": data[-1] / 1000,
    }


def histogram(samples_ns: Sequence[int], bins: int = 60, clip_q: float = 99.9) -> dict[str, list[float]]:
    """Log-spaced histogram of latencies in µs (for the plot), clipped at the ``clip_q`` percentile."""
    if not samples_ns:
        return {"edges": [], "counts": []}
    lo = max(1.0, min(samples_ns) / 1000)
    hi = max(lo * 1.01, percentile(samples_ns, clip_q) / 1000)
    ratio = (hi / lo) ** (1 / bins)
    edges = [lo * ratio**i for i in range(bins + 1)]
    counts = [0.0] * bins
    log_lo, log_r = math.log(lo), math.log(ratio)
    for s in samples_ns:
        us = s / 1000
        if us > hi:
            continue
        i = int((math.log(max(us, lo)) - log_lo) / log_r)
        counts[min(bins - 1, max(0, i))] += 1
    return {"edges": edges, "counts": counts}


@dataclass
class Target:
    """``value op bound`` on the ratio (``on="ratio"``) or on the absolute value (``on="value"``)."""

    op: str  # ">=" or "<="
    bound: float
    on: str = "ratio"

    def met(self, value: float, ratio: float | None) -> bool | None:
        x = ratio if self.on == "ratio" else value
        if x is None or math.isnan(x):
            return None
        return x >= self.bound if self.op == ">=" else x <= self.bound

    def text(self, unit: str) -> str:
        if self.on == "ratio":
            return f"ratio {self.op} {self.bound:g}"
        return (
            f"{self.op} {self.bound:,.0f} {unit}"
            if self.bound >= 1000
            else f"{self.op} {self.bound:g} {unit}"
        )


@dataclass
class Figure:
    """One line of the results table."""

    key: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: Target | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0 or math.isnan(self.value):
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value, self.ratio)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio"] = self.ratio
        d["met"] = self.met
        d["target"] = (
            None if self.target is None else {**asdict(self.target), "text": self.target.text(self.unit)}
        )
        return d


def fmt_value(value: float | None, unit: str = "") -> str:
    """Human formatting: 3 significant digits, thousands grouped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    a = abs(value)
    if float(value).is_integer() and a < 100:
        s = str(int(value))
    elif a >= 100:
        s = f"{value:,.0f}"
    elif a >= 10:
        s = f"{value:.1f}"
    else:
        s = f"{value:.2f}"
    return f"{s} {unit}".strip()


def table_rows(figures: Sequence[Figure]) -> list[list[str]]:
    """Rows of strings: figure, value, baseline, ratio, target, met."""
    rows = []
    for f in figures:
        met = {True: "yes", False: "NO", None: DASH}[f.met]
        base = DASH if f.baseline is None else f"{fmt_value(f.baseline, f.unit)} ({f.baseline_name})"
        ratio = DASH if f.ratio is None else f"{f.ratio:.2f}"
        target = DASH if f.target is None else f.target.text(f.unit)
        rows.append([f.name, fmt_value(f.value, f.unit), base, ratio, target, met])
    return rows


HEADER = ["figure", "value", "baseline", "ratio", "target", "met"]


def format_table(figures: Sequence[Figure]) -> str:
    """A fixed-width text table for the terminal."""
    rows = [HEADER, *table_rows(figures)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(figures: Sequence[Figure]) -> str:
    """The same table in GitHub Markdown."""
    rows = table_rows(figures)
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)
