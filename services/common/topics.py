"""Dotted bus topics, built and parsed in one place.

============================================  ==========================================
topic                                         message (see :mod:`services.common.wire`)
============================================  ==========================================
``md.book.<category>.<SYMBOL>``               BookUpdate (feed)
``md.trade.<category>.<SYMBOL>``              Trades (feed)
``md.ticker.<category>.<SYMBOL>``             Ticker (feed)
``md.status.<category>.<SYMBOL>``             StreamStatus (feed)
``bk.bbo.<category>.<SYMBOL>``                Bbo (book)
``ex.report.<category>.<SYMBOL>``             ExecReport (executor)
``sys.hb.<service>``                          Heartbeat (every publisher)
============================================  ==========================================

ZMQ filters subscriptions by byte prefix: ``md.`` is all market data, ``md.book.`` all books,
``md.book.linear.`` the linear books. A prefix ending in a symbol also matches longer symbols
(``md.book.inverse.BTCUSD`` matches ``…BTCUSDH26``); compare the whole topic when that matters
(:func:`matches`).
"""

from __future__ import annotations

BOOK = "md.book"
TRADE = "md.trade"
TICKER = "md.ticker"
STATUS = "md.status"
BBO = "bk.bbo"
REPORT = "ex.report"
HEARTBEAT = "sys.hb"


def topic(kind: str, category: str, symbol: str) -> str:
    """``topic(BOOK, "linear", "BTCUSDT") == "md.book.linear.BTCUSDT"``."""
    return f"{kind}.{category}.{symbol}"


def heartbeat(service: str) -> str:
    return f"{HEARTBEAT}.{service}"


def split(name: str) -> tuple[str, str, str]:
    """Split a market topic into ``(kind, category, symbol)``; raise ValueError otherwise."""
    parts = name.split(".")
    if len(parts) != 4:
        raise ValueError(f"not a market topic: {name!r}")
    return f"{parts[0]}.{parts[1]}", parts[2], parts[3]


def matches(name: str, wanted: str) -> bool:
    """True if ``name`` is ``wanted`` or lies below it as a dotted prefix (whole segments)."""
    return name == wanted or name.startswith(wanted if wanted.endswith(".") else wanted + ".")
