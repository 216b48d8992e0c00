"""Clocks. Core code receives timestamps as arguments; shells read them from a Clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int: ...
    def monotonic(self) -> float: ...


class SystemClock:
    """Wall clock in ns since the epoch, and a monotonic clock in seconds."""

    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic(self) -> float:
        return time.monotonic()


def now_ms() -> int:
    """Wall-clock epoch milliseconds (Bybit's unit)."""
    return time.time_ns() // 1_000_000
