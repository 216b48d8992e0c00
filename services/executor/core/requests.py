"""Building Bybit v5 REST calls from intents, and grouping creates into ``create-batch`` calls.

A :class:`RestCall` holds the exact bytes to send (query string or JSON body, encoded once with
msgspec) so that what is signed is what goes on the wire. Creates of one category that arrive
together go into ``/v5/order/create-batch`` calls of at most 20 (linear/inverse) or 10 (spot)
orders; a lone create uses ``/v5/order/create``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from services.executor.core.intents import AmendIntent, CancelAllIntent, CancelIntent, CreateIntent

BATCH_LIMITS = {"linear": 20, "inverse": 20, "spot": 10}

CREATE = "/v5/order/create"
CREATE_BATCH = "/v5/order/create-batch"
CANCEL = "/v5/order/cancel"
AMEND = "/v5/order/amend"
CANCEL_ALL = "/v5/order/cancel-all"
REALTIME = "/v5/order/realtime"
TIME = "/v5/market/time"
INSTRUMENTS = "/v5/market/instruments-info"
POSITIONS = "/v5/position/list"

_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class RestCall:
    """One HTTP request. ``links`` are the orderLinkIds it carries, in order (batch items)."""

    method: str
    path: str
    category: str
    payload: bytes = b""
    signed: bool = True
    links: tuple[str, ...] = ()
    weight: int = 1
    attempts: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_create(self) -> bool:
        return self.path in (CREATE, CREATE_BATCH)

    @property
    def target(self) -> str:
        """Path plus query (GET) — what goes after the host."""
        if self.method == "GET" and self.payload:
            return f"{self.path}?{self.payload.decode()}"
        return self.path


def order_body(intent: CreateIntent | CancelIntent | AmendIntent | CancelAllIntent) -> dict[str, Any]:
    """The Bybit request object of an intent: its fields without ``action``."""
    body: dict[str, Any] = msgspec.to_builtins(intent)
    body.pop("action", None)
    return body


def build_create(intent: CreateIntent) -> RestCall:
    return RestCall(
        "POST", CREATE, intent.category, _encoder.encode(order_body(intent)), links=(str(intent.orderLinkId),)
    )


def build_create_batch(category: str, intents: Sequence[CreateIntent]) -> RestCall:
    items = []
    for intent in intents:
        item = order_body(intent)
        item.pop("category", None)
        items.append(item)
    payload = _encoder.encode({"category": category, "request": items})
    links = tuple(str(i.orderLinkId) for i in intents)
    return RestCall("POST", CREATE_BATCH, category, payload, links=links, weight=len(intents))


def group_creates(intents: Sequence[CreateIntent]) -> list[RestCall]:
    """Creates in arrival order → calls: per category, chunks within the batch limit."""
    by_cat: dict[str, list[CreateIntent]] = {}
    for intent in intents:
        by_cat.setdefault(intent.category, []).append(intent)
    calls = []
    for category, group in by_cat.items():
        limit = BATCH_LIMITS[category]
        for start in range(0, len(group), limit):
            chunk = group[start : start + limit]
            calls.append(build_create(chunk[0]) if len(chunk) == 1 else build_create_batch(category, chunk))
    return calls


def build_cancel(intent: CancelIntent) -> RestCall:
    return RestCall("POST", CANCEL, intent.category, _encoder.encode(order_body(intent)), links=_link(intent))


def build_amend(intent: AmendIntent) -> RestCall:
    return RestCall("POST", AMEND, intent.category, _encoder.encode(order_body(intent)), links=_link(intent))


def build_cancel_all(intent: CancelAllIntent) -> RestCall:
    return RestCall("POST", CANCEL_ALL, intent.category, _encoder.encode(order_body(intent)))


def _link(intent: CancelIntent | AmendIntent) -> tuple[str, ...]:
    return (str(intent.orderLinkId),) if isinstance(intent.orderLinkId, str) else ()


def query_string(params: dict[str, str]) -> bytes:
    """``k=v&...`` sorted by key, values not URL-encoded (they are restricted to safe characters)."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v != "").encode()


def build_query_order(category: str, symbol: str, order_link_id: str) -> RestCall:
    """Look one order up by orderLinkId (open or recently closed)."""
    q = query_string({"category": category, "symbol": symbol, "orderLinkId": order_link_id, "openOnly": "0"})
    return RestCall("GET", REALTIME, category, q, links=(order_link_id,))


def build_open_orders(category: str, symbol: str = "", settle_coin: str = "", cursor: str = "") -> RestCall:
    q = query_string(
        {"category": category, "symbol": symbol, "settleCoin": settle_coin, "limit": "50", "cursor": cursor}
    )
    return RestCall("GET", REALTIME, category, q)


def build_positions(category: str, symbol: str) -> RestCall:
    return RestCall("GET", POSITIONS, category, query_string({"category": category, "symbol": symbol}))


def build_time() -> RestCall:
    return RestCall("GET", TIME, "", b"", signed=False)


def build_instruments(category: str, cursor: str = "") -> RestCall:
    q = query_string({"category": category, "limit": "1000", "cursor": cursor})
    return RestCall("GET", INSTRUMENTS, category, q, signed=False)
