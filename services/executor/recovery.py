"""Start-up (and after-reconnect) reconciliation of the journal with the exchange.

Algorithm (docs/orders.md "Recovery"):

1. List the exchange's open orders for every category/symbol of interest (configured symbols plus
   every symbol with a non-final order in the journal).
2. For each non-final journaled order (``pending``, ``unknown``, ``accepted``, ``new``,
   ``partially_filled``): take its record from the open list, else look it up by orderLinkId; then
   :func:`~services.executor.core.lifecycle.recover` decides: *adopt* the exchange's status, *resend*
   the same create (it is not on the exchange: it never left, or was lost before matching), or
   *keep* it for the periodic check (lookup failed). Re-sends reuse the orderLinkId, so a create that
   did land but was missed by the lookup is refused by Bybit as a duplicate, never placed twice.
3. Open orders on the exchange that the journal does not know are journaled and reported.
4. Journaled cancel/amend/cancel_all intents that were not finished are sent again (idempotent).

Orders with a call in flight (a reconciliation after a private-stream reconnect runs while the
engine has calls out) are skipped: that call's outcome settles them. Lookups and listings here are
synchronous calls from the engine's thread; re-sends go through the engine's senders.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from services.executor.core import lifecycle
from services.executor.core.gate import link_key
from services.executor.core.intents import CreateIntent, from_json
from services.executor.core.requests import build_open_orders, build_positions
from services.executor.core.responses import Ambiguous
from services.executor.core.stream import signed_position
from services.executor.engine import Engine
from services.executor.orders import LiveOrder

NON_FINAL = ("pending", "unknown", "accepted", "new", "partially_filled")


def list_open_orders(engine: Engine, interest: set[tuple[str, str]]) -> dict[str, dict[str, Any]] | None:
    """Open orders by orderLinkId (orders without one keyed by ``#orderId``); None if listing failed."""
    out: dict[str, dict[str, Any]] = {}
    queries: list[tuple[str, str]] = []
    if any(c == "spot" for c, _ in interest):
        queries.append(("spot", ""))
    queries += sorted((c, s) for c, s in interest if c != "spot")
    for category, symbol in queries:
        cursor = ""
        for _ in range(100):
            result = engine.d.get_json(build_open_orders(category, symbol=symbol, cursor=cursor))
            if result is None:
                return None
            for item in result.get("list") or []:
                if isinstance(item, dict):
                    key = str(item.get("orderLinkId") or "") or f"#{item.get('orderId', '')}"
                    out[key] = item
            cursor = str(result.get("nextPageCursor") or "")
            if not cursor or not result.get("list"):
                break
    return out


def load_positions(engine: Engine, interest: set[tuple[str, str]]) -> None:
    for category, symbol in sorted(interest):
        if category == "spot":
            continue
        result = engine.d.get_json(build_positions(category, symbol))
        for item in (result or {}).get("list") or []:
            if isinstance(item, dict) and item.get("symbol") == symbol:
                size = signed_position(item)
                try:
                    engine.positions[(category, symbol)] = Decimal(size or "0")
                except InvalidOperation:
                    pass


def reconcile(engine: Engine, configured: list[tuple[str, str]], *, first: bool) -> bool:
    """Bring the journal and the engine in line with the exchange; False if the exchange was unreachable."""
    journal = engine.journal
    rows = journal.orders(NON_FINAL)
    interest = set(configured) | {(r.category, r.symbol) for r in rows}
    open_orders = list_open_orders(engine, interest)
    if open_orders is None:
        engine.log.warning("reconcile: cannot list open orders")
        return False
    if first:
        load_positions(engine, interest)
    resend: list[CreateIntent] = []
    adopted = kept = 0
    for row in rows:
        if engine.keys.claimed(link_key(row.order_link_id)):
            kept += 1  # a call about it is in flight or waiting: its outcome settles it
            continue
        order = engine.orders.get(row.order_link_id)
        if order is None:
            intent = None
            if row.intent_id is not None:
                body = journal.db.execute("SELECT body FROM intents WHERE id=?", (row.intent_id,)).fetchone()
                decoded = from_json(body[0].encode()) if body else None
                intent = decoded if isinstance(decoded, CreateIntent) else None
            try:
                base = Decimal(row.leaves_qty or row.qty or "0")
            except InvalidOperation:
                base = Decimal(0)
            order = LiveOrder(
                row.order_link_id,
                row.intent_id,
                row.category,
                row.symbol,
                row.side,
                base,
                row.status,
                row.order_id,
                row.cum_exec_qty or "0",
                intent,
            )
            engine.track(order)
        record = open_orders.get(row.order_link_id)
        if record is None:
            found = engine.d.query(row.category, row.symbol, row.order_link_id)
            if isinstance(found, Ambiguous):
                engine.unknown.add(row.order_link_id)
                kept += 1
                continue
            record = found
        decision = lifecycle.recover(order.status, str(record.get("orderStatus", "")) if record else None)
        if decision.action is lifecycle.Recovery.ADOPT and record is not None:
            engine.adopt(order, record)
            adopted += 1
        elif decision.action is lifecycle.Recovery.RESEND and order.intent is not None:
            order.resends += 1
            resend.append(order.intent)
        else:
            kept += 1
    known = {r.order_link_id for r in rows}
    external = 0
    for key, record in open_orders.items():
        if key not in known and key not in engine.orders:
            engine.on_order_record(record)
            external += 1
    if resend:
        engine.log.warning("reconcile: re-sending creates not found on the exchange", count=len(resend))
        engine.send_creates(resend)
    reissued = 0
    if first:
        for irow in journal.open_intents():
            if lifecycle.recover_intent(irow.action, irow.state):
                engine.resend_intent(irow.id, from_json(irow.body))
                reissued += 1
    engine.log.info(
        "reconciled",
        journal_open=len(rows),
        adopted=adopted,
        resent=len(resend),
        kept=kept,
        external=external,
        reissued=reissued,
        exchange_open=len(open_orders),
    )
    return True
