"""SimContext: what the simulator's parts share (market, faults, settings, clock, metrics).

Created once by the server (:mod:`services.bybit_sim.app`) and handed to the trading side
(``trading.install(ctx, app)`` and ``trading.private_ws(ctx, websocket)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from services.bybit_sim.core.faults import Faults
from services.bybit_sim.core.market import SimMarket
from services.common.clock import Clock
from services.common.config import Settings

#: Market faults that act once unless a ``count`` is given.
ONE_SHOT = frozenset({"skip_delta", "restart", "resend_snapshot", "malformed", "drop_connections"})


def fault_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Apply the market side's defaults: one-shot faults get ``count=1``; ``stall`` takes
    ``seconds`` as its lifetime (``ttl_s``)."""
    out = dict(params)
    if name in ONE_SHOT and "count" not in out:
        out["count"] = 1
    if name == "stall" and "seconds" in out and "ttl_s" not in out:
        out["ttl_s"] = out["seconds"]
    return out


@dataclass
class SimContext:
    """Shared state of one simulator process.

    Attributes:
        market: every instrument and its true book (:class:`SimMarket`).
        faults: the generic fault registry (:class:`Faults`).
        settings: the process settings.
        clock: ``now_ns()``/``monotonic()``; use :meth:`now_ms` for Bybit timestamps.
        registry: Prometheus registry served on ``sim_metrics_port``.
        extra: free slot for the trading side's own state.
    """

    market: SimMarket
    faults: Faults
    settings: Settings
    clock: Clock
    registry: CollectorRegistry
    extra: dict[str, Any] = field(default_factory=dict)

    def now_ms(self) -> int:
        return self.clock.now_ns() // 1_000_000

    def arm_fault(self, name: str, **params: Any) -> None:
        """``faults.set`` with the market side's defaults (see :func:`fault_params`)."""
        self.faults.set(name, **fault_params(name, params))
