"""Top of book from the book service (JSON REQ ``{"op":"top",...}``), cached for a short time.

Used for the price band, for pricing market orders in risk checks, and by paper mode. A book that
is not ``live``, unreachable or malformed yields ``Top(None, None, None, state)`` with a reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import zmq

from services.common.rpc import JsonClient, RpcError, RpcTimeout


@dataclass(frozen=True, slots=True)
class Top:
    bid: Decimal | None
    ask: Decimal | None
    mid: Decimal | None
    state: str


def _dec(value: object) -> Decimal | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        out = Decimal(value)
    except InvalidOperation:
        return None
    return out if out.is_finite() and out > 0 else None


class BookPrices:
    """A cached REQ client; ``ttl`` seconds of staleness are accepted (0.25 s by default)."""

    def __init__(
        self,
        endpoint: str,
        ctx: zmq.Context[zmq.Socket[bytes]],
        *,
        timeout: float = 0.5,
        ttl: float = 0.25,
        curve: tuple[bytes, bytes, bytes] | None = None,
    ) -> None:
        self.client = JsonClient(endpoint, timeout=timeout, ctx=ctx, curve=curve)
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, Top]] = {}

    def top(self, category: str, symbol: str) -> Top:
        key = (category, symbol)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        top = self._ask(category, symbol)
        self._cache[key] = (now, top)
        return top

    def _ask(self, category: str, symbol: str) -> Top:
        try:
            reply = self.client.request({"op": "top", "category": category, "symbol": symbol})
        except RpcTimeout:
            return Top(None, None, None, "book service unreachable")
        except (RpcError, ValueError):
            return Top(None, None, None, "bad reply from book service")
        if not reply.get("ok"):
            err = reply.get("error") or {}
            code = err.get("code", "error") if isinstance(err, dict) else "error"
            return Top(None, None, None, f"book service: {code}")
        state = str(reply.get("state", ""))
        bid, ask = _dec(reply.get("bid")), _dec(reply.get("ask"))
        mid = _dec(reply.get("mid"))
        if mid is None and bid is not None and ask is not None:
            mid = (bid + ask) / 2
        if state != "live":
            return Top(bid, ask, None, f"book is {state or 'not live'}")
        return Top(bid, ask, mid, state)

    def close(self) -> None:
        self.client.close()
