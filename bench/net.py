"""Benchmarks over sockets: R1 and feed ingest, R2; helpers to run and query the book service.

Every run starts its own processes on free ports (see :mod:`bench.harness` for placement).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import msgspec
import zmq

from bench import prep
from bench.context import Ctx
from bench.harness import (
    LOAD_CPU,
    SUT_CPU,
    ProcError,
    cpu_seconds,
    free_port,
    group,
    rss_mb,
    runq_wait_seconds,
    tcp,
    wait_for,
)
from bench.stats import Figure, Target

SETTLE = 0.5
#: where the book service runs in the end-to-end run (the feed runs on SUT_CPU)


# seconds for ZMQ subscriptions to propagate before a stream starts


def linear_symbols(symbols: list[str]) -> str:
    return ",".join(f"linear:{s}" for s in symbols)


def rate_of(res: dict[str, Any]) -> float:
    span = (res["last"] - res["first"]) / 1e9
    return (res["n"] - 1) / span if span > 0 and res["n"] > 1 else float("nan")


# ------------------------------------------------------------------------------ ingest: R1 vs feed
def r1(ctx: Ctx, p: prep.Prepared) -> dict[str, Any]:
    topics = p.topics
    with group(ctx.logs) as g:
        srv, port = g.wsserver(p.frames_path, "--expect-topics", str(len(topics)))
        cli = g.helper(
            "r1",
            "--url",
            f"ws://127.0.0.1:{port}",
            "--topics",
            ",".join(topics),
            "--total",
            str(len(p.stream.frames)),
            cpu=SUT_CPU,
        )
        cli.expect("READY", 30)
        srv.expect("SUBSCRIBED", 30)
        srv.send("GO")
        res = cli.result(300)
        srv.result(60)
    res["rate"] = rate_of(res)
    return res


def feed_settings(symbols: list[str], port: int, channels: str, **extra: Any) -> dict[str, Any]:
    return {
        "symbols": linear_symbols(symbols),
        "orderbook_depth": 50,
        "feed_channels": channels,
        "bybit_public_ws_url": f"ws://127.0.0.1:{port}/v5/public/{{category}}",
        "feed_pub": tcp(free_port()),
        "feed_ctl": tcp(free_port()),
        "feed_metrics_port": free_port(),
        "feed_pub_hwm": 2_000_000,
        "log_level": "warning",
        **extra,
    }


def feed_ingest(ctx: Ctx, p: prep.Prepared) -> dict[str, Any]:
    topics = p.topics
    n = len(p.stream.frames)
    with group(ctx.logs) as g:
        srv, port = g.wsserver(p.frames_path, "--expect-topics", str(len(topics)))
        fs = feed_settings(p.stream.symbols, port, "book,trade,ticker")
        sink = g.helper(
            "sink",
            "--endpoint",
            fs["feed_pub"],
            "--prefix",
            "md.book.",
            "--prefix",
            "md.trade.",
            "--prefix",
            "md.ticker.",
            "--multipart",
            "--expect",
            str(n),
            "--idle",
            "3",
            "--timeout",
            "300",
            cpu=LOAD_CPU,
        )
        sink.expect("READY", 30)
        feed = g.service("services.feed", fs, cpu=SUT_CPU)
        srv.expect("SUBSCRIBED", 60)
        time.sleep(SETTLE)
        rss0 = rss_mb(feed.pid)
        cpu0 = cpu_seconds(feed.pid)
        wait0 = runq_wait_seconds(feed.pid)
        srv.send("GO")
        res = sink.result(400)
        srv.result(60)
        res["cpu_s"] = cpu_seconds(feed.pid) - cpu0
        res["runq_wait_s"] = runq_wait_seconds(feed.pid) - wait0
        res["rss_mb"] = [rss0, rss_mb(feed.pid)]
        res["alive"] = feed.alive
    res["rate"] = rate_of(res)
    res["expected"] = n
    return res


def ingest(ctx: Ctx) -> None:
    """R1 and the feed on the same frames, alternated over a few rounds; medians are reported."""
    n = ctx.n(150_000, 10_000)
    p = prep.stream("ingest", n, 20)
    r1s: list[dict[str, Any]] = []
    feeds: list[dict[str, Any]] = []
    for _ in range(ctx.n(3, 1)):
        r1s.append(r1(ctx, p))
        try:
            feeds.append(feed_ingest(ctx, p))
        except ProcError as exc:
            ctx.notes["feed ingest"] = f"failed: {exc}"[:400]
    base = statistics.median(r["rate"] for r in r1s)
    ctx.rates["R1 websockets recv"] = base
    if not feeds:
        ctx.add(
            Figure(
                "feed_ingest",
                "feed ingest (WS→parse→normalise→PUB)",
                float("nan"),
                "msg/s",
                base,
                "R1",
                Target(">=", 0.5),
            )
        )
        return
    rate = statistics.median(f["rate"] for f in feeds)
    ctx.rates["feed ingest"] = rate
    lost = max(f["expected"] - f["n"] for f in feeds)
    ratios = ", ".join(f"{f['rate'] / r['rate']:.2f}" for f, r in zip(feeds, r1s, strict=False))
    cpu = statistics.median(f["cpu_s"] / ((f["last"] - f["first"]) / 1e9) * 100 for f in feeds)
    wait = statistics.median(f["runq_wait_s"] / ((f["last"] - f["first"]) / 1e9) * 100 for f in feeds)
    ctx.add(
        Figure(
            "feed_ingest",
            "feed ingest (WS→parse→normalise→PUB)",
            rate,
            "msg/s",
            base,
            "R1",
            Target(">=", 0.5),
            note=f"median of {len(feeds)} rounds (ratios {ratios}); feed CPU {cpu:.0f}%, waiting for a CPU "
            f"{wait:.0f}% (all threads incl. ZMQ I/O); {len(p.stream.frames):,} frames, 20 symbols, "
            "book+trade+ticker" + (f"; up to {lost} missing" if lost else ""),
            extra={"r1": r1s, "feed": feeds},
        )
    )


# ------------------------------------------------------------------------------ R2: PUB→SUB
def r2(ctx: Ctx, pairs_path: Path, n: int, repeat: int) -> dict[str, Any]:
    ep = tcp(free_port())
    with group(ctx.logs) as g:
        pub = g.helper(
            "pub", "--endpoint", ep, "--pairs", str(pairs_path), "--repeat", str(repeat), cpu=LOAD_CPU
        )
        pub.expect("READY", 30)
        sink = g.helper(
            "sink", "--endpoint", ep, "--multipart", "--expect", str(n * repeat), "--idle", "2", cpu=SUT_CPU
        )
        sink.expect("READY", 30)
        time.sleep(SETTLE)
        pub.send("GO")
        res = sink.result(300)
        pub.result(60)
    res["rate"] = rate_of(res)
    return res


# ------------------------------------------------------------------------------ book service helpers
def book_settings(symbols: list[str], feed: dict[str, Any], depth: int = 50, **extra: Any) -> dict[str, Any]:
    return {
        "symbols": linear_symbols(symbols),
        "orderbook_depth": depth,
        "feed_pub": feed["feed_pub"],
        "feed_ctl": feed["feed_ctl"],
        "book_rep": tcp(free_port()),
        "book_pub": tcp(free_port()),
        "book_metrics_port": free_port(),
        "log_level": "warning",
        **extra,
    }


def book_status(endpoint: str, timeout: float = 2.0) -> dict[str, Any] | None:
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    s = zctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    try:
        s.send(b'{"op":"status"}')
        if not s.poll(int(timeout * 1000)):
            return None
        return dict(msgspec.json.decode(s.recv()))
    finally:
        s.close(0)


def wait_book(endpoint: str, timeout: float = 30.0) -> dict[str, Any]:
    return dict(wait_for(lambda: book_status(endpoint, 0.5), timeout, what="book service status"))


def wait_live(endpoint: str, n: int, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until ``n`` books are live (snapshots in); the feed re-sends them if the book asks."""

    def live() -> dict[str, Any] | None:
        s = book_status(endpoint, 0.5)
        return s if s and s.get("states", {}).get("live", 0) >= n else None

    return dict(wait_for(live, timeout, 0.1, what=f"{n} live books"))
