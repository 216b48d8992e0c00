"""Bybit's per-UID rate limits: a rolling 1-second window per (uid, endpoint, category).

Pure: the caller passes ``now_ms``. Limits follow PROTOCOL.md §7.3; batch endpoints consume one
unit per order and have their own budget, so a batch that runs out mid-way grants only its first
``k`` units. Every private response reports the state in ``X-Bapi-Limit`` (limit),
``X-Bapi-Limit-Status`` (remaining) and ``X-Bapi-Limit-Reset-Timestamp`` (ms when a unit frees up,
or now if none is used).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

WINDOW_MS = 1000

_ORDER_LIMITS: dict[str, dict[str, int]] = {
    "/v5/order/create": {"linear": 10, "inverse": 10, "option": 10, "spot": 20},
    "/v5/order/amend": {"linear": 10, "inverse": 10, "option": 10, "spot": 10},
    "/v5/order/cancel": {"linear": 10, "inverse": 10, "option": 10, "spot": 20},
    "/v5/order/cancel-all": {"linear": 10, "inverse": 10, "option": 1, "spot": 20},
    "/v5/order/create-batch": {"linear": 10, "inverse": 10, "option": 10, "spot": 20},
    "/v5/order/amend-batch": {"linear": 10, "inverse": 10, "option": 10, "spot": 20},
    "/v5/order/cancel-batch": {"linear": 10, "inverse": 10, "option": 10, "spot": 20},
}
_QUERY_LIMITS = {
    "/v5/order/realtime": 50,
    "/v5/order/history": 50,
    "/v5/execution/list": 50,
    "/v5/position/list": 50,
    "/v5/account/wallet-balance": 50,
}


def limit_for(path: str, category: str) -> int:
    """Requests (or batch orders) per second allowed on ``path`` for ``category``."""
    per_category = _ORDER_LIMITS.get(path)
    if per_category is not None:
        return per_category.get(category, 10)
    return _QUERY_LIMITS.get(path, 50)


@dataclass(frozen=True, slots=True)
class Grant:
    """Outcome of one request against a window."""

    granted: int  #: units granted (0 = refused with 10006)
    limit: int
    remaining: int
    reset_ms: int

    def headers(self) -> dict[str, str]:
        """The ``X-Bapi-Limit*`` response headers."""
        return {
            "X-Bapi-Limit": str(self.limit),
            "X-Bapi-Limit-Status": str(self.remaining),
            "X-Bapi-Limit-Reset-Timestamp": str(self.reset_ms),
        }


class RateLimiter:
    """Rolling 1-s windows keyed by (uid, path, category)."""

    def __init__(self, scale: float = 1.0) -> None:
        self._hits: dict[tuple[int, str, str], deque[int]] = {}
        self._scale = scale

    def acquire(self, uid: int, path: str, category: str, now_ms: int, units: int = 1) -> Grant:
        """Consume up to ``units`` from the window; grant as many as fit (at least 0).

        A single request asks for 1 unit; a batch asks for one per order and may be granted fewer.
        """
        limit = max(1, int(limit_for(path, category) * self._scale))
        hits = self._hits.setdefault((uid, path, category), deque())
        while hits and hits[0] <= now_ms - WINDOW_MS:
            hits.popleft()
        granted = max(0, min(units, limit - len(hits)))
        hits.extend([now_ms] * granted)
        remaining = limit - len(hits)
        reset = hits[0] + WINDOW_MS if hits else now_ms
        return Grant(granted, limit, remaining, reset)
