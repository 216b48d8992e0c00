"""The fault catalogue and the seeded schedule (pure: no I/O, no clock).

Every action is one of :data:`KINDS`: a bybit_sim fault (market side or trading side) with
params drawn from the seeded RNG, or a SIGKILL of a service followed by a restart. A schedule
runs every kind once in a seeded order, then (long runs) keeps drawing rounds of all kinds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from chaos.stack import SYMBOLS

MARKET = ("drop_connections", "skip_delta", "restart", "resend_snapshot", "stall", "malformed",
          "pong_delay", "snapshot_before_ack")  # fmt: skip
TRADING = ("http_5xx", "order_timeout", "rate_limit_burst", "clock_skew", "drop_private")
KILLS = ("kill_feed", "kill_book", "kill_executor", "kill_monitor")
KINDS = (*MARKET, *TRADING, *KILLS)


@dataclass
class Action:
    kind: str
    #: sim faults to arm, in order: (name, params)
    faults: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: seconds to wait before restarting a killed service
    restart_after: float = 0.0
    #: seconds after which the armed faults are cleared (persistent ones: skew, pong delay)
    clear_after: float = 0.0
    label: str = ""

    @property
    def service(self) -> str:
        return self.kind.removeprefix("kill_") if self.kind.startswith("kill_") else ""


def make_action(kind: str, rng: random.Random) -> Action:
    """Draw one action of ``kind``."""
    category, symbol = rng.choice(SYMBOLS)
    topic = {"category": category, "topic": f"orderbook.50.{symbol}"}
    where = f"{category}:{symbol}"
    if kind in KILLS:
        wait = round(rng.uniform(0.0, 1.5), 2)
        return Action(kind, restart_after=wait, label=f"restart after {wait}s")
    if kind == "drop_connections":
        return Action(kind, [(kind, {"category": category})], label=category)
    if kind in ("skip_delta", "resend_snapshot"):
        return Action(kind, [(kind, {**topic, "count": 1})], label=where)
    if kind == "restart":
        mode = rng.choice(("snapshot", "delta"))
        return Action(kind, [(kind, {**topic, "mode": mode, "count": 1})], label=f"{where} {mode}")
    if kind == "stall":
        seconds = round(rng.uniform(0.5, 3.0), 2)
        return Action(kind, [(kind, {**topic, "seconds": seconds})], label=f"{where} {seconds}s")
    if kind == "malformed":
        how = rng.choice(("text", "types"))
        return Action(kind, [(kind, {**topic, "kind": how, "count": 1})], label=f"{where} {how}")
    if kind == "pong_delay":
        return Action(kind, [(kind, {"category": category, "ms": 3500})], clear_after=5.0, label=category)
    if kind == "snapshot_before_ack":
        faults: list[tuple[str, dict[str, Any]]] = [
            (kind, {"category": category, "count": 1}),
            ("drop_connections", {"category": category}),
        ]
        return Action(kind, faults, label=category)
    if kind == "http_5xx":
        n = rng.randint(1, 3)
        return Action(kind, [(kind, {"count": n, "status": rng.choice((500, 502, 503))})], label=f"x{n}")
    if kind == "order_timeout":
        mode = rng.choice(("delay", "drop"))
        params = {"count": 1, "mode": mode, "delay_ms": 4000}
        return Action(kind, [(kind, params)], label=mode)
    if kind == "rate_limit_burst":
        n = rng.randint(2, 5)
        return Action(kind, [(kind, {"count": n})], label=f"x{n}")
    if kind == "clock_skew":
        offset = rng.choice((-3000, 7000))
        return Action(kind, [(kind, {"offset_ms": offset})], clear_after=4.0, label=f"{offset}ms")
    if kind == "drop_private":
        mode = rng.choice(("abort", "close"))
        return Action(kind, [(kind, {"mode": mode})], label=mode)
    raise ValueError(f"unknown action kind {kind!r}")


def schedule(seed: int, rounds: int, only: tuple[str, ...] = KINDS) -> list[Action]:
    """``rounds`` rounds; each holds every kind (of ``only``) once, in a seeded order."""
    rng = random.Random(seed)
    out: list[Action] = []
    for _ in range(rounds):
        kinds = list(only)
        rng.shuffle(kinds)
        out.extend(make_action(k, rng) for k in kinds)
    return out
