"""Classifying Bybit REST results: Accepted, Rejected, Retryable, Duplicate or Ambiguous.

* ``Accepted`` — retCode 0 (for a batch: the item's ``retExtInfo.list[i].code`` is 0).
* ``Rejected`` — a business error: nothing was placed; the code is Bybit's retCode.
* ``Retryable`` — nothing was placed and the same request may be re-sent after ``cause`` is fixed:
  ``rate_limit`` (10006 / HTTP 429: wait until the reset time), ``clock`` (10002: resync time).
* ``Duplicate`` — 110072/170141 on a create: an earlier attempt with this orderLinkId landed.
* ``Ambiguous`` — the outcome is unknown (timeout, connection error, HTTP 5xx, unreadable body,
  10016 on a create): the order must be looked up by orderLinkId before anything is re-sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from services.executor.core.ratelimit import LimitHeaders

RATE_LIMIT_CODES = frozenset({10006})
CLOCK_CODES = frozenset({10002})
DUPLICATE_CODES = frozenset({110072, 170141})
#: Server busy/restarting: retry (ambiguous for creates).
BUSY_CODES = frozenset({10016, 10019, 10429})
#: Cancel/amend of an order that is already gone.
GONE_CODES = frozenset({110001, 110008, 110010, 170213})


@dataclass(frozen=True, slots=True)
class Accepted:
    order_id: str
    order_link_id: str
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Retryable:
    cause: str  # rate_limit | clock | busy
    code: str
    reason: str
    until_ms: int = 0


@dataclass(frozen=True, slots=True)
class Duplicate:
    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Ambiguous:
    cause: str  # timeout | connection | http_5xx | bad_response | busy
    reason: str


Outcome = Accepted | Rejected | Retryable | Duplicate | Ambiguous


@dataclass(frozen=True, slots=True)
class HttpResult:
    """What the transport got: a status and body, or an error kind (``timeout``/``connection``)."""

    status: int
    body: bytes
    headers: Mapping[str, str]
    error: str = ""
    reset_ms: int = 0
    #: The ``X-Bapi-Limit*`` headers, parsed once by the transport (None if absent).
    limits: LimitHeaders | None = None


def _decode(body: bytes) -> dict[str, Any] | None:
    try:
        obj = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _code_outcome(code: int, msg: str, *, is_create: bool, reset_ms: int) -> Outcome | None:
    """Outcome of a non-zero retCode, or None for 0."""
    if code == 0:
        return None
    text = str(code)
    if code in RATE_LIMIT_CODES:
        return Retryable("rate_limit", text, msg, reset_ms)
    if code in CLOCK_CODES:
        return Retryable("clock", text, msg)
    if code in DUPLICATE_CODES and is_create:
        return Duplicate(text, msg)
    if code in BUSY_CODES:
        return Ambiguous("busy", f"{code} {msg}") if is_create else Retryable("busy", text, msg)
    return Rejected(text, msg)


def envelope_outcome(res: HttpResult, *, is_create: bool) -> tuple[Outcome | None, dict[str, Any]]:
    """Classify the envelope. Returns (outcome, decoded body); outcome None means retCode 0."""
    if res.error:
        return Ambiguous(res.error, f"{res.error} before a response"), {}
    if res.status == 429:
        return Retryable("rate_limit", "http_429", "HTTP 429 system protection", res.reset_ms), {}
    if res.status >= 500:
        return Ambiguous("http_5xx", f"HTTP {res.status}"), {}
    obj = _decode(res.body)
    if res.status != 200 or obj is None:
        if res.status in (401, 403, 404) and obj is None:
            return Rejected(f"http_{res.status}", f"HTTP {res.status}"), {}
        if obj is None:
            return Ambiguous("bad_response", f"HTTP {res.status}, unreadable body"), {}
    code = obj.get("retCode")
    if not isinstance(code, int):
        return Ambiguous("bad_response", "no retCode in response"), obj
    msg = str(obj.get("retMsg", ""))
    return _code_outcome(code, msg, is_create=is_create, reset_ms=res.reset_ms), obj


def classify(res: HttpResult, *, is_create: bool) -> Outcome:
    """Outcome of a single-order call (create, cancel, amend, cancel-all, queries)."""
    outcome, obj = envelope_outcome(res, is_create=is_create)
    if outcome is not None:
        return outcome
    result = obj.get("result") or {}
    if not isinstance(result, dict):
        result = {}
    return Accepted(str(result.get("orderId", "")), str(result.get("orderLinkId", "")), result)


def classify_batch(res: HttpResult, n: int) -> list[Outcome]:
    """Outcome of each of the ``n`` items of a create-batch, index-aligned with the request."""
    outcome, obj = envelope_outcome(res, is_create=True)
    if outcome is not None:
        return [outcome] * n
    result = obj.get("result") or {}
    items = result.get("list") if isinstance(result, dict) else None
    ext = obj.get("retExtInfo") or {}
    codes = ext.get("list") if isinstance(ext, dict) else None
    if not isinstance(items, list) or not isinstance(codes, list) or len(codes) != n:
        return [Ambiguous("bad_response", "batch response without one result per item")] * n
    out: list[Outcome] = []
    for i in range(n):
        entry = codes[i] if isinstance(codes[i], dict) else {}
        item = items[i] if i < len(items) and isinstance(items[i], dict) else {}
        code = entry.get("code")
        if not isinstance(code, int):
            out.append(Ambiguous("bad_response", f"batch item {i} without a code"))
            continue
        item_outcome = _code_outcome(code, str(entry.get("msg", "")), is_create=True, reset_ms=res.reset_ms)
        if item_outcome is None:
            out.append(Accepted(str(item.get("orderId", "")), str(item.get("orderLinkId", "")), item))
        else:
            out.append(item_outcome)
    return out


def server_time_ms(obj: dict[str, Any]) -> int | None:
    """Server time from a ``/v5/market/time`` body (``timeNano`` preferred, else envelope ``time``)."""
    result = obj.get("result") or {}
    if isinstance(result, dict):
        nano = result.get("timeNano")
        if isinstance(nano, str) and nano.isdigit():
            return int(nano) // 1_000_000
        sec = result.get("timeSecond")
        if isinstance(sec, str) and sec.isdigit() and not isinstance(obj.get("time"), int):
            return int(sec) * 1000
    t = obj.get("time")
    return t if isinstance(t, int) else None
