"""``python -m bench [--quick] [--only NAME ...] [--skip NAME ...] [--no-doc]``: run the suite.

Prints the table (figure, value, baseline, ratio, target, met), writes bench/results/latest.json
(``--quick``: quick.json), updates docs/benchmarks.md (full runs only) and renders docs/bench.png.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import bookbench, corebench, e2e, execbench, harness, net, peers, plot, report
from bench.context import Ctx
from bench.stats import Figure, Target, format_table, summarize


def run_ingest(ctx: Ctx) -> None:
    net.ingest(ctx)
    corebench.feed_core(ctx)


def run_r2(ctx: Ctx) -> None:
    from bench import prep

    p = prep.stream("ingest", ctx.n(150_000, 10_000), 20)
    pairs = prep.bus_pairs(p.stream.frames)
    path = prep.write_pairs(pairs, ctx.work / "r2.msgpack")
    res = net.r2(ctx, path, len(pairs), 2)
    ctx.rates["R2 pyzmq PUB→SUB"] = res["rate"]
    ctx.extra["r2"] = res
    ctx.add(
        Figure(
            "r2_rate",
            "R2: pyzmq PUB→SUB of the bus payloads (baseline)",
            res["rate"],
            "msg/s",
            note=f"{res['n']:,} of {2 * len(pairs):,} received; topic frame + payload, manual SNDMORE",
        )
    )


def run_keepup(ctx: Ctx) -> None:
    from bench import prep

    p = prep.stream("keepup", ctx.n(100_000, 10_000), 100, book_share=1.0, trade_share=0.0)
    res = e2e.keepup(ctx, p)
    st = res.get("book_status", {})
    resyncs = sum(st.get("resyncs", {}).values()) + sum(st.get("gaps", {}).values())
    applied = st.get("messages", 0)
    states = st.get("states", {})
    ok = resyncs == 0 and states.get("live", 0) == len(p.stream.symbols)
    ctx.add(
        Figure(
            "book_keepup",
            "book keeps up with feed at full rate (resyncs)",
            float(resyncs),
            "resyncs",
            target=Target("<=", 0, on="value"),
            note=f"feed published {res['n']:,}/{p.n_book - len(p.stream.symbols):,} "
            f"at {res['rate']:,.0f} msg/s; "
            f"book applied {applied:,} msgs; live {states.get('live')}/{len(p.stream.symbols)}"
            + ("" if ok else "; NOT all live"),
            extra=res,
        )
    )


def run_e2e(ctx: Ctx) -> None:
    from bench import prep
    from bench.harness import group

    rate = 20_000.0
    seconds = ctx.n(15, 1)
    p = prep.stream("e2e", int(rate * seconds), 100, book_share=1.0, trade_share=0.0)
    base = e2e.r4(ctx, p, rate)
    ctx.samples["R4 relay WS→PUB→SUB"] = base
    with group(ctx.logs) as g:
        res = e2e.e2e(ctx, p, rate, g, {})
    lat = res.pop("lat")
    lat_q = res.pop("lat_queryable")
    ctx.samples["e2e exchange→book queryable"] = lat_q
    ctx.samples["e2e exchange→BBO at a subscriber"] = lat
    s, b, sb = summarize(lat_q), summarize(base), summarize(lat)
    st = res.get("book_status", {})
    note = (
        f"{len(lat_q):,} deltas sampled: those of the {res['observed_symbols']} symbols whose BBOs the "
        f"sink subscribes to ({res['deltas_sent']:,} sent, {res['uncovered']} after the last BBO); "
        f"CPU% {res['cpu_pct']}; runnable but waiting for a CPU, % of the run (all threads) "
        f"{res['runq_wait_pct']}; resyncs {sum(st.get('resyncs', {}).values())}"
    )
    ctx.add(
        Figure(
            "e2e_p50",
            "e2e exchange send→book queryable p50, 20k msg/s, 100 sym",
            s.get("p50_us", float("nan")),
            "µs",
            b.get("p50_us"),
            "R4",
            Target("<=", 2.0),
            note=note,
            extra={"e2e": s, "r4": b, "bbo_at_subscriber": sb, **res},
        )
    )
    ctx.add(
        Figure(
            "e2e_p99",
            "e2e exchange send→book queryable p99",
            s.get("p99_us", float("nan")),
            "µs",
            b.get("p99_us"),
            "R4",
            Target("<=", 4.0),
        )
    )
    add_info_pair(
        ctx,
        "e2e_bbo",
        "e2e exchange send→BBO at a subscriber {q} (info)",
        sb,
        b,
        "one more PUB→SUB hop than 'queryable' (the BBO to a subscriber)",
    )
    with group(ctx.logs) as g:
        every = e2e.e2e(ctx, p, rate, g, {}, observe_every=1)
    ctx.samples["e2e queryable, every BBO subscribed"] = every["lat_queryable"]
    sa = summarize(every["lat_queryable"])
    add_info_pair(
        ctx,
        "e2e_allbbo",
        "e2e queryable {q} with a subscriber on every BBO (info)",
        sa,
        b,
        f"the same run with the sink on all {len(p.stream.symbols)} books' BBOs "
        f"(~{every['bbo_rows'] / every['duration_s']:,.0f}/s); CPU% {every['cpu_pct']}",
        {"e2e": sa, "bbo_at_subscriber": summarize(every["lat"])},
    )
    ctx.add(
        Figure(
            "rss_book_20k",
            "book RSS at the end of the 20k msg/s run (info)",
            res["rss_end"]["book"],
            "MB",
            note=f"{res['rss_early']['book']:.0f} MB after 3 s: growth here is the SUB queue of messages "
            "not yet applied (backlog), see the 5k run for leaks",
        )
    )


def add_info_pair(
    ctx: Ctx,
    key: str,
    name: str,
    s: dict[str, Any],
    r4: dict[str, Any],
    note: str,
    extra: dict[str, Any] | None = None,
) -> None:
    """Two info figures against R4: ``{key}_p50`` (with the note and extra) and ``{key}_p99``."""
    for q in ("p50", "p99"):
        first = q == "p50"
        ctx.add(
            Figure(
                f"{key}_{q}",
                name.format(q=q),
                s.get(f"{q}_us", float("nan")),
                "µs",
                r4.get(f"{q}_us"),
                "R4",
                note=note if first else "",
                extra=(extra or {}) if first else {},
            )
        )


def add_rss(ctx: Ctx, res: dict[str, Any]) -> None:
    """RSS of each service at the start, after the books were built (3 s) and at the end."""
    rss0, rss1, rss2 = res["rss_start"], res["rss_early"], res["rss_end"]
    for name in rss0:
        ctx.add(
            Figure(
                f"rss_{name}",
                f"{name} RSS over a {res['duration_s']:.0f} s run at {res['rate']:,.0f} msg/s",
                rss2[name],
                "MB",
                rss1[name],
                "after 3 s",
                Target("<=", 1.10),
                note=f"at start {rss0[name]:.1f} MB (ratio = growth after the books were built)",
            )
        )


def run_e2e_low(ctx: Ctx) -> None:
    """The same end-to-end path at a quarter of the rate: where the latency is not queueing."""
    from bench import prep
    from bench.harness import group

    rate = 5_000.0
    p = prep.stream("e2e-low", int(rate * ctx.n(20, 2)), 100, book_share=1.0, trade_share=0.0, seed=8)
    base = e2e.r4(ctx, p, rate)
    with group(ctx.logs) as g:
        res = e2e.e2e(ctx, p, rate, g, {})
    res["rate"] = rate
    add_rss(ctx, res)
    lat = res.pop("lat_queryable")
    res.pop("lat")
    ctx.samples["e2e at 5k msg/s"] = lat
    ctx.samples["R4 at 5k msg/s"] = base
    s, b = summarize(lat), summarize(base)
    add_info_pair(
        ctx,
        "e2e5k",
        "e2e queryable {q} at 5k msg/s (info)",
        s,
        b,
        f"CPU% {res['cpu_pct']}; waiting for a CPU % {res['runq_wait_pct']}",
        {"e2e": s, "r4": b},
    )


def run_pure_book(ctx: Ctx) -> None:
    bookbench.pure_book(ctx)


def run_queries(ctx: Ctx) -> None:
    bookbench.queries(ctx)


def run_memory(ctx: Ctx) -> None:
    bookbench.memory(ctx)


def run_executor(ctx: Ctx) -> None:
    execbench.run(ctx)


def run_peers(ctx: Ctx) -> None:
    peers.run(ctx)


BENCHES: dict[str, Callable[[Ctx], None]] = {
    "pure_book": run_pure_book,
    "ingest": run_ingest,
    "r2": run_r2,
    "queries": run_queries,
    "e2e": run_e2e,
    "e2e_low": run_e2e_low,
    "keepup": run_keepup,
    "executor": run_executor,
    "memory": run_memory,
    "peers": run_peers,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small counts (CI smoke test, < 60 s)")
    ap.add_argument("--only", nargs="*", choices=list(BENCHES), default=None)
    ap.add_argument("--skip", nargs="*", choices=list(BENCHES), default=[])
    ap.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory (logs)")
    args = ap.parse_args(argv)
    started = time.time()
    work = Path(tempfile.mkdtemp(prefix="tickwire-bench-"))
    ctx = Ctx(quick=args.quick, work=work)
    ctx.extra["loadavg_start"] = os.getloadavg()
    ctx.extra["nice"] = harness.NICE
    if harness.NICE:  # the in-process figures (pure book, signing, cores vs peers) run here
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, harness.NICE)
    names = args.only if args.only else [n for n in BENCHES if not (args.quick and n in ("peers", "e2e_low"))]
    failed = []
    for name in names:
        if name in args.skip:
            continue
        t0 = time.time()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            BENCHES[name](ctx)
        except Exception as exc:  # one broken benchmark must not lose the others' figures
            failed.append(name)
            ctx.notes[name] = f"failed: {type(exc).__name__}: {exc}"[:500]
            traceback.print_exc()
        print(f"[bench] {name} done in {time.time() - t0:.1f} s", file=sys.stderr, flush=True)
    ctx.extra["loadavg_end"] = os.getloadavg()
    data = report.write_json(ctx, started)
    print()
    print(format_table(ctx.figures))
    m = data["machine"]
    print(
        f"\n{m['cpu']}, {m['cores']} cores, {report.python_label(m)}; {data['duration_s']} s; "
        f"load average {ctx.extra['loadavg_start'][0]:.1f} at start, {ctx.extra['loadavg_end'][0]:.1f} at end"
    )
    for k, v in ctx.notes.items():
        print(f"note {k}: {v}")
    if not args.quick and not args.no_doc and not args.only:
        report.update_doc(ctx, data)
    if not args.no_plot and not args.quick:
        print(plot.render(data))
    if args.keep:
        print(f"logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed and args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
