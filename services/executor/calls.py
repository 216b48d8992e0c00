"""REST calls in flight: the jobs the engine hands out, and the sender threads that run them.

The engine stays the only owner of order state and the only journal writer: it journals an intent,
turns it into a :class:`Job` and hands the job to a :class:`SenderPool`. A sender thread runs the
job's REST work (``Job.run``, with the dispatcher's rate-limit waits and retries) and puts the
finished job on a completion queue; the engine's thread takes it from there (``take``) - woken
through an eventfd the service's poll loop watches - and journals and reports the outcome. Each
sender thread has its own HTTP connection (the transport keeps one adapter per thread).

:class:`InlineSender` runs each job at once on the caller's thread (``executor_http_workers = 0``,
and paper mode, whose venue is not thread-safe): the same engine code, one call at a time.
"""

from __future__ import annotations

import os
import queue
import select
import threading
from collections import deque
from typing import Any

from services.executor.core.gate import Claim
from services.executor.core.intents import AmendIntent, CancelAllIntent, CancelIntent, CreateIntent
from services.executor.core.requests import RestCall
from services.executor.core.responses import Ambiguous, HttpResult, Outcome
from services.executor.dispatch import Dispatcher

MAX_CALL_ATTEMPTS = 3


class Job:
    """One unit of REST work; ``result`` is set by :meth:`run` (or :meth:`fail`) on a sender thread."""

    __slots__ = ("claim", "result")

    def __init__(self, claim: Claim) -> None:
        self.claim = claim
        self.result: Any = None

    def run(self, d: Dispatcher) -> None:
        raise NotImplementedError

    def fail(self, reason: str) -> None:
        """The work raised: the outcome is unknown."""
        raise NotImplementedError


class PlaceJob(Job):
    """Creates of one category (≤ its batch limit): ``result`` is one outcome per intent."""

    __slots__ = ("category", "chunk", "first")

    def __init__(self, category: str, chunk: list[CreateIntent], claim: Claim) -> None:
        super().__init__(claim)
        self.category = category
        self.chunk = chunk
        #: The response to a first attempt the wire transport sent (then retried here).
        self.first: HttpResult | None = None

    def run(self, d: Dispatcher) -> None:
        self.result = d.place(self.chunk, self.first)

    def fail(self, reason: str) -> None:
        self.result = [Ambiguous("internal", reason)] * len(self.chunk)


class CallJob(Job):
    """A cancel, amend or cancel-all (idempotent: an ambiguous outcome is retried here)."""

    __slots__ = ("action", "call", "first", "intent", "intent_id")

    def __init__(
        self,
        intent_id: int,
        intent: CancelIntent | AmendIntent | CancelAllIntent,
        call: RestCall,
        action: str,
        claim: Claim,
    ) -> None:
        super().__init__(claim)
        self.intent_id = intent_id
        self.intent = intent
        self.call = call
        self.action = action
        #: The response to a first attempt the wire transport sent (then retried here).
        self.first: HttpResult | None = None

    def run(self, d: Dispatcher) -> None:
        outcome: Outcome = Ambiguous("none", "")
        for attempt in range(MAX_CALL_ATTEMPTS):
            outcome = d.call(self.call, self.first if attempt == 0 else None)
            if not isinstance(outcome, Ambiguous):
                break
            d.metrics.retries.labels(f"{self.action}_{outcome.cause}").inc()
        self.result = outcome

    def fail(self, reason: str) -> None:
        self.result = Ambiguous("internal", reason)


class QueryJob(Job):
    """Look one order up by orderLinkId: ``result`` is its record, None (not found) or Ambiguous."""

    __slots__ = ("category", "link", "symbol")

    def __init__(self, category: str, symbol: str, link: str, claim: Claim) -> None:
        super().__init__(claim)
        self.category = category
        self.symbol = symbol
        self.link = link

    def run(self, d: Dispatcher) -> None:
        self.result = d.query(self.category, self.symbol, self.link)

    def fail(self, reason: str) -> None:
        self.result = Ambiguous("internal", reason)


class BarrierJob(Job):
    """No REST work: completes on the engine's thread once every call before it has finished."""

    __slots__ = ("on",)

    def __init__(self, on: bool, claim: Claim) -> None:
        super().__init__(claim)
        self.on = on

    def run(self, d: Dispatcher) -> None:  # never sent to a sender
        return None

    def fail(self, reason: str) -> None:
        return None


class InlineSender:
    """Runs each job at once on the calling thread (no parallelism)."""

    size = 1

    def __init__(self, dispatcher: Dispatcher, log: Any) -> None:
        self.d = dispatcher
        self.log = log
        self._done: deque[Job] = deque()

    def fileno(self) -> int | None:
        return None

    def submit(self, job: Job) -> None:
        _run(job, self.d, self.log)
        self._done.append(job)

    def take(self) -> list[Job]:
        out = list(self._done)
        self._done.clear()
        return out

    def wait(self, timeout: float) -> None:
        return None

    def close(self, timeout: float = 0.0) -> None:
        return None


class SenderPool:
    """``size`` daemon threads running jobs; finished jobs are signalled on an eventfd (or pipe)."""

    def __init__(self, dispatcher: Dispatcher, size: int, log: Any) -> None:
        self.d = dispatcher
        self.size = size
        self.log = log
        #: ``calls_total{route="pool"}``: every job handed to these threads (a retry handed over
        #: by the wire transport too)
        self._counted = dispatcher.metrics.calls_by_route.labels("pool")
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._done: deque[Job] = deque()
        if hasattr(os, "eventfd"):
            self._rfd = self._wfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        else:  # pragma: no cover - non-Linux
            self._rfd, self._wfd = os.pipe()
            os.set_blocking(self._rfd, False)
        self._threads = [
            threading.Thread(target=self._loop, name=f"exec-sender-{i}", daemon=True) for i in range(size)
        ]
        for t in self._threads:
            t.start()

    def fileno(self) -> int:
        """Readable while finished jobs wait for :meth:`take` (register it in the poller)."""
        return self._rfd

    def submit(self, job: Job) -> None:
        self._counted.inc()
        self._jobs.put(job)

    def _loop(self) -> None:
        jobs, done, fd = self._jobs, self._done, self._wfd
        while True:
            job = jobs.get()
            if job is None:
                return
            _run(job, self.d, self.log)
            done.append(job)
            try:
                os.write(fd, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:  # closed while stopping, or a full pipe (the reader is behind anyway)
                pass

    def take(self) -> list[Job]:
        """Finished jobs, oldest first (clears the signal)."""
        try:
            os.read(self._rfd, 4096)
        except (BlockingIOError, OSError):
            pass
        done = self._done
        out: list[Job] = []
        while done:
            out.append(done.popleft())
        return out

    def wait(self, timeout: float) -> None:
        """Block until a job finishes or ``timeout`` seconds pass."""
        ready(self._rfd, select.POLLIN, timeout)

    def close(self, timeout: float = 2.0) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join(timeout)
        for fd in {self._rfd, self._wfd}:
            try:
                os.close(fd)
            except OSError:
                pass


def ready(fd: int, events: int, timeout: float) -> bool:
    """Whether ``fd`` is ready for ``events`` within ``timeout`` seconds (poll: unlike select, any
    descriptor number)."""
    p = select.poll()
    p.register(fd, events)
    return bool(p.poll(timeout * 1000))


def _run(job: Job, d: Dispatcher, log: Any) -> None:
    try:
        job.run(d)
    except Exception as exc:  # a bug must not lose the call: its outcome becomes unknown
        log.exception("sender error", job=type(job).__name__)
        job.fail(type(exc).__name__)
