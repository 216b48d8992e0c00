"""Interpretation of the book service's ``status``/``symbols`` replies, and probe bookkeeping.

Pure: the shell sends the requests (REQ, :class:`services.common.rpc.JsonClient`), times them
and passes the decoded replies in. Replies are read defensively: anything unexpected is a
failed probe with a reason, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.monitor.core.histogram import Histogram

SymbolKey = tuple[str, str]


@dataclass(slots=True)
class ProbeResult:
    """One probe round: ``ok`` when both requests were answered with ``ok: true``."""

    ok: bool
    latency_s: float = 0.0
    states: dict[SymbolKey, str] = field(default_factory=dict)
    symbols: list[SymbolKey] = field(default_factory=list)
    error: str = ""


def _key(entry: Any) -> SymbolKey | None:
    if isinstance(entry, dict):
        cat, sym = entry.get("category"), entry.get("symbol")
        if isinstance(cat, str) and isinstance(sym, str):
            return cat, sym
        entry = entry.get("key")
    if isinstance(entry, str) and ":" in entry:
        cat, _, sym = entry.partition(":")
        return cat, sym
    if isinstance(entry, list | tuple) and len(entry) == 2 and all(isinstance(x, str) for x in entry):
        return entry[0], entry[1]
    return None


def _entries(reply: dict[str, Any], *names: str) -> list[Any]:
    for name in names:
        value = reply.get(name)
        if isinstance(value, list):
            return value
        if isinstance(value, dict):
            # {"linear:BTCUSDT": {...}} or {"linear:BTCUSDT": "live"}
            out = []
            for k, v in value.items():
                item = dict(v) if isinstance(v, dict) else {"state": v}
                item.setdefault("key", k)
                out.append(item)
            return out
    return []


def interpret(status: dict[str, Any], symbols: dict[str, Any], latency_s: float) -> ProbeResult:
    """Build a :class:`ProbeResult` from the two decoded replies."""
    for name, reply in (("status", status), ("symbols", symbols)):
        if not reply.get("ok", False):
            err = reply.get("error")
            detail = err.get("code", "error") if isinstance(err, dict) else "not ok"
            return ProbeResult(False, latency_s, error=f"{name}: {detail}")
    states: dict[SymbolKey, str] = {}
    listed_entries = _entries(symbols, "books", "symbols", "result")
    # Both replies may carry per-book states (the book's ``symbols`` does); the later wins.
    for entry in [*_entries(status, "books", "symbols", "result"), *listed_entries]:
        key = _key(entry)
        state = entry.get("state") if isinstance(entry, dict) else None
        if key is not None and isinstance(state, str):
            states[key] = state
    listed = [k for k in (_key(e) for e in listed_entries) if k is not None]
    return ProbeResult(True, latency_s, states, listed)


@dataclass(slots=True)
class ProbeView:
    """Aggregate of probe rounds, read at scrape time."""

    bounds: tuple[float, ...]
    ok: bool = False
    last_ok_ns: int = 0
    rounds: int = 0
    failures: int = 0
    error: str = ""
    states: dict[SymbolKey, str] = field(default_factory=dict)
    symbols: list[SymbolKey] = field(default_factory=list)
    latency: Histogram = field(init=False)

    def __post_init__(self) -> None:
        self.latency = Histogram(self.bounds)

    def record(self, result: ProbeResult, now_ns: int) -> None:
        self.rounds += 1
        self.ok = result.ok
        self.error = result.error
        if result.ok:
            self.last_ok_ns = now_ns
            self.latency.observe(result.latency_s)
            self.states = dict(result.states)
            self.symbols = list(result.symbols)
        else:
            self.failures += 1

    def health(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "rounds": self.rounds,
            "failures": self.failures,
            "error": self.error,
            "states": {f"{c}:{s}": st for (c, s), st in sorted(self.states.items())},
            "symbols": [f"{c}:{s}" for c, s in self.symbols],
        }
