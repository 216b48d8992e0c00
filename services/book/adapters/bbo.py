"""Publishes best bid/offer changes (``bk.bbo.<category>.<symbol>``, :class:`wire.Bbo`) and the
book service's heartbeat on the book's PUB socket. A BBO is published only when the best
levels (price or size) or the book state changed since the last one published."""

from __future__ import annotations

import time
from collections.abc import Iterable

import zmq

from services.book.core.book import Level
from services.book.core.sync import Key, SyncedBook
from services.common import topics
from services.common.bus import Publisher
from services.common.wire import Bbo


class BboPublisher:
    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str) -> None:
        self.pub = Publisher(ctx, endpoint, service="book")
        self._last: dict[Key, tuple[str, Level | None, Level | None]] = {}
        self.published = 0

    def publish_changes(self, books: Iterable[SyncedBook]) -> int:
        """Publish a BBO for each of ``books`` whose BBO or state changed. Returns the count."""
        n = 0
        now_ns = time.time_ns()
        for sb in books:
            key = (sb.category, sb.symbol)
            bbo = sb.bbo()
            if self._last.get(key) == bbo:
                continue
            self._last[key] = bbo
            state, bid, ask = bbo
            msg = Bbo(
                category=key[0],
                symbol=key[1],
                state=state,
                bid=bid[0] if bid else "",
                bid_size=bid[1] if bid else "",
                ask=ask[0] if ask else "",
                ask_size=ask[1] if ask else "",
                u=sb.u,
                ts=sb.ts,
                recv_ns=sb.recv_ns,
                pub_ns=now_ns,
            )
            self.pub.publish(topics.topic(topics.BBO, key[0], key[1]), msg)
            n += 1
        self.published += n
        return n

    def heartbeat(self, info: dict[str, str]) -> None:
        self.pub.heartbeat(info)

    def close(self) -> None:
        self.pub.close()
