"""Publishes best bid/offer changes (``bk.bbo.<category>.<symbol>``, :class:`wire.Bbo`) and the
book service's heartbeat on the book's PUB socket. A BBO is published only when the best
levels (price or size) or the book state changed since the last one published.

This runs once per touched book after every applied batch (in the end-to-end benchmark, after
nearly every message), so the per-book parts (topic, last BBO) are kept in one small record per
book instead of being rebuilt for every publication.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import zmq

from services.book.core.book import Level
from services.book.core.sync import SyncedBook
from services.common import topics
from services.common.bus import Publisher
from services.common.wire import Bbo


class _Last:
    """What was last published for one book."""

    __slots__ = ("ask", "bid", "state", "topic")

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.state = ""
        self.bid: Level | None = None
        self.ask: Level | None = None


class BboPublisher:
    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str) -> None:
        self.pub = Publisher(ctx, endpoint, service="book")
        self._last: dict[SyncedBook, _Last] = {}
        self.published = 0

    def publish_changes(self, books: Iterable[SyncedBook]) -> int:
        """Publish a BBO for each of ``books`` whose BBO or state changed. Returns the count."""
        n = 0
        now_ns = time.time_ns()
        publish = self.pub.publish
        last_of = self._last
        for sb in books:
            book = sb.book
            bid = book.best_bid()
            ask = book.best_ask()
            state = sb.state
            last = last_of.get(sb)
            if last is None:
                last = last_of[sb] = _Last(topics.topic(topics.BBO, sb.category, sb.symbol))
            elif last.bid == bid and last.ask == ask and last.state == state:
                continue
            last.bid, last.ask, last.state = bid, ask, state
            applied = sb.last
            msg = Bbo(
                sb.category,
                sb.symbol,
                state,
                bid[0] if bid else "",
                bid[1] if bid else "",
                ask[0] if ask else "",
                ask[1] if ask else "",
                sb.u,
                applied.ts if applied is not None else 0,
                applied.recv_ns if applied is not None else 0,
                now_ns,
            )
            publish(last.topic, msg)
            n += 1
        self.published += n
        return n

    def heartbeat(self, info: dict[str, str]) -> None:
        self.pub.heartbeat(info)

    def close(self) -> None:
        self.pub.close()
