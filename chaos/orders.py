"""An order-sending strategy and the end-of-run order audit (exchange vs journal vs reports).

The strategy PUSHes ``create`` intents with its own ``orderLinkId``s (resting limits inside the
price band, IOC takers at the touch, off-tick and out-of-band prices the executor must refuse),
and ``cancel_all`` now and then so open orders stay bounded. An intent that got no report at all
in ``RESEND_S`` is re-sent unchanged (same ``orderLinkId``) — what docs/orders.md tells a
strategy to do after an executor crash.

:func:`audit` then holds every intent to: exactly one exchange order or one refusal, never two
orders; the journal's order id and status equal the exchange's; no report contradicts them.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import zmq

from services.common.book_client import BookClient
from services.common.order_client import OrderClient
from services.common.rpc import RpcError, RpcTimeout

RESEND_S = 10.0
MAX_SENDS = 6
#: Bybit orderStatus -> the executor's status.
EXCHANGE_STATUS = {
    "New": "new", "Untriggered": "new", "Triggered": "new", "PartiallyFilled": "partially_filled",
    "Filled": "filled", "Cancelled": "cancelled", "PartiallyFilledCanceled": "cancelled",
    "Deactivated": "cancelled", "Rejected": "rejected",
}  # fmt: skip
#: Reports that show an order's exchange state (the order path works end to end).
EXCHANGE_STATES = frozenset({"new", "partially_filled", "filled", "cancelled"})
TICK = {"BTCUSDT": Decimal("0.1"), "ETHUSDT": Decimal("0.01")}
QTY = {"BTCUSDT": "0.001", "ETHUSDT": "0.01"}


@dataclass
class Intent:
    link: str
    kind: str
    body: dict[str, Any]
    sends: int = 1
    last_sent: float = field(default_factory=time.monotonic)
    first_sent: float = field(default_factory=time.monotonic)
    statuses: list[tuple[str, str]] = field(default_factory=list)  # (status, code)


class OrderStrategy(threading.Thread):
    """Sends a seeded stream of create intents and follows their reports."""

    def __init__(self, pull: str, pub: str, book_rep: str, seed: int, pace_s: float = 0.3) -> None:
        super().__init__(name="orders", daemon=True)
        self.pull, self.pub, self.book_rep = pull, pub, book_rep
        self.rng = random.Random(seed * 7919 + 1)
        self.seed = seed
        self.pace_s = pace_s
        self.intents: dict[str, Intent] = {}
        self.lock = threading.Lock()
        self.sending = threading.Event()
        self.sending.set()
        self.stop_event = threading.Event()
        self.kinds: Counter[str] = Counter()
        self.cancel_alls = 0
        self.executor_epochs: set[int] = set()
        self.heartbeat_at = 0.0
        self.answered_at = 0.0  # last time an intent sent after ``probe_from`` got its answer
        self.probe_from = 0.0
        self._mids: dict[str, Decimal] = {}
        self._tops: dict[str, dict[str, Any]] = {}

    # --- prices -----------------------------------------------------------------------------
    def _refresh_tops(self, book: BookClient) -> None:
        for sym in TICK:
            try:
                top = book.top("linear", sym)
            except (RpcError, RpcTimeout):
                continue
            if top.get("state") == "live" and top.get("mid"):
                self._mids[sym] = Decimal(top["mid"])
                self._tops[sym] = top

    def _intent(self, n: int) -> Intent | None:
        link = f"cx{self.seed}n{n}"
        roll = self.rng.random()
        sym = "BTCUSDT" if self.rng.random() < 0.7 else "ETHUSDT"
        side = "Buy" if self.rng.random() < 0.5 else "Sell"
        body: dict[str, Any] = {"action": "create", "category": "linear", "symbol": sym, "side": side,
                                "orderType": "Limit", "qty": QTY[sym], "orderLinkId": link}  # fmt: skip
        mid, tick = self._mids.get(sym), TICK[sym]
        if roll < 0.10:
            kind, price = "off_tick", (mid or Decimal(1000)).quantize(tick, ROUND_DOWN) + tick / 2
            body["timeInForce"] = "GTC"
        elif mid is None:
            return None
        elif roll < 0.15:
            kind = "out_of_band"
            price = (mid * (Decimal("0.7") if side == "Buy" else Decimal("1.3"))).quantize(tick, ROUND_DOWN)
            body["timeInForce"] = "GTC"
        elif roll < 0.35:
            kind = "ioc_taker"
            top = self._tops[sym]
            price = Decimal(top["ask"] if side == "Buy" and top.get("ask") else top.get("bid") or mid)
            body["timeInForce"] = "IOC"
        else:
            kind = "resting"
            off = Decimal(1) - Decimal(self.rng.randint(5, 30)) / 1000
            raw = mid * off if side == "Buy" else mid / off
            price = raw.quantize(tick, ROUND_DOWN)
            body["timeInForce"] = "PostOnly"
        body["price"] = str(price)
        return Intent(link, kind, body)

    # --- loop -------------------------------------------------------------------------------
    def run(self) -> None:
        oc = OrderClient(self.pull, self.pub, send_timeout=1.0)
        book = BookClient(self.book_rep, timeout=1.0)
        n = 0
        next_send = next_top = next_cancel = time.monotonic()
        try:
            while not self.stop_event.is_set():
                self._poll(oc)
                now = time.monotonic()
                if now >= next_top:
                    self._refresh_tops(book)
                    next_top = now + 1.0
                if self.sending.is_set() and now >= next_send:
                    next_send = now + self.pace_s
                    intent = self._intent(n)
                    n += 1
                    if intent is not None:
                        with self.lock:
                            self.intents[intent.link] = intent
                        self.kinds[intent.kind] += 1
                        self._send(oc, intent.body)
                if self.sending.is_set() and now >= next_cancel:
                    next_cancel = now + 4.0
                    for sym in TICK:
                        self._send(oc, {"action": "cancel_all", "category": "linear", "symbol": sym})
                    self.cancel_alls += 1
                self._resend(oc, now)
        finally:
            oc.close()
            book.close()

    def _send(self, oc: OrderClient, body: dict[str, Any]) -> None:
        try:
            oc.send(body)
        except zmq.Again:
            pass  # no executor connected for a while: the resend rule covers it

    def _poll(self, oc: OrderClient) -> None:
        before = oc.heartbeats
        reports = oc.poll(0.05)
        if oc.heartbeats != before:
            self.heartbeat_at = time.monotonic()
        with self.lock:
            for r in reports:
                intent = self.intents.get(r.order_link_id)
                if intent is not None and r.action == "create":
                    if r.status in EXCHANGE_STATES and intent.first_sent >= self.probe_from:
                        self.answered_at = self.answered_at or time.monotonic()
                    intent.statuses.append((r.status, r.code))
        oc.reports.clear()

    def _resend(self, oc: OrderClient, now: float) -> None:
        with self.lock:
            due = [i for i in self.intents.values() if not i.statuses and now - i.last_sent > RESEND_S]
        for intent in due:
            if intent.sends >= MAX_SENDS:
                continue
            intent.sends += 1
            intent.last_sent = now
            self._send(oc, intent.body)

    def unanswered(self) -> int:
        with self.lock:
            return sum(1 for i in self.intents.values() if not i.statuses)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(10)


@dataclass
class OrderAudit:
    intents: int = 0
    exchange_orders: int = 0
    refusals: int = 0
    resent: int = 0
    violations: list[str] = field(default_factory=list)
    info: Counter[str] = field(default_factory=Counter)


def read_journal(path: Path) -> tuple[dict[str, tuple[str, str]], dict[str, list[tuple[str, str]]]]:
    """(orders: link -> (status, order_id), intents: link -> [(state, code)]) from the journal."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        orders = {r[0]: (r[1], r[2] or "") for r in db.execute(
            "SELECT order_link_id, status, order_id FROM orders")}  # fmt: skip
        intents: dict[str, list[tuple[str, str]]] = {}
        for link, state, code in db.execute(
            "SELECT order_link_id, state, code FROM intents WHERE action = 'create'"
        ):
            intents.setdefault(link or "", []).append((state, code or ""))
    finally:
        db.close()
    return orders, intents


