"""The query API as a pure function: request bytes + books + clock readings -> reply bytes.

Every request is a JSON object with an ``op``; every reply is a JSON object with ``ok``.
Errors are ``{"ok": false, "error": {"code": ..., "message": ...}}`` with a stable code
(:data:`ERROR_CODES`). Nothing a client sends can raise out of :func:`handle`.

Prices and sizes are returned as the exact strings received; ``mid``, ``spread`` and the
``impact`` figures are computed with :class:`decimal.Decimal` (never float).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Context, Decimal, Inexact
from typing import Any

import msgspec

from services.book.core.book import Level
from services.book.core.sync import BookRegistry, SyncedBook

BAD_JSON = "bad_json"
NOT_OBJECT = "not_object"
TOO_LARGE = "too_large"
MISSING_PARAM = "missing_param"
BAD_PARAM = "bad_param"
UNKNOWN_OP = "unknown_op"
UNKNOWN_SYMBOL = "unknown_symbol"
INTERNAL = "internal"
ERROR_CODES = (
    BAD_JSON,
    NOT_OBJECT,
    TOO_LARGE,
    MISSING_PARAM,
    BAD_PARAM,
    UNKNOWN_OP,
    UNKNOWN_SYMBOL,
    INTERNAL,
)

OPS = ("book", "top", "impact", "symbols", "status", "ping")
#: Largest ``depth`` accepted (Bybit's deepest stream is 1000 levels).
MAX_DEPTH = 1000
#: ``qty``: a plain positive decimal, at most 20 integer and 20 fractional digits.
_QTY_RE = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
#: Decimal places of ``avg_price`` (rounded half-even, trailing zeros removed).
AVG_PLACES = 18
_AVG_QUANTUM = Decimal(1).scaleb(-AVG_PLACES)
#: Exact arithmetic: inputs have <= 40 digits, so 200 digits never round; Inexact traps if so.
_EXACT = Context(prec=200, rounding=ROUND_HALF_EVEN, traps=[Inexact])

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode


class QueryError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> bytes:
    return _encode({"ok": False, "error": {"code": code, "message": message}})


def strip_zeros(d: Decimal) -> str:
    """A Decimal as a plain decimal string with trailing fractional zeros removed."""
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


# ---------------------------------------------------------------------- parameter checks
def _str_param(req: dict[str, Any], name: str) -> str:
    value = req.get(name)
    if value is None:
        raise QueryError(MISSING_PARAM, f"missing {name!r}")
    if not isinstance(value, str) or not value or len(value) > 64:
        raise QueryError(BAD_PARAM, f"{name!r} must be a non-empty string of at most 64 characters")
    return value


def _book(req: dict[str, Any], registry: BookRegistry) -> SyncedBook:
    category = _str_param(req, "category")
    symbol = _str_param(req, "symbol")
    sb = registry.books.get((category, symbol))
    if sb is None:
        raise QueryError(UNKNOWN_SYMBOL, f"no book for {category}:{symbol}")
    return sb


def _depth(req: dict[str, Any]) -> int | None:
    depth = req.get("depth")
    if depth is None:
        return None
    if type(depth) is not int or not 1 <= depth <= MAX_DEPTH:
        raise QueryError(BAD_PARAM, f"'depth' must be an integer from 1 to {MAX_DEPTH}")
    return depth


def _header(sb: SyncedBook, now: float) -> dict[str, Any]:
    return {
        "ok": True,
        "category": sb.category,
        "symbol": sb.symbol,
        "state": sb.state,
        "u": sb.u,
        "seq": sb.seq,
        "ts": sb.ts,
        "cts": sb.cts,
        "age_ms": int((now - sb.last_update) * 1000),
    }


# ---------------------------------------------------------------------- ops
def op_book(req: dict[str, Any], registry: BookRegistry, now: float) -> dict[str, Any]:
    sb = _book(req, registry)
    depth = _depth(req)
    reply = _header(sb, now)
    reply["bids"] = sb.book.top_bids(depth)
    reply["asks"] = sb.book.top_asks(depth)
    return reply


def op_top(req: dict[str, Any], registry: BookRegistry, now: float) -> dict[str, Any]:
    sb = _book(req, registry)
    reply = _header(sb, now)
    bid = sb.book.best_bid()
    ask = sb.book.best_ask()
    reply["bid"] = bid[0] if bid else None
    reply["bid_size"] = bid[1] if bid else None
    reply["ask"] = ask[0] if ask else None
    reply["ask_size"] = ask[1] if ask else None
    if bid and ask:
        # mid and spread depend only on the two best prices, which change less often than the
        # book: cache them by those (exact) strings.
        bp = bid[0]
        ap = ask[0]
        cached = sb.top_cache
        if cached is None or cached[0] != bp or cached[1] != ap:
            b = Decimal(bp)
            a = Decimal(ap)
            mid = strip_zeros(_EXACT.divide(_EXACT.add(a, b), 2))
            cached = sb.top_cache = (bp, ap, mid, strip_zeros(_EXACT.subtract(a, b)))
        reply["mid"] = cached[2]
        reply["spread"] = cached[3]
    else:
        reply["mid"] = None
        reply["spread"] = None
    return reply


def fill(levels: list[Level], qty: Decimal) -> tuple[Decimal, Decimal, str | None, int]:
    """Walk ``levels`` best first to fill ``qty``: ``(filled, cost, worst_price, levels_used)``."""
    remaining = qty
    cost = Decimal(0)
    worst: str | None = None
    used = 0
    for price, size in levels:
        if remaining <= 0:
            break
        s = Decimal(size)
        take = s if s < remaining else remaining
        cost = _EXACT.add(cost, _EXACT.multiply(take, Decimal(price)))
        remaining = _EXACT.subtract(remaining, take)
        worst = price
        used += 1
    return _EXACT.subtract(qty, remaining), cost, worst, used


def op_impact(req: dict[str, Any], registry: BookRegistry, now: float) -> dict[str, Any]:
    sb = _book(req, registry)
    side = req.get("side")
    if side is None:
        raise QueryError(MISSING_PARAM, "missing 'side'")
    if side not in ("Buy", "Sell"):
        raise QueryError(BAD_PARAM, '\'side\' must be "Buy" or "Sell"')
    raw_qty = req.get("qty")
    if raw_qty is None:
        raise QueryError(MISSING_PARAM, "missing 'qty'")
    if not isinstance(raw_qty, str) or not _QTY_RE.fullmatch(raw_qty):
        raise QueryError(BAD_PARAM, "'qty' must be a positive decimal string (at most 20.20 digits)")
    qty = Decimal(raw_qty)
    if qty <= 0:
        raise QueryError(BAD_PARAM, "'qty' must be positive")
    levels = sb.book.top_asks() if side == "Buy" else sb.book.top_bids()
    filled, cost, worst, used = fill(levels, qty)
    reply = _header(sb, now)
    reply["side"] = side
    reply["qty"] = raw_qty
    reply["filled"] = strip_zeros(filled)
    reply["enough"] = filled == qty
    reply["cost"] = strip_zeros(cost)
    if filled > 0:
        avg = Context(prec=200, rounding=ROUND_HALF_EVEN).divide(cost, filled)
        reply["avg_price"] = strip_zeros(avg.quantize(_AVG_QUANTUM, rounding=ROUND_HALF_EVEN))
    else:
        reply["avg_price"] = None
    reply["worst_price"] = worst
    reply["levels"] = used
    return reply


def op_symbols(req: dict[str, Any], registry: BookRegistry, now: float) -> dict[str, Any]:
    books = [
        {
            "category": sb.category,
            "symbol": sb.symbol,
            "state": sb.state,
            "u": sb.u,
            "age_ms": int((now - sb.last_update) * 1000),
            "bid_levels": sb.book.bid_levels,
            "ask_levels": sb.book.ask_levels,
        }
        for sb in registry.books.values()
    ]
    return {"ok": True, "books": books}


def op_ping(req: dict[str, Any], registry: BookRegistry, now: float) -> dict[str, Any]:
    return {"ok": True, "pong": True}


Handler = Callable[[dict[str, Any], BookRegistry, float], dict[str, Any]]
_HANDLERS: dict[str, Handler] = {
    "book": op_book,
    "top": op_top,
    "impact": op_impact,
    "symbols": op_symbols,
    "ping": op_ping,
}


def handle(
    body: bytes,
    registry: BookRegistry,
    now: float,
    *,
    max_bytes: int = 65536,
    status: Callable[[], dict[str, Any]] | None = None,
) -> tuple[str, bytes, str | None]:
    """Answer one request. Returns ``(op, reply_body, error_code_or_None)``.

    ``op`` is the request's op if known, else ``"invalid"`` (a bounded metric label).
    ``status`` builds the ``status`` reply's service fields (it needs shell counters).
    """
    op = "invalid"
    try:
        if len(body) > max_bytes:
            raise QueryError(TOO_LARGE, f"request larger than {max_bytes} bytes")
        try:
            req = _decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            raise QueryError(BAD_JSON, "request is not valid JSON") from None
        if not isinstance(req, dict):
            raise QueryError(NOT_OBJECT, "request must be a JSON object")
        name = req.get("op")
        if name is None:
            raise QueryError(MISSING_PARAM, "missing 'op'")
        if not isinstance(name, str) or name not in OPS:
            raise QueryError(UNKNOWN_OP, f"unknown op; expected one of {', '.join(OPS)}")
        op = name
        if name == "status":
            reply: dict[str, Any] = {"ok": True}
            if status is not None:
                reply.update(status())
        else:
            reply = _HANDLERS[name](req, registry, now)
        return op, _encode(reply), None
    except QueryError as exc:
        return op, error_body(exc.code, exc.message), exc.code
    except Exception as exc:  # a bug must not kill the service: report it as internal
        return op, error_body(INTERNAL, f"internal error: {type(exc).__name__}"), INTERNAL
