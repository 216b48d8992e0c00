"""A deliberately broken book service, to prove the chaos checker catches a wrong live book.

``python -m chaos.mutant_book`` is ``python -m services.book`` except that the book trusts
everything: a ``u`` gap or a ``u=1`` restart is applied as if it followed on, the feed's
``resubscribing``/``disconnected`` statuses and lost bus messages are ignored, and a snapshot is
only taken while not live (classic bugs). After a skipped delta it stays live and wrong. Used only
by the suite's self-test (tests/chaos/test_chaos.py); never deploy it.
"""

from __future__ import annotations

import sys
from typing import Any

from services.book.__main__ import main
from services.book.core import sync

_original = sync.BookRegistry.on_book


def _trusting_on_book(self: sync.BookRegistry, msg: Any, now: float) -> None:
    sb = self.books.get((msg.category, msg.symbol))
    if sb is not None and sb.state in (sync.LIVE, sync.STALE):
        if msg.type == "snapshot":
            return  # the bug: "already in sync"
        sb.u = msg.u - 1  # the bug: pretend nothing was missed
    _original(self, msg, now)


def _ignore(self: sync.BookRegistry, *args: Any, **kwargs: Any) -> None:
    return None


sync.BookRegistry.on_book = _trusting_on_book  # type: ignore[method-assign]
sync.BookRegistry.on_status = _ignore  # type: ignore[method-assign]
sync.BookRegistry.on_bus_gap = _ignore  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
