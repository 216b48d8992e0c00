"""Sending REST calls within the rate limits, and retrying what is safe to retry.

* Every call first takes tokens from its (endpoint, category) bucket, waiting if needed; every
  response corrects the bucket from the ``X-Bapi-Limit*`` headers.
* ``Retryable`` outcomes are re-sent: 10006/HTTP 429 after the bucket's reset time, 10002 after a
  clock resync from ``/v5/market/time``; a batch re-sends only its retryable items.
* ``Ambiguous`` outcomes are *returned*, never re-sent here: the engine looks the order up first.

The dispatcher is used from several threads at once (the engine's and the sender threads of
:mod:`services.executor.calls`): its only shared state, the rate limiter, is a
:class:`SharedRateLimiter` (the pure buckets behind a lock); waits happen outside the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import msgspec

from services.executor.core.intents import CreateIntent
from services.executor.core.ratelimit import LimitHeaders, RateLimiter
from services.executor.core.requests import (
    CREATE_BATCH,
    RestCall,
    build_create,
    build_create_batch,
    build_query_order,
    build_time,
)
from services.executor.core.responses import (
    Accepted,
    Ambiguous,
    HttpResult,
    Outcome,
    Rejected,
    Retryable,
    classify,
    classify_batch,
)
from services.executor.metrics import ExecutorMetrics

MAX_RETRIES = 6
MAX_WAIT_MS = 2000.0


class SharedRateLimiter(RateLimiter):
    """The token buckets of :class:`RateLimiter`, safe to use from several threads.

    ``observe`` (raw headers) is not overridden: it parses, then calls the locked
    :meth:`observe_parsed` (the lock is not re-entrant, so it must not be taken twice)."""

    def __init__(self, limits: Mapping[tuple[str, str], float] | None = None) -> None:
        super().__init__(limits)
        self._lock = threading.Lock()

    def acquire(self, path: str, category: str, n: float, now_ms: float) -> float:
        with self._lock:
            return super().acquire(path, category, n, now_ms)

    def observe_parsed(self, path: str, category: str, lh: LimitHeaders, now_ms: float) -> None:
        with self._lock:
            super().observe_parsed(path, category, lh, now_ms)

    def block(self, path: str, category: str, until_ms: float, now_ms: float) -> None:
        with self._lock:
            super().block(path, category, until_ms, now_ms)

    def headroom(self, now_ms: float) -> dict[tuple[str, str], float]:
        with self._lock:
            return super().headroom(now_ms)


class Transport(Protocol):
    offset_ms: int

    def send(self, call: RestCall, *, timeout: float | None = None) -> HttpResult: ...
    def now_ms(self) -> int: ...
    def sync_clock(self, call: RestCall) -> int | None: ...


class Dispatcher:
    def __init__(
        self,
        transport: Transport,
        limiter: RateLimiter,
        metrics: ExecutorMetrics,
        log: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.t = transport
        self.limiter = limiter
        self.metrics = metrics
        self.log = log
        self.sleep = sleep

    def send(self, call: RestCall) -> HttpResult:
        """Wait for rate-limit tokens, send, and correct the bucket from the response headers."""
        if call.signed:
            while True:
                wait_ms = self.limiter.acquire(call.path, call.category, call.weight, self.t.now_ms())
                if wait_ms <= 0:
                    break
                self.sleep(min(wait_ms, MAX_WAIT_MS) / 1000.0)
        t0 = time.perf_counter()
        res = self.t.send(call)
        self.observe(call, res, t0)
        return res

    def observe(self, call: RestCall, res: HttpResult, started: float) -> None:
        """A response came (``started``: ``perf_counter`` at the send): its latency, and the bucket
        corrected from its ``X-Bapi-Limit*`` headers (parsed once, by the transport)."""
        self.metrics.rest_latency.labels(call.path).observe(time.perf_counter() - started)
        if call.signed and res.limits is not None:
            self.limiter.observe_parsed(call.path, call.category, res.limits, self.t.now_ms())

    def _retry_wait(self, call: RestCall, outcome: Retryable) -> None:
        self.metrics.retries.labels(outcome.cause).inc()
        if outcome.cause == "rate_limit":
            now = self.t.now_ms()
            until = outcome.until_ms if outcome.until_ms > now else now + 1000
            self.limiter.block(call.path, call.category, until, now)
            self.log.warning("rate limited, waiting", endpoint=call.path, wait_ms=int(until - now))
        elif outcome.cause == "clock":
            offset = self.t.sync_clock(build_time())
            self.log.warning("clock rejected, resynced", offset_ms=offset)
            if offset is not None:
                self.metrics.clock_offset.set(offset)
        else:
            self.sleep(0.2)

    def call(self, call: RestCall, first: HttpResult | None = None) -> Outcome:
        """A single (non-create) call with retries of retryable outcomes.

        ``first``: the response to an attempt already sent (by the wire transport), taken as the
        first attempt's."""
        outcome: Outcome = Rejected("retries", "no attempt")
        for attempt in range(MAX_RETRIES):
            res = first if attempt == 0 and first is not None else self.send(call)
            outcome = classify(res, is_create=call.is_create)
            if not isinstance(outcome, Retryable):
                return outcome
            self._retry_wait(call, outcome)
        assert isinstance(outcome, Retryable)
        return Rejected(outcome.code, f"gave up after {MAX_RETRIES} attempts: {outcome.reason}")

    def place(self, intents: Sequence[CreateIntent], first: HttpResult | None = None) -> list[Outcome]:
        """Creates of one category (≤ batch limit) → one outcome per intent, in order.

        ``first``: the response to the first attempt, already sent (by the wire transport) as
        :func:`create_call` of ``intents``; retryable items are then re-sent from here."""
        results: list[Outcome | None] = [None] * len(intents)
        todo = list(range(len(intents)))
        last: Outcome | None = None
        for attempt in range(MAX_RETRIES):
            chunk = [intents[i] for i in todo]
            call = create_call(chunk)
            res = first if attempt == 0 and first is not None else self.send(call)
            outs = create_outcomes(call, res, len(chunk))
            retry = []
            for idx, out in zip(todo, outs, strict=True):
                if isinstance(out, Retryable):
                    retry.append(idx)
                    last = out
                else:
                    results[idx] = out
            if not retry:
                break
            assert isinstance(last, Retryable)
            self._retry_wait(call, last)
            todo = retry
        for idx in todo:
            if results[idx] is None:
                code = last.code if isinstance(last, Retryable) else "retries"
                results[idx] = Rejected(code, f"gave up after {MAX_RETRIES} attempts")
        return [r if r is not None else Ambiguous("bad_response", "no outcome") for r in results]

    def query(self, category: str, symbol: str, link: str) -> dict[str, Any] | Ambiguous | None:
        """Look an order up by orderLinkId: its record, None if the exchange lacks it, or Ambiguous."""
        outcome = self.call(build_query_order(category, symbol, link))
        if isinstance(outcome, Ambiguous):
            return outcome
        if not isinstance(outcome, Accepted):
            return Ambiguous(
                "query_failed", f"lookup refused: {outcome.code}" if isinstance(outcome, Rejected) else ""
            )
        items = outcome.result.get("list") or []
        for item in items:
            if isinstance(item, dict) and item.get("orderLinkId") == link:
                return item
        return None

    def get_json(self, call: RestCall) -> dict[str, Any] | None:
        """A call whose ``result`` object is wanted (queries); None on any failure."""
        outcome = self.call(call)
        if isinstance(outcome, Accepted):
            return outcome.result
        return None


def create_call(chunk: Sequence[CreateIntent]) -> RestCall:
    """The request for creates of one category: a create, or a create-batch of several."""
    return build_create(chunk[0]) if len(chunk) == 1 else build_create_batch(chunk[0].category, chunk)


def create_outcomes(call: RestCall, res: HttpResult, n: int) -> list[Outcome]:
    """The outcome of each of the ``n`` creates :func:`create_call` put in ``call``."""
    return classify_batch(res, n) if call.path == CREATE_BATCH else [classify(res, is_create=True)]


def decode_obj(body: bytes) -> dict[str, Any] | None:
    try:
        obj = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    return obj if isinstance(obj, dict) else None
