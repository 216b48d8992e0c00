"""The executor's write-ahead journal in SQLite (WAL): every intent and every order state change.

Schema (see docs/orders.md "Journal")::

    intents(id PK, received_ns, action, category, symbol, order_link_id, body, state, code, reason,
            updated_ns)
        state: pending | unknown | done | refused
    orders(order_link_id PK, intent_id, category, symbol, side, qty, price, order_id, status,
           cum_exec_qty, leaves_qty, avg_price, code, reason, created_ns, updated_ns)
        status: see services.executor.core.lifecycle
    events(id PK, ts_ns, order_link_id, intent_id, kind, status, code, detail)   -- append-only audit

Writes are grouped: callers open one transaction per batch of intents (``with journal.tx():``) and
the commit happens before any request of the batch is written to the network. ``synchronous`` is
``NORMAL`` by default: in WAL mode a committed transaction survives a process crash (``kill -9``)
— it is in the OS page cache — and only an OS crash/power cut can lose the last commits; ``FULL``
(``executor_journal_sync=full``) fsyncs every commit, at a cost of milliseconds per batch.

WAL checkpoints (copying the log into the database file, with its fsyncs) do not run inside the
executor's commits (SQLite's default every ~1,000 pages would stall an intent for milliseconds):
a background thread with its own connection runs a ``PASSIVE`` checkpoint every
:data:`CHECKPOINT_S` seconds, which never blocks the writer. Committed data is as durable either
way - a checkpoint only moves it from the log to the main file.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intents(
    id INTEGER PRIMARY KEY,
    received_ns INTEGER NOT NULL,
    action TEXT NOT NULL,
    category TEXT NOT NULL DEFAULT '',
    symbol TEXT NOT NULL DEFAULT '',
    order_link_id TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    code TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    updated_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS intents_state ON intents(state);
CREATE TABLE IF NOT EXISTS orders(
    order_link_id TEXT PRIMARY KEY,
    intent_id INTEGER,
    category TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL DEFAULT '',
    qty TEXT NOT NULL DEFAULT '',
    price TEXT NOT NULL DEFAULT '',
    order_id TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    cum_exec_qty TEXT NOT NULL DEFAULT '0',
    leaves_qty TEXT NOT NULL DEFAULT '',
    avg_price TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    created_ns INTEGER NOT NULL,
    updated_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status);
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY,
    ts_ns INTEGER NOT NULL,
    order_link_id TEXT NOT NULL DEFAULT '',
    intent_id INTEGER,
    kind TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
"""


@dataclass(slots=True)
class OrderRow:
    order_link_id: str
    intent_id: int | None
    category: str
    symbol: str
    side: str
    qty: str
    price: str
    order_id: str
    status: str
    cum_exec_qty: str
    leaves_qty: str


@dataclass(slots=True)
class IntentRow:
    id: int
    action: str
    category: str
    symbol: str
    order_link_id: str
    body: bytes
    state: str


#: Bytes per SQLite page for a new journal. A commit writes every page it touched to the WAL
#: (an intent's rows touch about six: three tables, two indexes, the orders key), so small
#: pages make the commit before each send cheaper: 1 KiB pages cost ~28 µs a transaction
#: against ~35-45 µs with SQLite's default 4 KiB on these machines, and write a third as much.
PAGE_SIZE = 1024

#: Seconds between background WAL checkpoints (file journals only).
CHECKPOINT_S = 1.0

_ORDER_COLS = "order_link_id,intent_id,category,symbol,side,qty,price,order_id,status,cum_exec_qty,leaves_qty"


