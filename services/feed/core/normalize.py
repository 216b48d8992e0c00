"""Exchange frames -> bus messages (:mod:`services.common.wire`), and the ticker merge.

Pure functions and small state holders; the caller passes the receive time. Prices and sizes are
passed through as the exact strings Bybit sent (the level tuples decoded from the frame are reused,
not copied). ``epoch``/``bus_seq`` are left at 0: the Publisher stamps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from services.common import topics
from services.common.wire import BookUpdate, Ticker, Trade, Trades
from services.feed.core.exchange_schemas import BookData, TickerData, TradeItem

#: Stream kinds of the feed (``feed_channels``) and the Bybit topic for each.
CHANNELS = ("book", "trade", "ticker")


class TopicError(ValueError):
    """An exchange topic the feed does not understand."""


@dataclass(slots=True)
class Route:
    """Everything the hot path needs about one subscribed exchange topic.

    ``last_u``/``synced`` track Bybit's ``u`` continuity on book topics (see
    :mod:`services.feed.core.session`); ``gap_check`` is false on ``orderbook.1`` (snapshot-only,
    re-sent with the same ``u``).
    """

    exchange_topic: str
    kind: str
    category: str
    symbol: str
    depth: int
    wire_topic: str
    gap_check: bool = False
    last_u: int = 0
    synced: bool = False


def exchange_topic(kind: str, symbol: str, depth: int) -> str:
    """Bybit topic of a channel: ``orderbook.50.BTCUSDT``, ``publicTrade.X``, ``tickers.X``."""
    if kind == "book":
        return f"orderbook.{depth}.{symbol}"
    if kind == "trade":
        return f"publicTrade.{symbol}"
    if kind == "ticker":
        return f"tickers.{symbol}"
    raise TopicError(f"unknown channel {kind!r}")


def route_for(category: str, ex_topic: str) -> Route:
    """Parse a Bybit topic of ``category`` into a :class:`Route`; raise TopicError otherwise."""
    parts = ex_topic.split(".")
    if parts[0] == "orderbook" and len(parts) == 3 and parts[1].isdigit() and parts[2]:
        depth = int(parts[1])
        wire = topics.topic(topics.BOOK, category, parts[2])
        return Route(ex_topic, "book", category, parts[2], depth, wire, gap_check=depth > 1)
    if parts[0] == "publicTrade" and len(parts) == 2 and parts[1]:
        return Route(ex_topic, "trade", category, parts[1], 0, topics.topic(topics.TRADE, category, parts[1]))
    if parts[0] == "tickers" and len(parts) == 2 and parts[1]:
        return Route(
            ex_topic, "ticker", category, parts[1], 0, topics.topic(topics.TICKER, category, parts[1])
        )
    raise TopicError(f"unsupported topic {ex_topic!r}")


def book_update_parts(
    route: Route, type_: Literal["snapshot", "delta"], data: BookData, ts: int, cts: int, recv_ns: int
) -> BookUpdate:
    """Normalise an order-book frame (the session's hot path builds the same inline)."""
    return BookUpdate(
        route.category, route.symbol, route.depth, type_, data.b, data.a, data.u, data.seq, ts, cts, recv_ns
    )


def trades(route: Route, items: list[TradeItem], ts: int, recv_ns: int) -> Trades:
    """Normalise a ``publicTrade`` frame (one bus message for all trades of the frame)."""
    return Trades(
        route.category,
        route.symbol,
        [Trade(t.trade_id, t.time, t.price, t.size, t.side, t.block, t.tick, t.seq) for t in items],
        ts,
        recv_ns,
    )


@dataclass(slots=True)
class TickerMerger:
    """Holds the last full ticker of each topic and merges linear/inverse deltas into it.

    Bybit sends one ``snapshot`` and then ``delta``s holding only changed fields (spot: every
    message is a snapshot). The bus always carries the full merged fields plus ``changed``.
    A delta that arrives before any snapshot is merged into an empty ticker (and counted).
    """

    last: dict[str, TickerData] = field(default_factory=dict)
    deltas_without_snapshot: int = 0

    def apply(self, route: Route, type_: str, fields: TickerData, cs: int, ts: int, recv_ns: int) -> Ticker:
        key = route.exchange_topic
        if type_ == "delta":
            current = self.last.get(key)
            if current is None:
                self.deltas_without_snapshot += 1
                current = self.last[key] = {}
            current.update(fields)
            return Ticker(route.category, route.symbol, "delta", dict(current), list(fields), cs, ts, recv_ns)
        self.last[key] = dict(fields)
        return Ticker(route.category, route.symbol, "snapshot", fields, list(fields), cs, ts, recv_ns)

    def reset(self) -> None:
        """Forget everything (a new connection starts with fresh snapshots)."""
        self.last.clear()
