"""Execution reports on the bus: ExecReport on topic ``ex.report.<category>.<symbol>``.

Every text that reaches a report goes through ``scrub`` (the API key and secret are replaced by
``***`` wherever they appear, e.g. in Bybit's 10004 ``origin_string``). ``scrub`` must return its
argument itself when there is nothing to replace: a report's ``data`` values are checked in one
call over their concatenation, and scrubbed one by one only when that finds something.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import zmq

from services.common import topics
from services.common.bus import Publisher
from services.common.wire import ExecReport


class ReportPublisher:
    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        *,
        scrub: Callable[[str], str],
        on_report: Callable[[str], None] | None = None,
    ) -> None:
        self.pub = Publisher(ctx, endpoint, service="executor")
        self.scrub = scrub
        self.on_report = on_report
        self._held: list[tuple[str, ExecReport]] | None = None

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Queue reports until the block ends (wrap a journal transaction: commit, then publish)."""
        if self._held is not None:  # nested: the outer block publishes
            yield
            return
        self._held = []
        try:
            yield
        except BaseException:
            self._held = None  # the transaction rolled back: its reports are void
            raise
        held, self._held = self._held, None
        for topic, msg in held:
            self._publish(topic, msg)

    def report(
        self,
        status: str,
        action: str,
        category: str,
        symbol: str,
        *,
        link: str = "",
        order_id: str = "",
        code: str = "",
        reason: str = "",
        data: dict[str, str] | None = None,
    ) -> None:
        clean: dict[str, str] = {}
        if data:
            # one scrub over all the values; per value only if a secret is in there somewhere
            joined = "\x1f".join(data.values())
            clean = data if self.scrub(joined) is joined else {k: self.scrub(v) for k, v in data.items()}
        msg = ExecReport(
            status, action, category, symbol, link, order_id, code, self.scrub(reason), time.time_ns(), clean
        )
        topic = topics.topic(topics.REPORT, category or "none", symbol or "none")
        if self._held is not None:
            self._held.append((topic, msg))
        else:
            self._publish(topic, msg)

    def _publish(self, topic: str, msg: ExecReport) -> None:
        self.pub.publish(topic, msg)
        if self.on_report is not None:
            self.on_report(msg.status)

    def heartbeat(self, info: dict[str, str]) -> None:
        self.pub.heartbeat(info)

    def close(self) -> None:
        self.pub.close()
