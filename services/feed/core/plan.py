"""Which exchange topics go on which WebSocket connection, and how they are subscribed.

Pure planning: the configured ``(category, symbol)`` pairs and channels become a list of
:class:`ConnectionPlan` (one category per connection, at most ``topics_per_connection`` topics,
a symbol's topics kept together), and a list of topics becomes subscribe requests of at most
:func:`max_args` args (spot refuses a request with more than 10 args: ``args size >10``).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import ConfigError
from services.feed.core.normalize import CHANNELS, exchange_topic

#: Spot refuses a subscribe request with more than 10 args (the whole request fails).
SPOT_MAX_ARGS = 10
#: Linear/inverse have no documented count limit (only 21,000 characters of args per
#: connection); requests are still kept small so one bad topic does not fail a huge request.
FUTURES_MAX_ARGS = 50


@dataclass(frozen=True, slots=True)
class ConnectionPlan:
    """One WebSocket connection: its id (``<category>-<n>``), category and exchange topics."""

    conn_id: str
    category: str
    topics: tuple[str, ...]
    symbols: tuple[str, ...]


def parse_channels(text: str) -> tuple[str, ...]:
    """Parse ``feed_channels`` (``"book,trade,ticker"``); raise ConfigError on unknown kinds."""
    out: list[str] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        if item not in CHANNELS:
            raise ConfigError(
                f"TICKWIRE_FEED_CHANNELS: unknown channel {item!r} (choose from {', '.join(CHANNELS)})"
            )
        if item not in out:
            out.append(item)
    if not out:
        raise ConfigError("TICKWIRE_FEED_CHANNELS is empty: choose from book, trade, ticker")
    return tuple(out)


def max_args(category: str) -> int:
    """Largest number of args the feed puts in one subscribe request on ``category``."""
    return SPOT_MAX_ARGS if category == "spot" else FUTURES_MAX_ARGS


def plan_connections(
    pairs: list[tuple[str, str]], channels: tuple[str, ...], depth: int, topics_per_connection: int
) -> list[ConnectionPlan]:
    """Spread the topics of ``pairs`` over connections, per category, in configuration order."""
    per_conn_symbols = max(1, topics_per_connection // max(1, len(channels)))
    by_category: dict[str, list[str]] = {}
    for category, symbol in pairs:
        by_category.setdefault(category, []).append(symbol)
    plans: list[ConnectionPlan] = []
    for category, symbols in by_category.items():
        for n, start in enumerate(range(0, len(symbols), per_conn_symbols)):
            chunk = symbols[start : start + per_conn_symbols]
            topics = tuple(exchange_topic(kind, sym, depth) for sym in chunk for kind in channels)
            plans.append(ConnectionPlan(f"{category}-{n}", category, topics, tuple(chunk)))
    return plans


def batches(category: str, topics: list[str] | tuple[str, ...]) -> list[list[str]]:
    """Split ``topics`` into subscribe requests that ``category`` accepts."""
    size = max_args(category)
    return [list(topics[i : i + size]) for i in range(0, len(topics), size)]
