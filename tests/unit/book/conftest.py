"""Helpers for the book core tests: building wire messages."""

from __future__ import annotations

from services.common.wire import BookUpdate

Lv = tuple[str, str]


def snap(
    u: int, bids: list[Lv], asks: list[Lv], *, depth: int = 50, sym: str = "BTCUSDT", seq: int = 0
) -> BookUpdate:
    return BookUpdate(
        "linear", sym, depth, "snapshot", list(bids), list(asks), u, seq or u * 10, 1000 + u, 999 + u, 0
    )


def delta(
    u: int, bids: list[Lv], asks: list[Lv], *, depth: int = 50, sym: str = "BTCUSDT", seq: int = 0
) -> BookUpdate:
    return BookUpdate(
        "linear", sym, depth, "delta", list(bids), list(asks), u, seq or u * 10, 1000 + u, 999 + u, 0
    )
