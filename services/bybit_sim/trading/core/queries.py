"""Read-only queries: open/recent orders, positions, wallet balance (Bybit v5 REST shapes).

Pure functions over an :class:`~services.bybit_sim.trading.core.engine.Engine` and the request's
query parameters (PROTOCOL.md §7.5). Cursors are opaque offsets into the sorted result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.bybit_sim.trading.core import errors as e
from services.bybit_sim.trading.core.engine import Engine
from services.bybit_sim.trading.core.errors import ApiError, params_error
from services.bybit_sim.trading.core.model import Order, render_order
from services.bybit_sim.trading.core.validation import check_category

RECENT_CLOSED = 500


def _limit(params: Mapping[str, str], default: int, maximum: int) -> int:
    raw = params.get("limit")
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise params_error("limit invalid") from None
    if not 1 <= value <= maximum:
        raise params_error("limit invalid")
    return value


def _offset(params: Mapping[str, str]) -> int:
    raw = params.get("cursor") or ""
    if not raw:
        return 0
    if not raw.startswith("page-") or not raw[5:].isdigit():
        raise params_error("cursor invalid")
    return int(raw[5:])


def paginate(
    items: list[Any], params: Mapping[str, str], default: int, maximum: int
) -> tuple[list[Any], str]:
    """Slice ``items`` by ``limit``/``cursor``; return the page and ``nextPageCursor`` ("" at the end)."""
    limit = _limit(params, default, maximum)
    start = _offset(params)
    page = items[start : start + limit]
    nxt = f"page-{start + limit}" if start + limit < len(items) else ""
    return page, nxt


def open_orders(engine: Engine, uid: int, params: Mapping[str, str]) -> dict[str, Any]:
    """``GET /v5/order/realtime``: open orders, or with ``openOnly=1`` also the last 500 closed.

    ``orderId``/``orderLinkId`` find one order whatever its state (priority orderId > orderLinkId >
    symbol > baseCoin > settleCoin). Sorted newest first.
    """
    category = check_category(params.get("category"))
    symbol, base, settle = params.get("symbol"), params.get("baseCoin"), params.get("settleCoin")
    order_id, link = params.get("orderId"), params.get("orderLinkId")
    if category != "spot" and not (symbol or base or settle or order_id or link):
        raise e.missing_scope()
    open_only = params.get("openOnly", "0")
    if open_only not in ("0", "1", "2"):
        raise params_error("openOnly invalid")
    acct = engine.account(uid)
    orders: list[Order] = [o for o in acct.orders.values() if o.category == category]
    if order_id:
        orders = [o for o in orders if o.order_id == order_id]
    elif link:
        orders = [o for o in orders if o.order_link_id == link]
    else:
        if symbol:
            orders = [o for o in orders if o.symbol == symbol]
        elif base or settle:
            orders = [o for o in orders if _coin_match(engine, o, base, settle)]
        closed = sorted(
            (o for o in orders if not o.is_open), key=lambda o: (o.updated_ms, o.seq), reverse=True
        )
        recent = {id(o) for o in closed[:RECENT_CLOSED]} if open_only != "0" else set()
        orders = [o for o in orders if o.is_open or id(o) in recent]
    orders.sort(key=lambda o: (o.created_ms, o.seq), reverse=True)
    page, nxt = paginate(orders, params, 20, 50)
    return {"category": category, "list": [render_order(o) for o in page], "nextPageCursor": nxt}


def _coin_match(engine: Engine, order: Order, base: str | None, settle: str | None) -> bool:
    inst = engine.instruments.get((order.category, order.symbol))
    if inst is None:
        return False
    if base:
        return inst.base_coin == base
    return inst.settle_coin == settle


def positions(engine: Engine, uid: int, params: Mapping[str, str]) -> dict[str, Any]:
    """``GET /v5/position/list``: with ``symbol`` a flat position is listed too; with
    ``settleCoin``/``baseCoin`` only non-zero positions."""
    category = check_category(params.get("category"))
    if category == "spot":
        raise ApiError(e.PARAMS, "Illegal category")
    symbol, base, settle = params.get("symbol"), params.get("baseCoin"), params.get("settleCoin")
    if not (symbol or base or settle):
        raise e.missing_scope()
    acct = engine.account(uid)
    now_known = acct.positions
    items = []
    if symbol:
        inst = engine.instruments.get((category, symbol))
        if inst is None:
            raise params_error(f"symbol invalid: {symbol}")
        pos = now_known.get((category, symbol))
        if pos is None:
            pos = engine.position(acct, inst, 0)
        items = [pos]
    else:
        for (cat, sym), pos in sorted(now_known.items()):
            inst = engine.instruments.get((cat, sym))
            if cat != category or inst is None or pos.size == 0:
                continue
            if (base and inst.base_coin != base) or (settle and inst.settle_coin != settle):
                continue
            items.append(pos)
    page, nxt = paginate(items, params, 20, 200)
    return {
        "category": category,
        "list": [p.render(engine.mark(p.category, p.symbol), rest=True) for p in page],
        "nextPageCursor": nxt,
    }


def wallet_balance(engine: Engine, uid: int, params: Mapping[str, str]) -> dict[str, Any]:
    """``GET /v5/account/wallet-balance?accountType=UNIFIED[&coin=A,B]``."""
    account_type = params.get("accountType")
    if account_type != "UNIFIED":
        raise params_error("accountType invalid")
    record = engine.render_wallet(engine.account(uid))
    coins = params.get("coin")
    if coins:
        wanted = set(coins.split(","))
        record["coin"] = [c for c in record["coin"] if c["coin"] in wanted]
    return {"list": [record]}
