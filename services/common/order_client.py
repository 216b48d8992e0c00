"""Python client of the executor: PUSH order intents, SUB execution reports, wait for an intent's outcome.

Usage::

    with OrderClient(settings.executor_pull, settings.executor_pub) as oc:
        oc.wait_ready()                                   # first executor heartbeat seen
        link = oc.send({"action": "create", "category": "linear", "symbol": "BTCUSDT",
                        "side": "Buy", "orderType": "Limit", "qty": "0.010", "price": "65000.5"})
        reports = oc.wait(link, until={"new", "rejected"})

:func:`derive_order_link_id` is the executor's rule for a ``create`` without ``orderLinkId`` (it
lives here because both sides of the wire need it): identical intents get identical ids and
therefore dedupe; give explicit ids to place two identical orders.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import zmq

from services.common.bus import Subscriber
from services.common.topics import REPORT, heartbeat
from services.common.wire import ExecReport, Heartbeat

#: Statuses after which nothing more happens to an intent by itself.
FINAL_STATUSES = frozenset({"rejected", "filled", "cancelled"})


def derive_order_link_id(intent: Mapping[str, Any]) -> str:
    """``tw-`` + 32 hex chars of SHA-256 over the intent's canonical JSON without ``orderLinkId``.

    Canonical = keys sorted, no whitespace, values exactly as given (strings stay strings).
    """
    content = {k: v for k, v in intent.items() if k != "orderLinkId"}
    digest = hashlib.sha256(msgspec.json.encode(content, order="sorted")).hexdigest()
    return f"tw-{digest[:32]}"


class OrderClient:
    """PUSH intents to the executor's PULL socket and follow its reports on its PUB socket."""

    def __init__(
        self,
        pull_endpoint: str,
        pub_endpoint: str,
        *,
        ctx: zmq.Context[zmq.Socket[bytes]] | None = None,
        send_timeout: float = 2.0,
        curve: tuple[bytes, bytes, bytes] | None = None,
    ) -> None:
        """``curve`` = (client public, client secret, server public), e.g. from
        :func:`services.common.security.client_curve`, when the executor's endpoint uses CURVE."""
        self._own_ctx = ctx is None
        self.ctx: zmq.Context[zmq.Socket[bytes]] = ctx or zmq.Context()
        self.push: zmq.Socket[bytes] = self.ctx.socket(zmq.PUSH)
        self.push.setsockopt(zmq.LINGER, int(send_timeout * 1000))
        self.push.setsockopt(zmq.SNDTIMEO, int(send_timeout * 1000))
        if curve is not None:
            self.push.curve_publickey, self.push.curve_secretkey, self.push.curve_serverkey = curve
        self.push.connect(pull_endpoint)
        self.sub = Subscriber(self.ctx, [pub_endpoint], [REPORT + ".", heartbeat("executor")])
        self.reports: list[ExecReport] = []
        self.heartbeats = 0

    def send(self, intent: Mapping[str, Any]) -> str:
        """PUSH one intent; return the ``orderLinkId`` its reports will carry ("" if none applies)."""
        self.push.send(msgspec.json.encode(dict(intent)))
        link = intent.get("orderLinkId")
        if isinstance(link, str):
            return link
        if intent.get("action") == "create":
            return derive_order_link_id(intent)
        return ""

    def send_raw(self, payload: bytes) -> None:
        """PUSH bytes as they are (for tests of malformed intents)."""
        self.push.send(payload)

    def poll(self, timeout: float = 0.0) -> list[ExecReport]:
        """Receive what has arrived (waiting up to ``timeout`` s for the first); keep it in ``reports``."""
        new: list[ExecReport] = []
        if self.sub.wait(int(timeout * 1000)):
            for _topic, msg in self.sub.drain():
                if isinstance(msg, ExecReport):
                    new.append(msg)
                elif isinstance(msg, Heartbeat):
                    self.heartbeats += 1
        self.reports.extend(new)
        return new

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Wait until an executor heartbeat arrives (the SUB connection is then live)."""
        deadline = time.monotonic() + timeout
        while self.heartbeats == 0 and time.monotonic() < deadline:
            self.poll(min(0.1, max(0.0, deadline - time.monotonic())))
        return self.heartbeats > 0

    def for_link(self, order_link_id: str) -> list[ExecReport]:
        """Every report received so far for ``order_link_id``, oldest first."""
        return [r for r in self.reports if r.order_link_id == order_link_id]

    def wait(
        self,
        order_link_id: str,
        *,
        until: Iterable[str] = FINAL_STATUSES,
        timeout: float = 10.0,
        action: str | None = None,
    ) -> list[ExecReport]:
        """Wait for a report on ``order_link_id`` whose status is in ``until``; return all its reports.

        ``action`` restricts the match to reports of one action (e.g. ``cancel``). Returns what was
        received (possibly without a matching status) when ``timeout`` passes.
        """
        wanted = set(until)
        deadline = time.monotonic() + timeout
        while True:
            got = self.for_link(order_link_id)
            if any(r.status in wanted and (action is None or r.action == action) for r in got):
                return got
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return got
            self.poll(min(0.1, remaining))

    def close(self) -> None:
        self.push.close(linger=500)
        self.sub.close()
        if self._own_ctx:
            self.ctx.term()

    def __enter__(self) -> OrderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
