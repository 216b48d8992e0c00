"""Order-book topic streams: Bybit's top-N window, ``u``/``seq`` bookkeeping and exact JSON.

A :class:`BookStream` is one ``orderbook.{N}.{SYMBOL}`` topic. While active it tracks which
levels of the true book changed; at each push it diffs its last *sent* window against the
current top-N window and emits only the differences, with ``"0"`` for levels that left the
window, so a client applying every message holds exactly the sent window (N levels a side).
Depth 1 is snapshot-only and repeats the same snapshot (same ``u``) when nothing changed for
``l1_repeat_ms``. Key order follows Bybit: spot and depth 1 ``topic,ts,type,data,cts``;
futures depth > 1 ``topic,type,ts,data,cts``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from services.bybit_sim.core.book import Side, SimBook

_encode = msgspec.json.Encoder().encode

#: Push modes: a normal delta, a re-sent snapshot, a ``u=1`` restart (snapshot or delta).
MODES = ("delta", "snapshot", "restart_snapshot", "restart_delta")


def encode(obj: Any) -> bytes:
    """Compact JSON with the dict's key order kept."""
    return _encode(obj)


class BookStream:
    """State of one order-book topic (shared by all its subscribers)."""

    __slots__ = (
        "book", "bound_a", "bound_b", "category", "depth", "l1_repeat_ms", "last_push_ms", "sent_a",
        "sent_b", "sent_cts", "sent_seq", "spot_order", "symbol", "topic", "tracker", "u",
    )  # fmt: skip

    def __init__(self, category: str, book: SimBook, depth: int, u0: int, l1_repeat_ms: int = 3000) -> None:
        self.category = category
        self.book = book
        self.depth = depth
        self.symbol = book.instrument.symbol
        self.topic = f"orderbook.{depth}.{self.symbol}"
        self.spot_order = category == "spot" or depth == 1
        self.u = u0
        self.tracker: Any = None
        self.sent_b: dict[int, int] = {}
        self.sent_a: dict[int, int] = {}
        self.sent_seq = book.seq
        self.sent_cts = 0
        self.last_push_ms = 0
        self.l1_repeat_ms = l1_repeat_ms
        self.bound_b: int | None = None
        self.bound_a: int | None = None

    @property
    def active(self) -> bool:
        return self.tracker is not None

    def _window(self, side: Side) -> dict[int, int]:
        sizes = side.sizes
        return {k: sizes[k] for k in side.keys[: self.depth]}

    def activate(self, ts: int) -> None:
        """Start tracking; the current window becomes the sent state under a new ``u``."""
        if self.tracker is None:
            self.tracker = self.book.track()
        self.sent_b = self._window(self.book.b)
        self.sent_a = self._window(self.book.a)
        self.bound_b, self.bound_a = self._bound(self.book.b), self._bound(self.book.a)
        self.u += 1
        self.sent_seq = self.book.seq
        self.sent_cts = ts - 1
        self.last_push_ms = ts

    def deactivate(self) -> None:
        if self.tracker is not None:
            self.book.untrack(self.tracker)
            self.tracker = None

    # --- messages ---------------------------------------------------------------------------
    def _levels(self, sent: dict[int, int], sign: int, keys: list[int] | None = None) -> list[list[str]]:
        inst = self.book.instrument
        fp, fq = inst.fmt_price, inst.fmt_qty
        if keys is None:
            return [[fp(k * sign), fq(sent[k])] for k in sorted(sent)]
        return [[fp(k * sign), fq(sent[k]) if k in sent else "0"] for k in keys]

    def _message(self, kind: str, b: list[list[str]], a: list[list[str]], ts: int) -> bytes:
        data = {"s": self.symbol, "b": b, "a": a, "u": self.u, "seq": self.sent_seq}
        if self.spot_order:
            return encode({"topic": self.topic, "ts": ts, "type": kind, "data": data, "cts": self.sent_cts})
        return encode({"topic": self.topic, "type": kind, "ts": ts, "data": data, "cts": self.sent_cts})

    def snapshot(self, ts: int) -> bytes:
        """A snapshot of the sent state with the current ``u`` (for a new subscriber)."""
        return self._message("snapshot", self._levels(self.sent_b, -1), self._levels(self.sent_a, 1), ts)

    def _bound(self, side: Side) -> int | None:
        keys = side.keys
        if not keys:
            return None
        return keys[self.depth - 1] if len(keys) >= self.depth else keys[-1]

    def _diff(
        self, side: Side, sent: dict[int, int], dirty: set[int], bound: int | None
    ) -> tuple[list[int], int | None]:
        """Update ``sent`` to the current window; return (keys whose sent value changed, new bound).

        ``bound`` is the worst key of the sent window. A level whose rank crossed N without
        changing lies between the old and the new bound, so only dirty keys and that slice of
        the book are visited.
        """
        sizes = side.sizes
        new_bound = self._bound(side)
        extra: list[int] = []
        if new_bound != bound:
            if new_bound is None:
                extra = list(sent)
            elif bound is None or new_bound > bound:
                extra = side.slice(bound, new_bound)
            else:
                extra = side.slice(new_bound, bound)
        changed = []
        for group in (dirty, extra):
            for k in group:
                if new_bound is not None and k <= new_bound and k in sizes:
                    size = sizes[k]
                    if sent.get(k) != size:
                        sent[k] = size
                        changed.append(k)
                elif k in sent:
                    del sent[k]
                    changed.append(k)
        changed.sort()
        return changed, new_bound

    def push(self, ts: int, mode: str = "delta") -> bytes | None:
        """Advance the sent state to the current window; return the frame, or None if unchanged.

        ``mode`` (see :data:`MODES`) forces a snapshot or a ``u=1`` restart instead of a delta.
        """
        tracker = self.tracker
        if tracker is None:
            return None
        if self.depth == 1:
            return self._push_l1(ts, mode)
        kb, self.bound_b = self._diff(self.book.b, self.sent_b, tracker.b, self.bound_b)
        ka, self.bound_a = self._diff(self.book.a, self.sent_a, tracker.a, self.bound_a)
        tracker.b.clear()
        tracker.a.clear()
        if not kb and not ka and mode == "delta":
            return None
        self.u = 1 if mode.startswith("restart") else self.u + 1
        self.sent_seq = self.book.seq
        self.sent_cts = ts - 1 - self.u % 7
        self.last_push_ms = ts
        if mode in ("snapshot", "restart_snapshot"):
            return self.snapshot(ts)
        return self._message("delta", self._levels(self.sent_b, -1, kb), self._levels(self.sent_a, 1, ka), ts)

    def _push_l1(self, ts: int, mode: str) -> bytes | None:
        tracker = self.tracker
        tracker.b.clear()
        tracker.a.clear()
        b, a = self._window(self.book.b), self._window(self.book.a)
        if b != self.sent_b or a != self.sent_a or mode != "delta":
            self.sent_b, self.sent_a = b, a
            self.u = 1 if mode.startswith("restart") else self.u + 1
            self.sent_seq = self.book.seq
            self.sent_cts = ts - 1 - self.u % 7
        elif ts - self.last_push_ms < self.l1_repeat_ms:
            return None
        self.last_push_ms = ts
        return self.snapshot(ts)

    # --- inspection -------------------------------------------------------------------------
    def sent_book(self) -> dict[str, Any]:
        """What a correct client holds after the last message sent on this topic."""
        return {
            "bids": self._levels(self.sent_b, -1),
            "asks": self._levels(self.sent_a, 1),
            "u": self.u,
            "seq": self.sent_seq,
        }

    def true_book(self) -> dict[str, Any]:
        """The current top-N window of the true book (may be ahead of what was sent)."""
        b, a = self._window(self.book.b), self._window(self.book.a)
        return {"bids": self._levels(b, -1), "asks": self._levels(a, 1), "u": self.u, "seq": self.book.seq}
