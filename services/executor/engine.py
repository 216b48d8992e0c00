"""The executor's engine: intents in → checks → journal → REST → journal → reports; stream records in.

Single-threaded by design (the loop in :mod:`services.executor.service` calls it): one writer to the
journal, no locks, a strict order of "journal, then act, then journal the result, then report".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from msgspec import UNSET

from services.executor.adapters.book import BookPrices, Top
from services.executor.adapters.journal import Journal
from services.executor.adapters.reports import ReportPublisher
from services.executor.core import lifecycle
from services.executor.core.instruments import Instrument
from services.executor.core.intents import (
    AmendIntent,
    CancelAllIntent,
    CancelIntent,
    CreateIntent,
    Intent,
    IntentError,
    KillSwitchIntent,
    OrderIntent,
    action_of,
    decode_intent,
    link_id_of,
    order_id_of,
    peek_fields,
    to_json,
)
from services.executor.core.requests import BATCH_LIMITS, build_amend, build_cancel, build_cancel_all
from services.executor.core.responses import Accepted, Ambiguous, Duplicate, Outcome, Rejected
from services.executor.core.risk import RiskGate, check_band
from services.executor.core.validation import Refusal, validate_amend, validate_create
from services.executor.dispatch import Dispatcher
from services.executor.metrics import ExecutorMetrics
from services.executor.orders import LiveOrder, OrderTracker

MAX_RESENDS = 3
MAX_CALL_ATTEMPTS = 3


class Engine(OrderTracker):
    """Intents in, REST calls out (see the module docstring)."""

    def __init__(
        self,
        journal: Journal,
        reports: ReportPublisher,
        dispatcher: Dispatcher,
        gate: RiskGate,
        book: BookPrices | None,
        metrics: ExecutorMetrics,
        log: Any,
        *,
        now_ms: Callable[[], float],
    ) -> None:
        super().__init__(journal, reports)
        self.d = dispatcher
        self.gate = gate
        self.book = book
        self.metrics = metrics
        self.log = log
        self.now_ms = now_ms
        self.instruments: dict[tuple[str, str], Instrument] = {}
        self.loaded_categories: set[str] = set()
        #: ``executor_max_intent_bytes``: larger intents are refused (``schema``, counted ``too_large``).
        self.max_intent_bytes: int | None = None

    # --- intents ---------------------------------------------------------------------------------
    def handle_intents(self, raws: Sequence[bytes]) -> None:
        """Check and journal a drained group of intents (one transaction), then send them."""
        creates: list[CreateIntent] = []
        others: list[tuple[int, OrderIntent]] = []
        later: list[Callable[[], None]] = []
        with self.journal.tx():
            for raw in raws:
                self._admit(raw, creates, others, later)
        for fn in later:  # refusals and kill-switch acks: reported after the commit
            fn()
        self._send_creates(creates)
        for intent_id, intent in others:
            self._send_other(intent_id, intent)

    def _admit(
        self,
        raw: bytes,
        creates: list[CreateIntent],
        others: list[tuple[int, OrderIntent]],
        later: list[Callable[[], None]],
    ) -> None:
        try:
            intent = decode_intent(raw, self.max_intent_bytes)
        except IntentError as exc:
            too_large = self.max_intent_bytes is not None and len(raw) > self.max_intent_bytes
            self.metrics.bad_input.labels("too_large" if too_large else "intent").inc()
            peek = peek_fields(raw)
            self.journal.add_intent(
                peek.get("action", "?"),
                peek.get("category", ""),
                peek.get("symbol", ""),
                peek.get("orderLinkId", ""),
                raw[:4096],
                "refused",
                exc.code,
                exc.message,
            )
            later.append(
                lambda e=exc, p=peek: self._refused(
                    p.get("action", ""),
                    p.get("category", ""),  # type: ignore[misc]
                    p.get("symbol", ""),
                    p.get("orderLinkId", ""),
                    e,
                )
            )
            return
        if isinstance(intent, KillSwitchIntent):
            self.gate.kill_switch = intent.on
            self.metrics.kill_switch.set(1 if intent.on else 0)
            self.journal.add_intent("kill_switch", "", "", "", to_json(intent), "done")
            self.log.warning("kill switch toggled", on=intent.on)
            self.metrics.intents.labels("accepted").inc()
            later.append(
                lambda: self.reports.report(
                    "accepted",
                    "kill_switch",
                    "system",
                    "executor",
                    data={"on": "true" if intent.on else "false"},
                )
            )
            return
        try:
            checked = self._check(intent)
        except Refusal as exc:
            self.journal.add_intent(
                action_of(intent),
                intent.category,
                _sym(intent),
                link_id_of(intent),
                to_json(intent),
                "refused",
                exc.code,
                exc.message,
            )
            later.append(
                lambda e=exc, i=intent: self._refused(
                    action_of(i),
                    i.category,  # type: ignore[misc]
                    _sym(i),
                    link_id_of(i),
                    e,
                )
            )
            return
        symbol = intent.symbol if isinstance(intent.symbol, str) else ""
        intent_id = self.journal.add_intent(
            action_of(intent), intent.category, symbol, link_id_of(intent), to_json(intent), "pending"
        )
        if isinstance(intent, CreateIntent):
            link = str(intent.orderLinkId)
            base = checked if checked is not None else Decimal(0)
            self.journal.add_order(
                link,
                intent_id,
                intent.category,
                intent.symbol,
                intent.side,
                intent.qty,
                intent.price if isinstance(intent.price, str) else "",
                "pending",
            )
            self.track(
                LiveOrder(
                    link,
                    intent_id,
                    intent.category,
                    intent.symbol,
                    intent.side,
                    base,
                    "pending",
                    intent=intent,
                )
            )
            creates.append(intent)
        else:
            others.append((intent_id, intent))

    def _refused(
        self, action: str, category: str, symbol: str, link: str, exc: IntentError | Refusal
    ) -> None:
        self.metrics.intents.labels("refused").inc()
        self.reports.report(
            "rejected", action, category, symbol, link=link, code=exc.code, reason=exc.message
        )

    def _top(self, category: str, symbol: str) -> Top:
        if self.book is None:
            return Top(None, None, None, "no book service")
        return self.book.top(category, symbol)

    def _instrument(self, category: str, symbol: str) -> Instrument | None:
        if category not in self.loaded_categories:
            raise Refusal(f"instrument rules for {category} not loaded yet", code="instruments_unavailable")
        return self.instruments.get((category, symbol))

    def _check(self, intent: OrderIntent) -> Decimal | None:
        """Validation and risk; returns the create's base quantity (for exposure)."""
        now = self.now_ms()
        if isinstance(intent, CreateIntent):
            link = str(intent.orderLinkId)
            if link in self.orders or self.journal.get_order(link) is not None:
                raise Refusal(f"orderLinkId {link} was already used; not sent again", code="duplicate")
            inst = self._instrument(intent.category, intent.symbol)
            need_top = self.gate.limits.band_enabled or intent.orderType == "Market"
            top = self._top(intent.category, intent.symbol) if need_top else Top(None, None, None, "")
            checked = validate_create(intent, inst, top.mid)
            self.gate.check_create(
                intent,
                checked,
                self.exposure(intent.category, intent.symbol),
                self.open_count(),
                top.mid,
                top.state,
                now,
            )
            return checked.base_qty
        if isinstance(intent, AmendIntent):
            self.gate.check_kill()
            validate_amend(intent, self._instrument(intent.category, intent.symbol))
            if intent.price is not UNSET and self.gate.limits.band_enabled:
                top = self._top(intent.category, intent.symbol)
                check_band(self.gate.limits, Decimal(intent.price), top.mid, top.state)
            self.gate.check_rate(now)
        return None

    # --- sending -------------------------------------------------------------------------------
    def _send_creates(self, creates: list[CreateIntent]) -> None:
        by_cat: dict[str, list[CreateIntent]] = {}
        for c in creates:
            by_cat.setdefault(c.category, []).append(c)
        for category, group in by_cat.items():
            limit = BATCH_LIMITS[category]
            for start in range(0, len(group), limit):
                self.place(group[start : start + limit])

    def place(self, chunk: Sequence[CreateIntent]) -> None:
        """Send creates (one call) and apply each item's outcome."""
        outcomes = self.d.place(chunk)
        with self.journal.tx():
            for intent, outcome in zip(chunk, outcomes, strict=True):
                self._journal_outcome(str(intent.orderLinkId), outcome)
        for intent, outcome in zip(chunk, outcomes, strict=True):
            self._report_outcome(intent, outcome)
        unsure = [
            str(i.orderLinkId)
            for i, o in zip(chunk, outcomes, strict=True)
            if isinstance(o, Ambiguous | Duplicate)
        ]
        if unsure:
            self.log.warning("create outcome unknown, looking orders up", count=len(unsure), first=unsure[0])
        for link in unsure:
            self.resolve(link)

    def _journal_outcome(self, link: str, outcome: Outcome) -> None:
        order = self.orders.get(link)
        intent_id = order.intent_id if order else None
        if isinstance(outcome, Accepted):
            self.journal.update_order(link, "accepted", order_id=outcome.order_id)
            if order is not None:
                order.status, order.order_id = "accepted", outcome.order_id
            state = "done"
        elif isinstance(outcome, Rejected):
            self.journal.update_order(link, "rejected", code=outcome.code, reason=outcome.reason)
            self.untrack(link)
            state = "done"
        else:
            self.journal.update_order(link, "unknown", reason=getattr(outcome, "reason", ""))
            if order is not None:
                order.status = "unknown"
            self.unknown.add(link)
            state = "unknown"
        if intent_id is not None:
            self.journal.set_intent(intent_id, state)

    def _report_outcome(self, intent: CreateIntent, outcome: Outcome) -> None:
        link = str(intent.orderLinkId)
        if isinstance(outcome, Accepted):
            self.metrics.intents.labels("accepted").inc()
            self.reports.report(
                "accepted", "create", intent.category, intent.symbol, link=link, order_id=outcome.order_id
            )
        elif isinstance(outcome, Rejected):
            self.metrics.intents.labels("rejected").inc()
            self.reports.report(
                "rejected",
                "create",
                intent.category,
                intent.symbol,
                link=link,
                code=outcome.code,
                reason=outcome.reason,
            )
        else:
            self.metrics.intents.labels("unknown").inc()
            cause = outcome.cause if isinstance(outcome, Ambiguous) else "duplicate"
            self.reports.report(
                "unknown_pending_check",
                "create",
                intent.category,
                intent.symbol,
                link=link,
                code=cause,
                reason=getattr(outcome, "reason", ""),
            )

    def resolve(self, link: str) -> None:
        """An order whose create outcome is unknown: look it up; adopt it, or re-send the same create."""
        order = self.orders.get(link)
        if order is None:
            self.unknown.discard(link)
            return
        found = self.d.query(order.category, order.symbol, link)
        if isinstance(found, Ambiguous):
            self.log.debug("order lookup failed, will retry", order_link_id=link, cause=found.cause)
            return
        if found is not None:
            self.unknown.discard(link)
            self.adopt(order, found)
            return
        if order.intent is None or order.resends >= MAX_RESENDS:
            self.log.error("order not found and not re-sendable", order_link_id=link)
            return
        order.resends += 1
        self.metrics.retries.labels("resend_after_lookup").inc()
        self.log.info(
            "order not on exchange, re-sending same orderLinkId", order_link_id=link, attempt=order.resends
        )
        self.unknown.discard(link)
        self.place([order.intent])

    def adopt(self, order: LiveOrder, record: dict[str, Any]) -> None:
        """Take the exchange's view of one of our orders (lookup or open-orders list)."""
        status = lifecycle.map_status(str(record.get("orderStatus", "")))
        order_id = str(record.get("orderId", ""))
        unsure = order.status in ("pending", "unknown")
        with self.journal.tx():
            if unsure and status != "rejected":
                self.journal.update_order(order.link, "accepted", order_id=order_id)
            if unsure and order.intent_id is not None:
                self.journal.set_intent(order.intent_id, "done")
        if unsure and status != "rejected":
            order.status, order.order_id = "accepted", order_id
            self.reports.report(
                "accepted",
                "create",
                order.category,
                order.symbol,
                link=order.link,
                order_id=order_id,
                reason="found on exchange by orderLinkId",
            )
        with self.reports.hold(), self.journal.tx():
            self.on_order_record(record)

    def _send_other(self, intent_id: int, intent: OrderIntent) -> None:
        if isinstance(intent, CancelIntent):
            call = build_cancel(intent)
        elif isinstance(intent, AmendIntent):
            call = build_amend(intent)
        else:
            assert isinstance(intent, CancelAllIntent)
            call = build_cancel_all(intent)
        action = action_of(intent)
        outcome: Outcome = Ambiguous("none", "")
        for _ in range(MAX_CALL_ATTEMPTS):  # cancel/amend/cancel-all are idempotent: ambiguous → retry
            outcome = self.d.call(call)
            if not isinstance(outcome, Ambiguous):
                break
            self.metrics.retries.labels(f"{action}_{outcome.cause}").inc()
        link = link_id_of(intent)
        symbol = intent.symbol if isinstance(intent.symbol, str) else ""
        with self.journal.tx():
            if isinstance(outcome, Ambiguous):
                self.journal.set_intent(intent_id, "unknown", outcome.cause, outcome.reason)
            elif isinstance(outcome, Rejected):
                self.journal.set_intent(intent_id, "done", outcome.code, outcome.reason)
            else:
                self.journal.set_intent(intent_id, "done")
                if isinstance(intent, AmendIntent) and link and self.journal.get_order(link):
                    self.journal.update_order(
                        link,
                        (self.orders[link].status if link in self.orders else "new"),
                        qty=intent.qty if isinstance(intent.qty, str) else "",
                        price=intent.price if isinstance(intent.price, str) else "",
                    )
        if isinstance(outcome, Accepted):
            self.metrics.intents.labels("accepted").inc()
            status = "amended" if isinstance(intent, AmendIntent) else "accepted"
            data = {}
            if isinstance(intent, CancelAllIntent):
                items = outcome.result.get("list") or []
                data["count"] = str(len(items))
            self.reports.report(
                status,
                action,
                intent.category,
                symbol,
                link=link or outcome.order_link_id,
                order_id=outcome.order_id or order_id_of(intent),
                data=data,
            )
            if isinstance(intent, AmendIntent) and isinstance(intent.qty, str) and link in self.orders:
                self.set_base(self.orders[link], Decimal(intent.qty))
        elif isinstance(outcome, Rejected):
            self.metrics.intents.labels("rejected").inc()
            self.reports.report(
                "rejected",
                action,
                intent.category,
                symbol,
                link=link,
                code=outcome.code,
                reason=outcome.reason,
            )
        else:
            self.metrics.intents.labels("unknown").inc()
            self.reports.report(
                "unknown_pending_check",
                action,
                intent.category,
                symbol,
                link=link,
                code=outcome.cause if isinstance(outcome, Ambiguous) else "unknown",
                reason=getattr(outcome, "reason", ""),
            )

    def resend_intent(self, intent_id: int, intent: Intent) -> None:
        """Re-issue a journaled cancel/amend/cancel_all (recovery)."""
        if isinstance(intent, CancelIntent | AmendIntent | CancelAllIntent):
            self._send_other(intent_id, intent)


def _sym(intent: OrderIntent) -> str:
    return intent.symbol if isinstance(intent.symbol, str) else ""
