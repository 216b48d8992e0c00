"""A small Python client for the book service's query API (see docs/book.md).

Built on :class:`services.common.rpc.JsonClient`: every call has a timeout, and a REQ socket
that got no reply is closed and reopened, so one lost reply never wedges the client.

Methods return the reply object (a dict); an ``ok: false`` reply raises
:class:`~services.common.rpc.RpcError` whose ``code`` is the service's error code, and a
missing reply raises :class:`~services.common.rpc.RpcTimeout`. Use :meth:`BookClient.request`
to get error replies back as dicts instead.
"""

from __future__ import annotations

from typing import Any

import zmq

from services.common.rpc import JsonClient

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"


class BookClient:
    """Client for the book service. Not thread-safe: use one per thread."""

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        timeout: float = 2.0,
        ctx: zmq.Context[zmq.Socket[bytes]] | None = None,
    ) -> None:
        self._rpc = JsonClient(endpoint, timeout=timeout, ctx=ctx)

    @property
    def endpoint(self) -> str:
        return self._rpc.endpoint

    def request(self, payload: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """Send any request object; return the reply as is (``ok`` may be false)."""
        return self._rpc.request(payload, timeout=timeout)

    def request_raw(self, body: bytes, *, timeout: float | None = None) -> dict[str, Any]:
        """Send raw bytes (for tests of malformed input); return the reply as is."""
        return self._rpc.request_raw(body, timeout=timeout)

    def book(self, category: str, symbol: str, depth: int | None = None) -> dict[str, Any]:
        """Levels best first: ``bids``/``asks`` as ``[price, size]`` strings, plus ``state``, ``u``..."""
        payload: dict[str, Any] = {"op": "book", "category": category, "symbol": symbol}
        if depth is not None:
            payload["depth"] = depth
        return self._rpc.call(payload)

    def top(self, category: str, symbol: str) -> dict[str, Any]:
        """Best bid/ask with sizes, exact ``mid`` and ``spread`` (decimal strings)."""
        return self._rpc.call({"op": "top", "category": category, "symbol": symbol})

    def impact(self, category: str, symbol: str, side: str, qty: str) -> dict[str, Any]:
        """Average and worst price to fill ``qty`` (decimal string) on ``side`` (Buy/Sell)."""
        return self._rpc.call(
            {"op": "impact", "category": category, "symbol": symbol, "side": side, "qty": qty}
        )

    def symbols(self) -> dict[str, Any]:
        return self._rpc.call({"op": "symbols"})

    def status(self) -> dict[str, Any]:
        return self._rpc.call({"op": "status"})

    def ping(self) -> dict[str, Any]:
        return self._rpc.call({"op": "ping"})

    def close(self) -> None:
        self._rpc.close()

    def __enter__(self) -> BookClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
