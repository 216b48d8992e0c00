"""Runs a chaos session: start the stack, start the checkers and strategies, play the schedule,
measure each recovery, settle, audit, stop. Returns a :class:`Result` (see :mod:`chaos.report`).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from chaos.books import AnchorChecker, BookQuerier, Tally, TruthRecorder, checked, unverifiable
from chaos.orders import OrderAudit, OrderStrategy, audit, read_journal
from chaos.plan import KINDS, TRADING, Action, schedule
from chaos.stack import SYMBOLS, Stack
from chaos.truth import BLIND, MISMATCH, STREAM_GAP, UNKNOWN_KEY
from services.common.book_client import BookClient
from services.common.rpc import RpcTimeout

#: Generous bounds for a loaded 2-core machine (seconds).
BOOK_RECOVERY_BOUND = 45.0
ORDER_RECOVERY_BOUND = 60.0
QUIET_WINDOW = 2.0


@dataclass
class Recovery:
    kind: str
    label: str
    seconds: float | None  # None: not recovered within the bound
    outage: bool


@dataclass
class Result:
    seed: int
    speed: float
    chaos_seconds: float = 0.0
    total_seconds: float = 0.0
    recoveries: list[Recovery] = field(default_factory=list)
    verdicts: dict[str, int] = field(default_factory=dict)
    anchors: dict[str, int] = field(default_factory=dict)
    replies: dict[str, int] = field(default_factory=dict)
    truth: dict[str, int] = field(default_factory=dict)
    orders: OrderAudit = field(default_factory=OrderAudit)
    order_kinds: dict[str, int] = field(default_factory=dict)
    exits: list[str] = field(default_factory=list)
    stop_codes: dict[str, int | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    workdir: str = ""

    @property
    def mismatches(self) -> int:
        book = sum(self.verdicts.get(k, 0) for k in (MISMATCH, STREAM_GAP, UNKNOWN_KEY))
        return book + self.anchors.get(MISMATCH, 0) + len(self.orders.violations)

    @property
    def failures(self) -> list[str]:
        out = list(self.problems)
        out += [f"order: {v}" for v in self.orders.violations[:20]]
        out += [f"unexpected exit: {e}" for e in self.exits]
        out += [f"{r.kind} ({r.label}) not recovered" for r in self.recoveries if r.seconds is None]
        out += [f"{n} stopped with exit code {c}" for n, c in self.stop_codes.items() if c not in (0, None)]
        return out

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 and not self.failures


def _book_status(client: BookClient) -> dict[str, Any] | None:
    try:
        reply = client.request({"op": "status"}, timeout=1.0)
    except RpcTimeout:
        return None
    return reply if reply.get("ok") else None


class Session:
    """One run. ``log`` receives progress lines."""

    def __init__(
        self,
        seed: int,
        duration: float,
        speed: float,
        log: Callable[[str], None],
        workdir: Path | None = None,
        *,
        kinds: tuple[str, ...] = KINDS,
        modules: dict[str, str] | None = None,
    ) -> None:
        self.seed = seed
        self.duration = duration
        self.log = log
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="tickwire-chaos-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.kinds = kinds
        self.modules = modules or {}
        self.stack = Stack(self.workdir, seed, speed, modules=self.modules)
        self.result = Result(seed, speed, workdir=str(self.workdir))
        self.topics = [f"md.book.{c}.{s}" for c, s in SYMBOLS]
        self.book = BookClient(self.stack.settings["book_rep"], timeout=1.0)

    # --- conditions -------------------------------------------------------------------------
    def _all_live(self, st: dict[str, Any] | None) -> bool:
        if st is None:
            return False
        try:
            books = self.book.request({"op": "symbols"}, timeout=1.0)
        except RpcTimeout:
            return False
        live = {(b["category"], b["symbol"]) for b in books.get("books", []) if b.get("state") == "live"}
        return all(cs in live for cs in SYMBOLS)

    def wait_books_live(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._all_live(_book_status(self.book)):
                return True
            time.sleep(0.1)
        return False

    def _book_recovery(
        self, action: Action, t0: float, before: dict[str, Any] | None, quiet: float = QUIET_WINDOW
    ) -> tuple[float | None, bool]:
        r0 = sum((before or {}).get("resyncs", {}).values())
        e0 = (before or {}).get("feed", {}).get("epoch")
        outage = action.kind in ("kill_feed", "kill_book")
        while time.monotonic() - t0 < BOOK_RECOVERY_BOUND:
            st = _book_status(self.book)
            if st is None:
                outage = True
            else:
                if sum(st.get("resyncs", {}).values()) > r0:
                    outage = True
                if action.kind == "kill_feed" and st.get("feed", {}).get("epoch") == e0:
                    time.sleep(0.05)
                    continue
                if action.kind == "kill_book" and st.get("uptime_s", 1e9) > time.monotonic() - t0 + 1:
                    time.sleep(0.05)
                    continue
                live = self._all_live(st)
                if not live:
                    outage = True
                elif outage:
                    return time.monotonic() - t0, True
                elif time.monotonic() - t0 > quiet:
                    return 0.0, False
            time.sleep(0.05)
        return None, outage

    def _order_recovery(self, strategy: OrderStrategy, t0: float) -> float | None:
        while time.monotonic() - t0 < ORDER_RECOVERY_BOUND:
            if strategy.answered_at > t0:
                return strategy.answered_at - t0
            time.sleep(0.05)
        return None

    def _monitor_recovery(self, t0: float) -> float | None:
        while time.monotonic() - t0 < BOOK_RECOVERY_BOUND:
            if self.stack.monitor_up():
                return time.monotonic() - t0
            time.sleep(0.1)
        return None

    # --- the run ----------------------------------------------------------------------------
    def play(self, action: Action, strategy: OrderStrategy) -> Recovery:
        """Inject ``action``; return how long until the system was whole again.

        Books: until every book is live again after the outage the action caused (0 when none
        was seen within a quiet window). Orders (trading faults, executor kill): until an intent
        sent after the injection reached its exchange state. Monitor: until ``/health`` answers.
        Faults that persist until cleared (``pong_delay``, ``clock_skew``) are cleared after
        ``clear_after`` s; ``pong_delay`` recovery counts from the clear (the feed cannot be
        healthy while pongs are late), ``clock_skew`` recovery happens under the fault.
        """
        before = _book_status(self.book)
        t0 = time.monotonic()
        with strategy.lock:
            strategy.probe_from, strategy.answered_at = t0, 0.0
        if action.service:
            self.stack.kill(action.service)
            time.sleep(action.restart_after)
            self.stack.restart(action.service)
        for name, params in action.faults:
            self.stack.control.fault(name, **params)
        secs: float | None
        outage = True
        if action.kind == "kill_monitor":
            secs = self._monitor_recovery(t0)
        elif action.kind in TRADING or action.kind == "kill_executor":
            secs = self._order_recovery(strategy, t0)
            if action.clear_after:
                time.sleep(max(0.0, t0 + action.clear_after - time.monotonic()))
                self.stack.control.clear_faults(action.faults[0][0])
        else:
            quiet, during = QUIET_WINDOW, False
            if action.clear_after:
                time.sleep(action.clear_after)
                r_inject = sum((before or {}).get("resyncs", {}).values())
                before, t0 = _book_status(self.book), time.monotonic()
                during = sum((before or {}).get("resyncs", {}).values()) > r_inject
                self.stack.control.clear_faults(action.faults[0][0])
                # a ping answered before the clear may still get its late pong: wait that out
                quiet = float(self.stack.settings["feed_pong_timeout"]) + 2.0
            secs, outage = self._book_recovery(action, t0, before, quiet)
            outage = outage or during
        # whatever the kind, the books must be live again before the next action
        if secs is not None and not self.wait_books_live(BOOK_RECOVERY_BOUND):
            secs = None
        return Recovery(action.kind, action.label, secs, outage)

    def run(self) -> Result:
        res = self.result
        t_start = time.monotonic()
        tally = Tally()
        self.log(f"workdir {self.workdir}")
        if not self._start_stack():
            res.problems.append("the stack did not start: " + "; ".join(self.stack.unexpected_exits())[:2000])
            res.stop_codes = self.stack.stop_all()
            return res
        s = self.stack.settings
        recorder = TruthRecorder(s["feed_pub"], s["feed_ctl"], self.topics)
        recorder.start()
        querier = BookQuerier(s["book_rep"], recorder, tally)
        anchors = AnchorChecker(self.stack.sim_http, recorder, tally)
        strategy = OrderStrategy(s["executor_pull"], s["executor_pub"], s["book_rep"], self.seed)
        try:
            deadline = time.monotonic() + 60
            while not recorder.all_known() and time.monotonic() < deadline:
                time.sleep(0.1)
            querier.start()
            anchors.start()
            strategy.start()
            rounds = max(1, int(self.duration // 60) + 1)
            plan = schedule(self.seed, rounds * 3, self.kinds)
            t_chaos = time.monotonic()
            for i, action in enumerate(plan):
                if i >= len(self.kinds) and time.monotonic() - t_chaos > self.duration:
                    break
                rec = self.play(action, strategy)
                res.recoveries.append(rec)
                shown = "NOT RECOVERED" if rec.seconds is None else f"{rec.seconds:.2f}s"
                self.log(f"[{time.monotonic() - t_chaos:6.1f}s] {action.kind:<20} {action.label:<24} {shown}")
                exits = self.stack.unexpected_exits()
                if exits:
                    res.exits = exits
                    break
                if rec.seconds is None:
                    break
                time.sleep(strategy.rng.uniform(0.3, 1.5))
            res.chaos_seconds = time.monotonic() - t_chaos
            self._settle(strategy, res)
        finally:
            strategy.stop()
            querier.finish()
            anchors.finish()
            recorder.stop()
            recorder.join(5)
            res.exits = res.exits or self.stack.unexpected_exits()
            res.stop_codes = self.stack.stop_all()
            self.book.close()
            res.verdicts = dict(tally.verdicts)
            res.anchors = dict(tally.anchors)
            res.replies = dict(querier.replies)
            res.truth = {
                **recorder.counts(),
                "messages": recorder.messages,
                "resnapshots": recorder.resnapshots,
            }
            res.order_kinds = dict(strategy.kinds)
            res.problems += tally.problems
            res.total_seconds = time.monotonic() - t_start
        total_checked = checked(tally.verdicts)
        blind = unverifiable(tally.verdicts)
        if total_checked < 100:
            res.problems.append(f"only {total_checked} live replies were checked")
        if blind > max(20, total_checked // 50):
            res.problems.append(
                f"{blind} live replies could not be verified ({tally.verdicts.get(BLIND, 0)} blind)"
            )
        if res.ok and not res.exits:
            shutil.rmtree(self.workdir, ignore_errors=True)
            res.workdir = ""
        return res

    def _start_stack(self, attempts: int = 3) -> bool:
        """Start every service and wait for live books; on a port taken meanwhile by someone
        else (free ports are only free a moment ago), start over on new ports."""
        for attempt in range(1, attempts + 1):
            self.stack.start_all()
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not self.stack.unexpected_exits():
                if self.wait_books_live(1.0) and self.stack.monitor_up():
                    return True
            exits = self.stack.unexpected_exits()
            self.log(f"start attempt {attempt} failed: {exits[:1] or 'books not live'}")
            self.stack.stop_all()
            if attempt < attempts:
                self.book.close()
                self.stack = Stack(
                    self.workdir / f"attempt-{attempt + 1}", self.seed, self.stack.speed, modules=self.modules
                )
                self.stack.workdir.mkdir(parents=True, exist_ok=True)
                self.book = BookClient(self.stack.settings["book_rep"], timeout=1.0)
        return False

    def _settle(self, strategy: OrderStrategy, res: Result) -> None:
        """Stop faults and intents; wait for every intent to be answered and the audit to pass."""
        self.stack.control.clear_faults()
        strategy.sending.clear()
        self.wait_books_live(BOOK_RECOVERY_BOUND)
        deadline = time.monotonic() + 90
        while strategy.unanswered() and time.monotonic() < deadline:
            time.sleep(0.5)
        journal = Path(self.stack.settings["executor_journal"])
        while True:
            with strategy.lock:
                intents = dict(strategy.intents)
            try:
                jo, ji = read_journal(journal)
                report = audit(intents, self.stack.sim_orders(), jo, ji)
            except (requests.RequestException, OSError) as exc:
                report = OrderAudit(violations=[f"audit failed: {exc}"])
            if not report.violations or time.monotonic() > deadline:
                break
            time.sleep(2.0)
        res.orders = report


def kinds_summary(res: Result) -> dict[str, list[Recovery]]:
    by: dict[str, list[Recovery]] = defaultdict(list)
    for r in res.recoveries:
        by[r.kind].append(r)
    return by