def audit(
    intents: dict[str, Intent],
    exchange: list[dict[str, Any]],
    journal_orders: dict[str, tuple[str, str]],
    journal_intents: dict[str, list[tuple[str, str]]],
) -> OrderAudit:
    """Hold every intent to one exchange order or one refusal; the journal and reports agree."""
    res = OrderAudit(intents=len(intents))
    by_link: dict[str, list[dict[str, Any]]] = {}
    for o in exchange:
        by_link.setdefault(str(o.get("orderLinkId", "")), []).append(o)
    for link in by_link:
        if link not in intents:
            res.violations.append(f"exchange order {link!r} matches no intent")
    for link, intent in intents.items():
        res.resent += intent.sends > 1
        orders = by_link.get(link, [])
        jo = journal_orders.get(link)
        ji = journal_intents.get(link, [])
        own = [(s, c) for s, c in intent.statuses if c != "duplicate"]
        seen = {s for s, _ in own}
        if len(orders) > 1:
            res.violations.append(f"{link}: {len(orders)} exchange orders")
            continue
        if orders:
            res.exchange_orders += 1
            ex = orders[0]
            status = EXCHANGE_STATUS.get(str(ex.get("orderStatus")), "?")
            if jo is None:
                res.violations.append(f"{link}: on the exchange ({status}) but not in the journal")
            elif jo != (status, str(ex.get("orderId"))):
                res.violations.append(f"{link}: journal {jo} != exchange ({status}, {ex.get('orderId')})")
            if "rejected" in seen:
                res.violations.append(f"{link}: reported rejected but the exchange holds it ({status})")
            finals = [s for s, _ in own if s in ("filled", "cancelled")]
            if finals and finals[-1] != status:
                res.violations.append(f"{link}: last final report {finals[-1]} != exchange {status}")
            if not own:
                res.info["order_without_report"] += 1
            elif own[-1][0] != status:
                res.info["report_behind_exchange"] += 1
            continue
        refused = any(state == "refused" and code != "duplicate" for state, code in ji)
        rejected_by_exchange = jo is not None and jo[0] == "rejected"
        if refused or rejected_by_exchange:
            res.refusals += 1
            res.info["refused_" + ("executor" if refused else "exchange")] += 1
            if seen - {"rejected", "unknown_pending_check"}:
                res.violations.append(f"{link}: refused, but reported {sorted(seen)}")
            if not own:
                res.info["refusal_without_report"] += 1
        elif jo is not None:
            res.violations.append(f"{link}: journal says {jo[0]} but the exchange has no order")
        else:
            res.violations.append(f"{link}: never journaled after {intent.sends} sends ({intent.kind})")
    return res
