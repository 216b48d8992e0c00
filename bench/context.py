"""The state one benchmark run shares: mode, scratch directory, figures and samples collected."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import Figure


@dataclass
class Ctx:
    quick: bool
    work: Path
    figures: list[Figure] = field(default_factory=list)
    #: latency samples (ns) by name, for the summaries and the plot
    samples: dict[str, list[int]] = field(default_factory=dict)
    #: throughput results by name (msg/s), for the plot
    rates: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def add(self, fig: Figure) -> Figure:
        self.figures.append(fig)
        return fig

    @property
    def logs(self) -> Path:
        p = self.work / "logs"
        p.mkdir(parents=True, exist_ok=True)
        return p


def read_ns(path: Path) -> list[int]:
    a = array("q")
    with open(path, "rb") as fh:
        a.frombytes(fh.read())
    return a.tolist()
