"""The true order book at every ``(u, seq)``, rebuilt from the feed's bus stream (pure, no I/O).

Why this design (docs/reliability.md, "How a book reply is checked"): the simulator's
``GET /sim/book`` only gives the latest sent book, but a book reply names the exact message it
reflects by Bybit's ``u`` and ``seq`` (``seq`` only grows, per symbol, for the simulator's whole
life — even across ``u=1`` restarts — so it orders everything). The checker therefore keeps,
per topic, every book a correct client holds after each message of the stream — a digest per
``(u, seq)`` — and the ``seq`` ranges where no correct client can hold the book:

* ``stream`` gaps: a jump in ``u`` or a ``u=1`` delta (every subscriber sees them, so a book
  served ``live`` at a ``seq`` inside one is a violation);
* ``blind`` ranges: the checker's own loss (a ``bus_seq`` jump, a heartbeat announcing messages
  it did not get, a new feed epoch: a killed feed may have delivered its last messages to others
  but not to us). Replies there are
  counted as unverifiable, never as passed.

The table is itself validated against the simulator (``chaos.anchors``): the simulator's latest
sent book, polled continually, must equal the table's entry at the same ``(u, seq)``. That
catches a feed that alters data, and proves the reconstruction.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from services.common.wire import BookUpdate

Key = tuple[int, int]  # (u, seq)
Levels = tuple[tuple[str, str], ...]
Top = tuple[str, str, str, str]  # bid, bid_size, ask, ask_size ("" for an empty side)

MATCH = "match"
MISMATCH = "mismatch"  # a live reply differs from the true book at its (u, seq)
STREAM_GAP = "live_in_gap"  # a live reply inside a u gap every subscriber saw
UNKNOWN_KEY = "unknown_key"  # a live reply at a (u, seq) the stream never carried
BLIND = "blind"  # the checker itself lost data there: unverifiable
PENDING = "pending"  # the checker has not seen that far yet
EVICTED = "evicted"  # older than the bounded history
VIOLATIONS = frozenset({MISMATCH, STREAM_GAP, UNKNOWN_KEY})


def sort_levels(side: dict[str, str], bids: bool) -> Levels:
    """Levels best first (floats only as the sort key; the strings are kept)."""
    return tuple(sorted(side.items(), key=lambda kv: float(kv[0]), reverse=bids))


def levels_of(raw: Any) -> Levels:
    """A reply's ``[[price, size], ...]`` as a hashable tuple."""
    return tuple((str(p), str(s)) for p, s in raw)


def top_of(bids: Levels, asks: Levels) -> Top:
    b = bids[0] if bids else ("", "")
    a = asks[0] if asks else ("", "")
    return (b[0], b[1], a[0], a[1])


@dataclass
class Segment:
    """``seq`` range [start, end) where no correct client holds the book; ``end`` None = open."""

    start: int
    end: int | None
    reason: str  # "stream" or "blind"
    end_u: int = 0  # the u of the snapshot that ended it (other messages may share its seq)

    def holds(self, seq: int, u: int) -> bool:
        if seq < self.start:
            return False
        return self.end is None or seq < self.end or (seq == self.end and u != self.end_u)


@dataclass
class TopicTruth:
    """One ``md.book.<category>.<symbol>`` topic."""

    keep: int = 300_000
    keep_full: int = 400
    bids: dict[str, str] = field(default_factory=dict)
    asks: dict[str, str] = field(default_factory=dict)
    known: bool = False
    last_u: int = 0
    epoch: int = 0
    bus_seq: int = 0
    max_seq: int = 0
    oldest_seq: int = 0
    entries: OrderedDict[Key, tuple[int, Top]] = field(default_factory=OrderedDict)
    full: OrderedDict[Key, tuple[Levels, Levels]] = field(default_factory=OrderedDict)
    segments: list[Segment] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"snapshots": 0, "deltas": 0, "stream_gaps": 0, "blind": 0}
    )

    # --- recording --------------------------------------------------------------------------
    def _lose(self, start: int, reason: str) -> None:
        self.counts["stream_gaps" if reason == "stream" else "blind"] += 1
        if self.segments and self.segments[-1].end is None:
            if reason == "blind":
                self.segments[-1].reason = "blind"  # the weaker claim wins
            return
        self.known = False
        self.segments.append(Segment(start, None, reason))

    def lost_on_bus(self) -> None:
        """The checker missed messages of this topic (bus_seq jump, heartbeat)."""
        self._lose(self.max_seq + 1, "blind")

    def on_message(self, m: BookUpdate) -> None:
        if m.epoch != self.epoch:
            if self.epoch:
                # a new feed: the old one may have sent others a last message we never got
                self.lost_on_bus()
            else:
                self._lose(0, "blind")  # what the others got before we joined
            self.epoch = m.epoch
        elif m.bus_seq != self.bus_seq + 1:
            self.lost_on_bus()
        self.bus_seq = m.bus_seq
        if m.type == "snapshot":
            self.bids = {p: s for p, s in m.bids if s != "0"}
            self.asks = {p: s for p, s in m.asks if s != "0"}
            self.counts["snapshots"] += 1
            if self.segments and self.segments[-1].end is None:
                self.segments[-1].end, self.segments[-1].end_u = m.seq, m.u
            self.known = True
        elif self.known:
            if m.u != self.last_u + 1:
                self._lose(m.seq, "stream")
            else:
                self.counts["deltas"] += 1
                for side, levels in ((self.bids, m.bids), (self.asks, m.asks)):
                    for p, s in levels:
                        if s == "0" or float(s) == 0:
                            side.pop(p, None)
                        else:
                            side[p] = s
        self.last_u = m.u
        if m.seq > self.max_seq:
            self.max_seq = m.seq
        if self.known:
            self._record((m.u, m.seq))

    def _record(self, key: Key) -> None:
        bids, asks = sort_levels(self.bids, True), sort_levels(self.asks, False)
        self.entries[key] = (hash((bids, asks)), top_of(bids, asks))
        self.full[key] = (bids, asks)
        if len(self.entries) > self.keep:
            (_u, seq), _ = self.entries.popitem(last=False)
            self.oldest_seq = seq
        if len(self.full) > self.keep_full:
            self.full.popitem(last=False)

    # --- verdicts ---------------------------------------------------------------------------
    def _missing(self, seq: int, u: int) -> str:
        for seg in reversed(self.segments):
            if seg.holds(seq, u):
                return STREAM_GAP if seg.reason == "stream" else BLIND
        if seq > self.max_seq:
            return PENDING
        if seq <= self.oldest_seq:
            return EVICTED
        return UNKNOWN_KEY

    def verdict_book(self, u: int, seq: int, bids: Levels, asks: Levels) -> str:
        entry = self.entries.get((u, seq))
        if entry is None:
            return self._missing(seq, u)
        return MATCH if entry[0] == hash((bids, asks)) else MISMATCH

    def verdict_top(self, u: int, seq: int, top: Top) -> str:
        entry = self.entries.get((u, seq))
        if entry is None:
            return self._missing(seq, u)
        return MATCH if entry[1] == top else MISMATCH

    def expected(self, u: int, seq: int) -> tuple[Levels, Levels] | None:
        """The full true book at ``(u, seq)`` if still kept (for mismatch reports)."""
        return self.full.get((u, seq))


def reply_top(reply: dict[str, Any]) -> Top:
    """A ``top`` reply as a :data:`Top` (null sides become "")."""
    return (
        reply.get("bid") or "",
        reply.get("bid_size") or "",
        reply.get("ask") or "",
        reply.get("ask_size") or "",
    )
