"""Book benchmarks: the pure book core, query latency and throughput (with R3), and memory.

The book service is fed by a fake feed (``bench.procs pub``) sending the bus messages the feed
would publish, so these figures isolate the book from the feed.
"""

from __future__ import annotations

import gc
import json
import os
import time
from typing import Any

from bench import prep
from bench.context import Ctx, read_ns
from bench.harness import LOAD_CPU, SUT_CPU, Group, ProcError, free_port, group, rss_mb, tcp
from bench.net import SETTLE, book_settings, book_status, wait_live
from bench.stats import Figure, Target, summarize

#: The query server side (book service, R3's REP) is pinned here, the clients to LOAD_CPU, so
#: both round trips cross cores the same way (same-core REQ/REP is ~3x faster on this VM).
SERVER_CPU = 1 if (os.cpu_count() or 1) > 1 else 0


# ------------------------------------------------------------------------------ pure book
def _apply_run(depth: int, n_frames: int, n_sym: int) -> dict[str, Any]:
    from services.book.core.sync import BookRegistry
    from services.common.wire import decode

    p = prep.stream(f"purebook{depth}", n_frames, n_sym, depths=(depth,), book_share=1.0, trade_share=0.0)
    payloads = [pl for _, pl in prep.bus_pairs(p.stream.frames)]
    reg = BookRegistry([("linear", s) for s in p.stream.symbols], 0.0, depth=0)
    for pl in payloads[:n_sym]:
        reg.on_book(decode(pl), 0.0)  # type: ignore[arg-type]
    changes0 = reg.stats.level_changes
    gc0 = [s["collections"] for s in gc.get_stats()]
    t_dec = t_apply = w_apply = 0
    pc, tt = time.perf_counter_ns, time.thread_time_ns
    on_book = reg.on_book
    for i in range(n_sym, len(payloads), 256):
        c0 = tt()
        msgs = [decode(x) for x in payloads[i : i + 256]]
        c1, w1 = tt(), pc()
        for m in msgs:
            on_book(m, 1.0)  # type: ignore[arg-type]
        w_apply += pc() - w1
        t_apply += tt() - c1
        t_dec += c1 - c0
    n_msgs = len(payloads) - n_sym
    changes = reg.stats.level_changes - changes0
    # The final state must equal the generator's true book.
    mismatched = 0
    for sym, tb in p.stream.gen.books.items():
        bids, asks = tb.as_strings()
        sb = reg.books[("linear", sym)]
        if [tuple(x) for x in sb.book.top_bids()] != bids or [tuple(x) for x in sb.book.top_asks()] != asks:
            mismatched += 1
    return {
        "depth": depth,
        "messages": n_msgs,
        "level_changes": changes,
        "changes_per_msg": changes / n_msgs,
        "apply_lvl_per_s": changes / (t_apply / 1e9),
        "apply_lvl_per_s_wall": changes / (w_apply / 1e9),
        "apply_msg_per_s": n_msgs / (t_apply / 1e9),
        "decode_us_per_msg": t_dec / n_msgs / 1000,
        "decode_apply_msg_per_s": n_msgs / ((t_apply + t_dec) / 1e9),
        "resyncs": dict(reg.stats.resyncs),
        "mismatched_books": mismatched,
        "gc_collections": [s["collections"] - g for s, g in zip(gc.get_stats(), gc0, strict=True)],
    }


def pure_book(ctx: Ctx) -> list[dict[str, Any]]:
    """Apply decoded bus messages to the book core's registry, per book depth (50, 200, 1000).

    Messages are decoded in batches of 256 (as the service drains them) and only the apply is
    timed, in CPU time (wall time in the note); ~30 level changes per delta over 30 symbols.
    """
    out = []
    for depth in (50, 200, 1000):
        res = _apply_run(depth, ctx.n(50_000, 5_000), 30)
        out.append(res)
        if depth == 50:
            ctx.rates["pure book apply (depth 50)"] = res["apply_msg_per_s"]
        ctx.add(
            Figure(
                f"book_apply_levels_{depth}",
                f"pure book apply, depth {depth} (decoded bus msgs)",
                res["apply_lvl_per_s"],
                "lvl/s",
                target=Target(">=", 2_000_000, on="value"),
                note=f"{res['apply_msg_per_s']:,.0f} msg/s, {res['changes_per_msg']:.0f} changes/msg; "
                f"CPU time (wall {res['apply_lvl_per_s_wall']:,.0f}); "
                f"book == true book: {res['mismatched_books'] == 0}",
                extra=res,
            )
        )
    d50 = out[0]
    ctx.add(
        Figure(
            "book_decode_apply",
            "book decode+apply, depth 50, one process",
            d50["decode_apply_msg_per_s"],
            "msg/s",
            note=f"info: decode {d50['decode_us_per_msg']:.1f} µs/msg (incl. GC it triggers); CPU time",
        )
    )
    return out


