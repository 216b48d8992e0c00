"""A reference Bybit book client for simulator tests: applies snapshots/deltas by the rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


class ClientBook:
    """Holds one topic's book as a correct client would (PROTOCOL.md §3.3)."""

    def __init__(self) -> None:
        self.b: dict[str, str] = {}
        self.a: dict[str, str] = {}
        self.u: int | None = None
        self.seq: int | None = None

    def apply(self, msg: dict[str, Any]) -> None:
        data = msg["data"]
        if msg["type"] == "snapshot":
            self.b = dict(map(tuple, data["b"]))
            self.a = dict(map(tuple, data["a"]))
        else:
            assert self.u is not None, "delta before snapshot"
            assert data["u"] == self.u + 1, f"u gap {self.u} -> {data['u']}"
            for side, levels in ((self.b, data["b"]), (self.a, data["a"])):
                for p, s in levels:
                    if s == "0":
                        side.pop(p, None)
                    else:
                        side[p] = s
        self.u = data["u"]
        self.seq = data["seq"]

    def bids(self) -> list[list[str]]:
        return [[p, s] for p, s in sorted(self.b.items(), key=lambda x: -Decimal(x[0]))]

    def asks(self) -> list[list[str]]:
        return [[p, s] for p, s in sorted(self.a.items(), key=lambda x: Decimal(x[0]))]

    def as_sim_book(self) -> dict[str, Any]:
        return {"bids": self.bids(), "asks": self.asks(), "u": self.u, "seq": self.seq}
