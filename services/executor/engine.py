"""The executor's engine: intents in → checks → journal → REST → journal → reports; stream records in.

Single-threaded by design (the loop in :mod:`services.executor.service` calls it): the only writer
to the journal and the only owner of order state, in a strict order of "journal, then act, then
journal the result, then report". Only the REST calls themselves run elsewhere: each journaled
intent becomes a :class:`~services.executor.calls.Job` that a sender thread runs
(:mod:`services.executor.calls`), several at once. A per-key gate
(:class:`~services.executor.core.gate.KeyGate`) holds back a call that must not overlap one in
flight (a cancel behind its order's create, a cancel-all behind its category), and finished jobs
come back here through :meth:`Engine.pump`. Private-stream records of an order with a call in
flight wait until that call's outcome is applied, so reports keep their order (``accepted`` before
``new``, a cancel's ``accepted`` before ``cancelled``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from msgspec import UNSET

from services.executor.adapters.book import BookPrices, Top
from services.executor.adapters.journal import Journal
from services.executor.adapters.reports import ReportPublisher
from services.executor.adapters.wire import WireSender
from services.executor.calls import BarrierJob, CallJob, InlineSender, Job, PlaceJob, QueryJob, SenderPool
from services.executor.core import lifecycle
from services.executor.core.gate import (
    BARRIER,
    Claim,
    Key,
    KeyGate,
    category_claim,
    link_key,
    order_claim,
)
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
from services.executor.core.stream import Record
from services.executor.core.validation import Refusal, validate_amend, validate_create
from services.executor.dispatch import Dispatcher
from services.executor.metrics import ExecutorMetrics
from services.executor.orders import LiveOrder, OrderTracker

MAX_RESENDS = 3

#: What one drained intent asks for once journaled: ("create", intent), ("other", (id, intent)),
#: ("barrier", on).
Step = tuple[str, Any]


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
        sender: SenderPool | InlineSender | WireSender | None = None,
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
        #: Runs the REST work of jobs (sender threads, or inline).
        self.sender: SenderPool | InlineSender | WireSender = sender or InlineSender(dispatcher, log)
        #: Orders calls that must not overlap (docs/orders.md "Calls in flight").
        self.keys: KeyGate[Job] = KeyGate()
        #: Jobs whose keys are taken, waiting for a free sender (oldest first).
        self.ready: deque[Job] = deque()
        #: Jobs handed to the sender and not yet completed here.
        self.inflight = 0
        #: Private-stream records of orders with a call in flight, applied after its outcome.
        self.deferred: dict[str, list[Record]] = {}
        #: Set when stopping: nothing new is sent.
        self.stopping = False

    # --- intents ---------------------------------------------------------------------------------
    def handle_intents(self, raws: Sequence[bytes]) -> None:
        """Check and journal a drained group of intents (one transaction), then send them.

        Runs of creates are grouped per category into create-batch calls; the other intents are
        sent one call each, in arrival order relative to those runs."""
        steps: list[Step] = []
        later: list[Callable[[], None]] = []
        with self.journal.tx():
            for raw in raws:
                self._admit(raw, steps, later)
        for fn in later:  # refusals: reported after the commit
            fn()
        run: list[CreateIntent] = []
        for kind, what in steps:
            if kind == "create":
                run.append(what)
                continue
            if run:
                self._submit_creates(run)
                run = []
            if kind == "other":
                self._submit_other(*what)
            else:
                self._submit(BarrierJob(what, BARRIER))
        if run:
            self._submit_creates(run)
        self._dispatch()

    def _admit(self, raw: bytes, steps: list[Step], later: list[Callable[[], None]]) -> None:
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
            # takes effect now (later intents are refused); acknowledged once the calls before it are done
            self.gate.kill_switch = intent.on
            self.metrics.kill_switch.set(1 if intent.on else 0)
            self.journal.add_intent("kill_switch", "", "", "", to_json(intent), "done")
            self.log.warning("kill switch toggled", on=intent.on)
            self.metrics.intents.labels("accepted").inc()
            steps.append(("barrier", intent.on))
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
            steps.append(("create", intent))
        else:
            steps.append(("other", (intent_id, intent)))

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

    # --- sending ------------------------------------------------------------------------------
    def send_creates(self, creates: Sequence[CreateIntent]) -> None:
        """Send journaled creates (recovery's re-sends)."""
        self._submit_creates(creates)
        self._dispatch()

    def _submit_creates(self, creates: Sequence[CreateIntent]) -> None:
        by_cat: dict[str, list[CreateIntent]] = {}
        for c in creates:
            by_cat.setdefault(c.category, []).append(c)
        for category, group in by_cat.items():
            limit = BATCH_LIMITS[category]
            for start in range(0, len(group), limit):
                chunk = group[start : start + limit]
                keys = [link_key(str(i.orderLinkId)) for i in chunk]
                self._submit(PlaceJob(category, chunk, order_claim(category, *keys)))

    def _submit(self, job: Job) -> None:
        if self.keys.offer(job, job.claim):
            self.ready.append(job)

    def _dispatch(self) -> None:
        """Hand ready jobs to free senders; creates of one category waiting together leave as one batch."""
        ready = self.ready
        while ready and not self.stopping:
            job = ready[0]
            if isinstance(job, BarrierJob):
                ready.popleft()
                self._complete(job)
                continue
            if self.inflight >= self.sender.size:
                return
            ready.popleft()
            if isinstance(job, PlaceJob):
                job = self._merge(job)
            self.inflight += 1
            self.sender.submit(job)

    def _merge(self, job: PlaceJob) -> PlaceJob:
        limit = BATCH_LIMITS[job.category]
        ready = self.ready
        if not ready or len(job.chunk) >= limit:
            return job
        chunk, claim = list(job.chunk), job.claim
        while ready:
            nxt = ready[0]
            if not isinstance(nxt, PlaceJob) or nxt.category != job.category:
                break
            if len(chunk) + len(nxt.chunk) > limit:
                break
            ready.popleft()
            chunk += nxt.chunk
            claim = claim + nxt.claim
        return job if len(chunk) == len(job.chunk) else PlaceJob(job.category, chunk, claim)

    def pump(self) -> int:
        """Apply every finished job (journal, report, follow-ups) and send what can go; returns the count."""
        n = 0
        while True:
            done = self.sender.take()
            if not done:
                return n
            for job in done:
                self.inflight -= 1
                try:
                    self._complete(job)
                except Exception:  # a bug must not lose the other outcomes: look this call's orders up
                    self.log.exception("error applying a call's outcome")
                    self.metrics.bad_input.labels("internal_error").inc()
                    self.unknown.update(k[1] for k in job.claim.exclusive if k[0] == "link")
                n += 1
            self._dispatch()

    def settle(self, timeout: float) -> int:
        """Stop sending and wait up to ``timeout`` s for the calls in flight; apply their outcomes.

        Returns how many are still in flight (their intents stay journaled as ``pending``, which
        recovery resolves at the next start)."""
        self.stopping = True
        deadline = time.monotonic() + timeout
        self.pump()
        while self.inflight > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sender.wait(min(left, 0.1))
            self.pump()
        return self.inflight

    def _complete(self, job: Job) -> None:
        follow: list[Job] = []
        try:
            if isinstance(job, PlaceJob):
                follow = self._placed(job)
            elif isinstance(job, CallJob):
                self._called(job)
            elif isinstance(job, QueryJob):
                follow = self._looked_up(job)
            elif isinstance(job, BarrierJob):
                self._barrier_done(job)
        finally:
            # follow-ups (a lookup after an unknown outcome, a re-send after "not found") keep the
            # order's key, so nothing held for that order overtakes them
            freed = self.keys.release(job.claim, [f.claim for f in follow])
            kept = {k for f in follow for k in f.claim.exclusive}
            for key in job.claim.exclusive:
                if key[0] == "link" and key not in kept:
                    recs = self.deferred.pop(key[1], None)
                    if recs:
                        OrderTracker.on_records(self, recs)
            self.ready.extendleft(reversed(follow))
            self.ready.extend(freed)

    def _placed(self, job: PlaceJob) -> list[Job]:
        """Creates' outcomes: journal, report, and look up the orders whose outcome is unknown."""
        chunk, outcomes = job.chunk, job.result
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
        return [q for link in unsure if (q := self._query_job(link)) is not None]

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

    def _query_job(self, link: str) -> QueryJob | None:
        order = self.orders.get(link)
        if order is None:
            self.unknown.discard(link)
            return None
        return QueryJob(order.category, order.symbol, link, order_claim(order.category, link_key(link)))

    def resolve(self, link: str) -> None:
        """An order whose create outcome is unknown: look it up; adopt it, or re-send the same create.

        Skipped while a call about that order is in flight or waiting (its outcome settles it)."""
        if self.keys.claimed(link_key(link)):
            return
        job = self._query_job(link)
        if job is not None:
            self._submit(job)
            self._dispatch()

    def _looked_up(self, job: QueryJob) -> list[Job]:
        link, found = job.link, job.result
        order = self.orders.get(link)
        if order is None:
            self.unknown.discard(link)
            return []
        if isinstance(found, Ambiguous):
            self.log.debug("order lookup failed, will retry", order_link_id=link, cause=found.cause)
            return []
        if found is not None:
            self.unknown.discard(link)
            self.adopt(order, found)
            return []
        if order.intent is None or order.resends >= MAX_RESENDS:
            self.log.error("order not found and not re-sendable", order_link_id=link)
            return []
        order.resends += 1
        self.metrics.retries.labels("resend_after_lookup").inc()
        self.log.info(
            "order not on exchange, re-sending same orderLinkId", order_link_id=link, attempt=order.resends
        )
        self.unknown.discard(link)
        return [PlaceJob(order.category, [order.intent], order_claim(order.category, link_key(link)))]

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

    def on_records(self, records: Sequence[Record]) -> None:
        """Private-stream records; those of an order with a call in flight wait for its outcome."""
        if self.inflight or self.ready:
            busy = self.keys.busy
            now: list[Record] = []
            for rec in records:
                if rec.kind in ("order", "execution"):
                    link = rec.fields.get("orderLinkId")
                    if link and busy(("link", str(link))):
                        self.deferred.setdefault(str(link), []).append(rec)
                        continue
                now.append(rec)
            records = now
        if records:
            super().on_records(records)

    def _barrier_done(self, job: BarrierJob) -> None:
        self.reports.report(
            "accepted", "kill_switch", "system", "executor", data={"on": "true" if job.on else "false"}
        )

    def _order_key(self, intent: CancelIntent | AmendIntent) -> Key:
        link = link_id_of(intent)
        if link:
            return link_key(link)
        oid = order_id_of(intent)
        for order in self.orders.values():
            if order.order_id == oid:
                return link_key(order.link)
        return ("oid", oid)

    def _submit_other(self, intent_id: int, intent: OrderIntent) -> None:
        claim: Claim
        if isinstance(intent, CancelIntent):
            call, claim = build_cancel(intent), order_claim(intent.category, self._order_key(intent))
        elif isinstance(intent, AmendIntent):
            call, claim = build_amend(intent), order_claim(intent.category, self._order_key(intent))
        else:
            assert isinstance(intent, CancelAllIntent)
            call, claim = build_cancel_all(intent), category_claim(intent.category)
        self._submit(CallJob(intent_id, intent, call, action_of(intent), claim))

    def _called(self, job: CallJob) -> None:
        """A cancel/amend/cancel-all's outcome: journal, then report."""
        intent, intent_id, action, outcome = job.intent, job.intent_id, job.action, job.result
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
            self._submit_other(intent_id, intent)
            self._dispatch()


def _sym(intent: OrderIntent) -> str:
    return intent.symbol if isinstance(intent.symbol, str) else ""
