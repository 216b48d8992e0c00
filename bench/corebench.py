"""In-process benchmarks of the pure cores: the feed's frame handling, and parse+apply in one process
(the figure the peers are compared with). No sockets: these say what the cores cost on their own.

In-process rates use the thread's CPU time (``time.thread_time_ns``), so time spent descheduled
by other load on a shared machine does not count; latencies use ``perf_counter_ns``."""

from __future__ import annotations

import time
from typing import Any

from bench import prep
from bench.context import Ctx
from bench.stats import Figure


def _session(symbols: list[str], channels: tuple[str, ...], depths: dict[str, int]) -> Any:
    from services.feed.core.plan import ConnectionPlan
    from services.feed.core.session import Session

    topics: list[str] = []
    for s in symbols:
        for kind in channels:
            if kind == "book":
                topics.append(f"orderbook.{depths[s]}.{s}")
            elif kind == "trade":
                topics.append(f"publicTrade.{s}")
            else:
                topics.append(f"tickers.{s}")
    session = Session(ConnectionPlan("linear-0", "linear", tuple(topics), tuple(symbols)))
    session.connected(0.0)
    session.actions.clear()
    return session


def feed_core(ctx: Ctx) -> dict[str, Any]:
    """Frames (bytes) → Session.on_frame → wire.encode, as the feed does per frame, minus the sockets."""
    from services.common.wire import encode

    p = prep.stream("ingest", ctx.n(150_000, 10_000), 20)
    raws = [f.encode() for f in p.stream.frames]
    session = _session(p.stream.symbols, ("book", "trade", "ticker"), p.stream.depths)
    on_frame = session.on_frame
    pc = time.thread_time_ns  # CPU time: robust to other load on a shared machine
    t0 = pc()
    n = 0
    for raw in raws:
        out = on_frame(raw, 0)
        if out is not None:
            encode(out[1])
            n += 1
    elapsed = pc() - t0
    rate = len(raws) / (elapsed / 1e9)
    ctx.rates["feed core (no I/O)"] = rate
    ctx.add(
        Figure(
            "feed_core",
            "feed core parse+normalise+encode (no I/O)",
            rate,
            "msg/s",
            ctx.rates.get("R1 websockets recv"),
            "R1",
            note=f"info: {elapsed / len(raws) / 1000:.1f} µs CPU/frame; {n} bus messages",
        )
    )
    return {"rate": rate, "messages": n}


def parse_apply(frames: list[str], symbols: list[str], depths: dict[str, int]) -> dict[str, Any]:
    """tickwire's feed core + book core in one process on raw frames: msgs/s and the final books."""
    from services.book.core.sync import BookRegistry

    raws = [f.encode() for f in frames]
    session = _session(symbols, ("book",), depths)
    reg = BookRegistry([("linear", s) for s in symbols], 0.0, depth=0)
    on_frame, on_book = session.on_frame, reg.on_book
    pc = time.thread_time_ns  # CPU time: the peers run at another moment, maybe under other load
    t0 = pc()
    for raw in raws:
        out = on_frame(raw, 0)
        if out is not None:
            on_book(out[1], 1.0)
    elapsed = pc() - t0
    books = {
        sym: ([list(x) for x in sb.book.top_bids()], [list(x) for x in sb.book.top_asks()])
        for (_, sym), sb in reg.books.items()
    }
    return {"rate": len(raws) / (elapsed / 1e9), "books": books, "resyncs": dict(reg.stats.resyncs)}
