"""Per-symbol sync state machine and the registry of all books (pure: time is passed in).

States (see docs/book.md):

* ``syncing``   — no snapshot yet since the service started; deltas are dropped.
* ``live``      — in sync; served as current.
* ``stale``     — in sync but no update for ``stale_after`` seconds (data kept, flagged).
* ``resyncing`` — sync lost (``u`` gap, ``u=1`` delta, bus loss, feed disconnect, broken
  invariant); the book is emptied and deltas are dropped until the next snapshot.

``u`` rules (Bybit v5): a snapshot is always accepted (even with a lower ``u``) and replaces
the book; a delta must carry the previous ``u`` + 1, otherwise the book resyncs (``u == 1``
is a restart); depth-1 books are never gap-checked.

The registry decides when to ask the feed for a snapshot (:meth:`BookRegistry.due_requests`):
at once after a resync trigger, for books never synced once the feed is seen, and again every
``resync_timeout`` seconds while a book is not in sync.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.book.core.book import BookInvariantError, L2Book
from services.common.wire import BookUpdate, StreamStatus

SYNCING = "syncing"
LIVE = "live"
STALE = "stale"
RESYNCING = "resyncing"
STATES = (SYNCING, LIVE, STALE, RESYNCING)

# Resync / gap causes (metric label values).
U_GAP = "u_gap"
U_BACKWARDS = "u_backwards"
U_RESTART = "u_restart"
BUS_GAP = "bus_gap"
HB_GAP = "heartbeat_gap"
FEED_STATUS = "feed_status"
TIMEOUT = "timeout"

#: Feed stream states that mean the book can no longer be trusted.
UNTRUSTED_STATUS = frozenset({"disconnected", "resubscribing", "error"})

Key = tuple[str, str]


@dataclass(slots=True)
class Stats:
    """Counters accumulated by the core; the shell flushes them to Prometheus per batch."""

    snapshots: int = 0
    deltas: int = 0
    level_changes: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    gaps: dict[str, int] = field(default_factory=dict)
    resyncs: dict[str, int] = field(default_factory=dict)

    def bump(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


class SyncedBook:
    """One (category, symbol) book with its sync state."""

    __slots__ = (
        "book",
        "category",
        "last",
        "last_cause",
        "last_request",
        "last_update",
        "state",
        "state_since",
        "symbol",
        "top_cache",
        "u",
    )

    def __init__(self, category: str, symbol: str, now: float, depth: int = 0) -> None:
        self.category = category
        self.symbol = symbol
        self.book = L2Book(depth)
        self.state = SYNCING
        self.state_since = now
        #: Monotonic time of the last applied message (or of creation).
        self.last_update = now
        #: Monotonic time of the last snapshot request (None = never asked).
        self.last_request: float | None = None
        self.last_cause = ""
        self.u = 0
        #: The last message applied (its seq/ts/cts/recv_ns are reported).
        self.last: BookUpdate | None = None
        #: ``(bid price, ask price, mid, spread)`` of the last ``top`` query (see core.queries).
        self.top_cache: tuple[str, str, str, str] | None = None

    @property
    def seq(self) -> int:
        return self.last.seq if self.last is not None else 0

    @property
    def ts(self) -> int:
        return self.last.ts if self.last is not None else 0

    @property
    def cts(self) -> int:
        return self.last.cts if self.last is not None else 0

    @property
    def recv_ns(self) -> int:
        return self.last.recv_ns if self.last is not None else 0


class BookRegistry:
    """All books, keyed by ``(category, symbol)``. Routes bus messages; decides resyncs."""

    def __init__(
        self,
        symbols: list[Key],
        now: float,
        *,
        stale_after: float = 10.0,
        resync_timeout: float = 5.0,
        depth: int = 0,
    ) -> None:
        self.stale_after = stale_after
        self.resync_timeout = resync_timeout
        self.default_depth = depth
        self.configured = list(symbols)
        self.books: dict[Key, SyncedBook] = {}
        self.stats = Stats()
        #: Books whose BBO or state may have changed since the last :meth:`take_touched`.
        self.touched: set[SyncedBook] = set()
        #: Books that need a snapshot request now (resync trigger), see :meth:`due_requests`.
        self.urgent: set[Key] = set()
        #: Recent resync events ``(key, cause, detail)`` for logging; drained by the shell.
        self.events: list[tuple[Key, str, str]] = []
        for key in self.configured:
            self.books[key] = SyncedBook(key[0], key[1], now, depth)

    # ------------------------------------------------------------------ helpers
    def get(self, category: str, symbol: str) -> SyncedBook | None:
        return self.books.get((category, symbol))

    def _book_for(self, category: str, symbol: str, now: float) -> SyncedBook:
        key = (category, symbol)
        sb = self.books.get(key)
        if sb is None:
            sb = self.books[key] = SyncedBook(category, symbol, now, self.default_depth)
        return sb

    def _set_state(self, sb: SyncedBook, state: str, now: float) -> None:
        if sb.state != state:
            sb.state = state
            sb.state_since = now
            self.touched.add(sb)

    def resync(
        self, sb: SyncedBook, cause: str, now: float, detail: str = "", *, request: bool = True
    ) -> None:
        """Drop the book's content and wait for a fresh snapshot (asked for at once if ``request``)."""
        key = (sb.category, sb.symbol)
        self.stats.bump(self.stats.resyncs, cause)
        self.events.append((key, cause, detail))
        sb.book.clear()
        sb.last_cause = cause
        self.touched.add(sb)
        if sb.state == SYNCING:
            # never synced: stays "syncing"
            pass
        else:
            self._set_state(sb, RESYNCING, now)
        if request:
            self.urgent.add(key)
        else:
            # the feed is already resubscribing: give it resync_timeout before asking
            sb.last_request = now

    # ------------------------------------------------------------------ bus input
    def on_book(self, msg: BookUpdate, now: float) -> None:
        """Apply one book message (snapshot or delta) following Bybit's rules."""
        sb = self.books.get((msg.category, msg.symbol))
        if sb is None:
            sb = self._book_for(msg.category, msg.symbol, now)
        stats = self.stats
        if msg.type == "delta":
            state = sb.state
            if state != LIVE and state != STALE:
                stats.bump(stats.dropped, "not_synced")
                return
            u = msg.u
            if u != sb.u + 1 and msg.depth != 1:
                if u == 1:
                    cause = U_RESTART
                elif u > sb.u:
                    cause = U_GAP
                else:
                    cause = U_BACKWARDS
                stats.bump(stats.gaps, cause)
                self.resync(sb, cause, now, f"u {sb.u} -> {u}")
                return
            try:
                stats.level_changes += sb.book.apply_delta(msg.bids, msg.asks)
            except BookInvariantError as exc:
                self.resync(sb, exc.code, now, str(exc))
                return
            stats.deltas += 1
            sb.u = u
            sb.last = msg
            sb.last_update = now
            if state != LIVE:
                self._set_state(sb, LIVE, now)
            self.touched.add(sb)
            return
        try:
            stats.level_changes += sb.book.apply_snapshot(msg.bids, msg.asks, msg.depth)
        except BookInvariantError as exc:
            self.resync(sb, exc.code, now, str(exc))
            return
        stats.snapshots += 1
        sb.u = msg.u
        sb.last = msg
        sb.last_update = now
        if sb.state != LIVE:
            self._set_state(sb, LIVE, now)
            sb.last_request = None
        self.touched.add(sb)

    def on_status(self, msg: StreamStatus, now: float) -> None:
        """A feed stream status: ``disconnected``/``resubscribing``/``error`` -> resyncing."""
        if msg.state not in UNTRUSTED_STATUS:
            return
        sb = self.books.get((msg.category, msg.symbol))
        if sb is None:
            sb = self._book_for(msg.category, msg.symbol, now)
        if sb.state in (LIVE, STALE):
            self.resync(sb, FEED_STATUS, now, f"{msg.state}: {msg.reason}", request=False)
        elif sb.last_request is None:
            sb.last_request = now

    def on_bus_gap(self, category: str, symbol: str, cause: str, now: float, detail: str = "") -> None:
        """Messages of this book's topic were lost on the bus."""
        self.stats.bump(self.stats.gaps, cause)
        sb = self.books.get((category, symbol))
        if sb is not None and sb.state in (LIVE, STALE):
            self.resync(sb, cause, now, detail)

    # ------------------------------------------------------------------ timers
    def check_stale(self, now: float) -> None:
        """Mark live books without updates for ``stale_after`` seconds as stale."""
        limit = now - self.stale_after
        for sb in self.books.values():
            if sb.state == LIVE and sb.last_update <= limit:
                self._set_state(sb, STALE, now)
                self.events.append(((sb.category, sb.symbol), "stale", ""))

    def due_requests(self, now: float, *, feed_seen: bool) -> list[Key]:
        """Books whose snapshot must be asked for now; marks them as requested.

        * resync triggers (``urgent``): at once;
        * books not in sync and never asked: once the feed has been seen (or after
          ``resync_timeout`` since start if it never is);
        * books still not in sync ``resync_timeout`` after the last request: again.
        """
        due: list[Key] = []
        for key, sb in self.books.items():
            if sb.state != SYNCING and sb.state != RESYNCING:
                continue
            last = sb.last_request
            if key in self.urgent:
                pass
            elif last is None:
                if not feed_seen and now - sb.state_since < self.resync_timeout:
                    continue
            elif now - last < self.resync_timeout:
                continue
            elif last is not None:
                self.stats.bump(self.stats.resyncs, TIMEOUT)
            sb.last_request = now
            due.append(key)
        self.urgent.clear()
        return due

    def take_touched(self) -> set[SyncedBook]:
        touched = self.touched
        self.touched = set()
        return touched

    def take_events(self) -> list[tuple[Key, str, str]]:
        events = self.events
        self.events = []
        return events

    def state_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for sb in self.books.values():
            counts[sb.state] += 1
        return counts