class Journal:
    """One SQLite connection, used from one thread (the executor's loop)."""

    def __init__(self, path: str, *, sync: str = "normal") -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new file only; an existing one keeps its own
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
        self.db.executescript(_SCHEMA)
        self._depth = 0
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if path != ":memory:":
            self.db.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="journal-ckpt", daemon=True
            )
            self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        """Background PASSIVE checkpoints on a second connection (the GIL is released inside SQLite)."""
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(CHECKPOINT_S):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    pass  # busy or closing: the next round catches up
        finally:
            db.close()

    @contextmanager
    def tx(self) -> Iterator[None]:
        """One transaction (re-entrant: nested uses join the outer one); committed on exit."""
        if self._depth == 0:
            self.db.execute("BEGIN")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self.db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self.db.execute("COMMIT")

    # --- intents ------------------------------------------------------------------------------
    def add_intent(
        self,
        action: str,
        category: str,
        symbol: str,
        link: str,
        body: bytes,
        state: str,
        code: str = "",
        reason: str = "",
    ) -> int:
        now = time.time_ns()
        cur = self.db.execute(
            "INSERT INTO intents(received_ns,action,category,symbol,order_link_id,body,state,code,reason,"
            "updated_ns) VALUES(?,?,?,?,?,?,?,?,?,?)",
            (now, action, category, symbol, link, body.decode(errors="replace"), state, code, reason, now),
        )
        return int(cur.lastrowid or 0)

    def set_intent(self, intent_id: int, state: str, code: str = "", reason: str = "") -> None:
        self.db.execute(
            "UPDATE intents SET state=?, code=?, reason=?, updated_ns=? WHERE id=?",
            (state, code, reason[:500], time.time_ns(), intent_id),
        )

    def open_intents(self) -> list[IntentRow]:
        rows = self.db.execute(
            "SELECT id,action,category,symbol,order_link_id,body,state FROM intents"
            " WHERE state IN ('pending','unknown') ORDER BY id"
        ).fetchall()
        return [IntentRow(r[0], r[1], r[2], r[3], r[4], r[5].encode(), r[6]) for r in rows]

    # --- orders -------------------------------------------------------------------------------
    def add_order(
        self,
        link: str,
        intent_id: int | None,
        category: str,
        symbol: str,
        side: str,
        qty: str,
        price: str,
        status: str,
        order_id: str = "",
    ) -> None:
        now = time.time_ns()
        self.db.execute(
            "INSERT INTO orders(order_link_id,intent_id,category,symbol,side,qty,price,order_id,status,"
            "created_ns,updated_ns) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
            (link, intent_id, category, symbol, side, qty, price, order_id, status, now, now),
        )
        self.event(link, intent_id, "order", status)

    def update_order(
        self,
        link: str,
        status: str,
        *,
        order_id: str = "",
        code: str = "",
        reason: str = "",
        cum_exec_qty: str = "",
        leaves_qty: str = "",
        avg_price: str = "",
        qty: str = "",
        price: str = "",
    ) -> None:
        sets = ["status=?", "updated_ns=?"]
        args: list[object] = [status, time.time_ns()]
        for col, val in (
            ("order_id", order_id),
            ("code", code),
            ("reason", reason[:500]),
            ("cum_exec_qty", cum_exec_qty),
            ("leaves_qty", leaves_qty),
            ("avg_price", avg_price),
            ("qty", qty),
            ("price", price),
        ):
            if val:
                sets.append(f"{col}=?")
                args.append(val)
        args.append(link)
        self.db.execute(f"UPDATE orders SET {', '.join(sets)} WHERE order_link_id=?", args)  # noqa: S608
        self.event(link, None, "order", status, code, reason)

    def get_order(self, link: str) -> OrderRow | None:
        row = self.db.execute(f"SELECT {_ORDER_COLS} FROM orders WHERE order_link_id=?", (link,)).fetchone()  # noqa: S608
        return OrderRow(*row) if row else None

    def orders(self, statuses: tuple[str, ...] | None = None) -> list[OrderRow]:
        if statuses is None:
            rows = self.db.execute(f"SELECT {_ORDER_COLS} FROM orders").fetchall()  # noqa: S608
        else:
            marks = ",".join("?" * len(statuses))
            rows = self.db.execute(
                f"SELECT {_ORDER_COLS} FROM orders WHERE status IN ({marks})",  # noqa: S608
                statuses,
            ).fetchall()
        return [OrderRow(*r) for r in rows]

    # --- events -------------------------------------------------------------------------------
    def event(
        self, link: str, intent_id: int | None, kind: str, status: str = "", code: str = "", detail: str = ""
    ) -> None:
        self.db.execute(
            "INSERT INTO events(ts_ns,order_link_id,intent_id,kind,status,code,detail) VALUES(?,?,?,?,?,?,?)",
            (time.time_ns(), link, intent_id, kind, status, code, detail[:2000]),
        )

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            p = Path(self.path + suffix)
            if p.exists():
                total += p.stat().st_size
        return total

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=5)
        self.db.close()