# ------------------------------------------------------------------------------ queries
def _book_with_fake_feed(
    ctx: Ctx,
    g: Group,
    symbols: list[str],
    depth: int,
    pairs_path: Any,
    rate: float,
    cpu: int | None = SUT_CPU,
    **extra: Any,
) -> tuple[Any, Any, dict[str, Any]]:
    fake = {"feed_pub": tcp(free_port()), "feed_ctl": tcp(free_port())}
    bs = book_settings(symbols, fake, depth=depth, book_stale_after=3600, **extra)
    pub = g.helper(
        "pub", "--endpoint", fake["feed_pub"], "--pairs", str(pairs_path), "--rate", str(rate), cpu=LOAD_CPU
    )
    pub.expect("READY", 30)
    book = g.service("services.book", bs, cpu=cpu)
    wait_live_or_status(bs["book_rep"])
    time.sleep(SETTLE)
    return pub, book, bs


def wait_live_or_status(endpoint: str) -> None:
    from bench.harness import wait_for

    wait_for(lambda: book_status(endpoint, 0.5), 60, what="book status")


def _req(g: Group, endpoint: str, body: str, count: int, out: Any, *, req_bytes: int = 0) -> dict[str, Any]:
    args = ["--endpoint", endpoint, "--count", str(count), "--out", str(out), "--warmup", "300"]
    args += ["--body", body] if body else ["--req-bytes", str(req_bytes)]
    cli = g.helper("req", *args, cpu=LOAD_CPU)
    cli.expect("READY", 30)
    cli.send("GO")
    return cli.result(300)


def r3(ctx: Ctx, req_bytes: int, reply_bytes: int, count: int, tag: str) -> list[int]:
    ep = tcp(free_port())
    out = ctx.work / f"r3-{tag}.bin"
    with group(ctx.logs) as g:
        srv = g.helper("rep", "--endpoint", ep, "--reply-bytes", str(reply_bytes), cpu=SERVER_CPU)
        srv.expect("READY", 30)
        _req(g, ep, "", count, out, req_bytes=req_bytes)
    return read_ns(out)


