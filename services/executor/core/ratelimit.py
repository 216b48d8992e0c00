"""Client-side rate limiting: token buckets per (endpoint, category), corrected by Bybit's headers.

Bybit limits each UID per endpoint over a rolling second and reports the state on every response:
``X-Bapi-Limit`` (limit), ``X-Bapi-Limit-Status`` (remaining) and ``X-Bapi-Limit-Reset-Timestamp``
(ms). A bucket starts from the documented limit (PROTOCOL.md §7.3); each response resets its
capacity to the announced limit and its tokens to at most the announced remainder, and an empty
remainder (or a 10006) blocks it until the reset time. Times are milliseconds on the exchange's
clock (local time + measured offset), passed in by the caller: no clock reads here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: Documented per-second limits: (path, category group) -> requests (orders for batches) per second.
DEFAULT_LIMITS: dict[tuple[str, str], float] = {}
for _path in ("/v5/order/create", "/v5/order/cancel", "/v5/order/cancel-all", "/v5/order/create-batch"):
    DEFAULT_LIMITS[(_path, "linear")] = 10.0
    DEFAULT_LIMITS[(_path, "spot")] = 20.0
DEFAULT_LIMITS[("/v5/order/amend", "linear")] = 10.0
DEFAULT_LIMITS[("/v5/order/amend", "spot")] = 10.0
FALLBACK_LIMIT = 50.0


def category_group(category: str) -> str:
    """Linear and inverse share limits; spot has its own; non-trading endpoints use ``all``."""
    if category in ("linear", "inverse"):
        return "linear"
    return category or "all"


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second up to ``capacity``; :meth:`take` says how long to wait."""

    rate: float
    capacity: float
    tokens: float
    updated_ms: float
    blocked_until_ms: float = 0.0

    @classmethod
    def full(cls, rate: float, now_ms: float) -> TokenBucket:
        return cls(rate=rate, capacity=rate, tokens=rate, updated_ms=now_ms)

    def _refill(self, now_ms: float) -> None:
        if now_ms > self.updated_ms:
            self.tokens = min(self.capacity, self.tokens + (now_ms - self.updated_ms) * self.rate / 1000.0)
            self.updated_ms = now_ms

    def take(self, n: float, now_ms: float) -> float:
        """Consume ``n`` tokens and return 0.0, or return the ms to wait (nothing consumed)."""
        if now_ms < self.blocked_until_ms:
            return self.blocked_until_ms - now_ms
        self._refill(now_ms)
        need = min(n, self.capacity)
        if self.tokens >= need:
            self.tokens -= need
            return 0.0
        return (need - self.tokens) * 1000.0 / self.rate

    def correct(self, limit: int, remaining: int, reset_ms: int, now_ms: float) -> None:
        """Apply the exchange's view: capacity = limit, tokens <= remaining, blocked while 0 left."""
        if limit > 0:
            self.capacity = float(limit)
            self.rate = float(limit)
        self._refill(now_ms)
        self.tokens = min(self.tokens, float(max(remaining, 0)))
        if remaining <= 0 and reset_ms > now_ms:
            self.blocked_until_ms = float(reset_ms)

    def block_until(self, until_ms: float) -> None:
        self.blocked_until_ms = max(self.blocked_until_ms, until_ms)
        self.tokens = 0.0

    def headroom(self, now_ms: float) -> float:
        """Fraction of capacity available now (0..1)."""
        if now_ms < self.blocked_until_ms:
            return 0.0
        self._refill(now_ms)
        return self.tokens / self.capacity if self.capacity else 0.0


@dataclass(frozen=True, slots=True)
class LimitHeaders:
    limit: int
    remaining: int
    reset_ms: int


def parse_limit_headers(headers: Mapping[str, str]) -> LimitHeaders | None:
    """Read the three ``X-Bapi-Limit*`` headers (case-insensitive mapping expected); None if absent/bad."""
    try:
        limit = headers.get("X-Bapi-Limit")
        status = headers.get("X-Bapi-Limit-Status")
        reset = headers.get("X-Bapi-Limit-Reset-Timestamp")
        if limit is None or status is None:
            return None
        return LimitHeaders(int(limit), int(status), int(reset or 0))
    except (TypeError, ValueError):
        return None


class RateLimiter:
    """Buckets keyed by ``(path, category group)``, created on first use from :data:`DEFAULT_LIMITS`."""

    def __init__(self, limits: Mapping[tuple[str, str], float] | None = None) -> None:
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self.buckets: dict[tuple[str, str], TokenBucket] = {}

    def bucket(self, path: str, category: str, now_ms: float) -> TokenBucket:
        key = (path, category_group(category))
        b = self.buckets.get(key)
        if b is None:
            b = self.buckets[key] = TokenBucket.full(self.limits.get(key, FALLBACK_LIMIT), now_ms)
        return b

    def acquire(self, path: str, category: str, n: float, now_ms: float) -> float:
        """Take ``n`` tokens or return how many ms to wait first."""
        return self.bucket(path, category, now_ms).take(n, now_ms)

    def observe(self, path: str, category: str, headers: Mapping[str, str], now_ms: float) -> None:
        lh = parse_limit_headers(headers)
        if lh is not None:
            self.observe_parsed(path, category, lh, now_ms)

    def observe_parsed(self, path: str, category: str, lh: LimitHeaders, now_ms: float) -> None:
        """Like :meth:`observe`, with the headers already parsed."""
        self.bucket(path, category, now_ms).correct(lh.limit, lh.remaining, lh.reset_ms, now_ms)

    def block(self, path: str, category: str, until_ms: float, now_ms: float) -> None:
        """After a 10006: nothing more on this bucket until ``until_ms``."""
        self.bucket(path, category, now_ms).block_until(until_ms)

    def headroom(self, now_ms: float) -> dict[tuple[str, str], float]:
        return {key: b.headroom(now_ms) for key, b in self.buckets.items()}