def queries(ctx: Ctx) -> None:
    n_sym = 100
    seconds = ctx.n(5, 1)  # of the throughput phase; the fake feed must outlast it at 20k msg/s
    p = prep.stream("queries", int(20_000 * (seconds + 2.5)), n_sym, book_share=1.0, trade_share=0.0)
    pairs = prep.bus_pairs(p.stream.frames)
    snaps = ctx.work / "snaps.msgpack"
    prep.write_pairs(pairs[:n_sym], snaps)
    count = ctx.n(20_000, 1_000)
    sym = p.stream.symbols[0]
    top_body = json.dumps({"op": "top", "category": "linear", "symbol": sym})
    book_body = json.dumps({"op": "book", "category": "linear", "symbol": sym, "depth": 50})
    lat: dict[str, list[int]] = {"top": [], "book50": []}
    base: dict[str, list[int]] = {"top": [], "book50": []}
    sizes: dict[str, tuple[int, int]] = {}
    # Idle book: sequential REQ round trips (the same client code as R3), alternated with R3 at
    # the same request/reply sizes and the same placement, over a few rounds.
    with group(ctx.logs) as g:
        pub, _book, bs = _book_with_fake_feed(ctx, g, p.stream.symbols, 50, snaps, 0, cpu=SERVER_CPU)
        pub.send("GO")
        pub.result(60)
        wait_live(bs["book_rep"], n_sym)
        for r in range(ctx.n(2, 1)):
            for name, body in (("top", top_body), ("book50", book_body)):
                out = ctx.work / f"q-{name}-{r}.bin"
                res = _req(g, bs["book_rep"], body, count, out)
                lat[name] += read_ns(out)
                sizes[name] = (res["req_bytes"], res["reply_bytes"])
                base[name] += r3(ctx, sizes[name][0], sizes[name][1], count, f"{name}-{r}")
    for name, samples in {
        **{f"query {k}": v for k, v in lat.items()},
        **{f"R3 {k}": v for k, v in base.items()},
    }.items():
        ctx.samples[name] = samples
    st, bt = summarize(lat["top"]), summarize(base["top"])
    sb, bb = summarize(lat["book50"]), summarize(base["book50"])
    ctx.add(
        Figure(
            "query_top_p50",
            "query top p50",
            st["p50_us"],
            "µs",
            bt["p50_us"],
            "R3",
            Target("<=", 1.3),
            note=f"{sizes['top'][0]} B req / {sizes['top'][1]} B reply",
            extra={"q": st, "r3": bt},
        )
    )
    ctx.add(
        Figure("query_top_p99", "query top p99", st["p99_us"], "µs", bt["p99_us"], "R3", Target("<=", 2.0))
    )
    ctx.add(
        Figure(
            "query_book50_p50",
            "query book depth 50 p50",
            sb["p50_us"],
            "µs",
            bb["p50_us"],
            "R3",
            Target("<=", 1.6),
            note=f"{sizes['book50'][0]} B req / {sizes['book50'][1]} B reply",
            extra={"q": sb, "r3": bb},
        )
    )
    ctx.add(Figure("query_book50_p99", "query book depth 50 p99", sb["p99_us"], "µs", bb["p99_us"], "R3"))
    # 3) throughput: DEALER clients with requests in flight while the book ingests 20k msg/s
    rate = 20_000.0
    deltas = ctx.work / "deltas.msgpack"
    prep.write_pairs(pairs, deltas)
    bodies = json.dumps(
        [json.dumps({"op": "top", "category": "linear", "symbol": s}) for s in p.stream.symbols]
    )
    with group(ctx.logs) as g:
        pub, _book, bs = _book_with_fake_feed(ctx, g, p.stream.symbols, 50, deltas, rate, cpu=SERVER_CPU)
        dealer = g.helper(
            "dealer",
            "--endpoint",
            bs["book_rep"],
            "--bodies",
            bodies,
            "--inflight",
            "32",
            "--seconds",
            str(seconds),
            cpu=LOAD_CPU,
        )
        dealer.expect("READY", 30)
        s0 = book_status(bs["book_rep"]) or {}
        pub.send("GO")
        time.sleep(0.5)  # ingestion running before the queries start
        s1 = book_status(bs["book_rep"]) or {}
        t1 = time.perf_counter()
        dealer.send("GO")
        dres = dealer.result(seconds + 60)
        t2 = time.perf_counter()
        s2 = book_status(bs["book_rep"]) or {}
        pres = pub.result(120)
        ingest_rate = (s2.get("messages", 0) - s1.get("messages", 0)) / (t2 - t1)
    resyncs = sum(s2.get("resyncs", {}).values())
    ctx.rates["book queries under load"] = dres["qps"]
    ctx.add(
        Figure(
            "query_qps_under_load",
            "queries/s while ingesting 20k msg/s",
            dres["qps"],
            "q/s",
            target=Target(">=", 20_000, on="value"),
            note=f"book applied {ingest_rate:,.0f} msg/s meanwhile; resyncs {resyncs}; "
            f"{dres['errors']} error replies",
            extra={"dealer": dres, "pub": pres, "status_before": s0, "status_after": s2},
        )
    )


# ------------------------------------------------------------------------------ memory
def memory(ctx: Ctx) -> dict[str, Any]:
    """Book service RSS holding 500 symbols x 200 levels per side."""
    n_sym = ctx.n(500, 100)
    p = prep.stream("memory", 0, n_sym, depths=(200,), book_share=1.0, trade_share=0.0)
    snaps = ctx.work / "mem-snaps.msgpack"
    prep.write_pairs(prep.bus_pairs(p.stream.frames), snaps)
    with group(ctx.logs) as g:
        pub, book, bs = _book_with_fake_feed(ctx, g, p.stream.symbols, 200, snaps, 0)
        rss_empty = rss_mb(book.pid)
        pub.send("GO")
        pub.result(60)
        try:
            status = wait_live(bs["book_rep"], n_sym, 60)
        except ProcError:
            status = book_status(bs["book_rep"]) or {}
        # touch every book once through the query path (builds its view caches)
        rss_full = rss_mb(book.pid)
    levels = n_sym * 200 * 2
    ctx.add(
        Figure(
            "book_rss",
            f"book RSS, {n_sym} symbols x 200 levels",
            rss_full,
            "MB",
            target=Target("<=", 200, on="value") if n_sym >= 500 else None,
            note=f"empty {rss_empty:.0f} MB; {levels:,} levels; live books "
            f"{status.get('states', {}).get('live', '?')}",
            extra={"rss_empty": rss_empty, "status": status},
        )
    )
    return {"rss_empty": rss_empty, "rss_full": rss_full}
