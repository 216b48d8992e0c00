"""Executor benchmarks: request signing, and intent → request on the wire against bybit_sim.

"On the wire" is stamped outside the executor by a TCP proxy in front of the simulator's HTTP
port (:mod:`bench.execprocs`), so the simulator's own time is excluded (it is reported apart).
The latency runs from the PUSH of the intent; R5, a do-nothing executor behind the same loader
and proxy, measures the PUSH hop and socket costs, and the executor's own time is the difference.
The executor's CPU per intent (all threads, over the load phase) and bybit_sim's CPU are reported
too: on this 2-core machine the simulator, the proxy, the loader and the executor share the CPUs.
``BENCH_EXEC_RATE``, ``BENCH_EXEC_COUNT`` and ``BENCH_EXEC_WORKERS`` (``executor_http_workers``)
override the defaults for experiments.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgspec

from bench.context import Ctx
from bench.harness import (
    LOAD_CPU,
    SUT_CPU,
    Group,
    Proc,
    cpu_seconds,
    free_port,
    group,
    rss_mb,
    runq_wait_seconds,
    tcp,
    wait_for,
)
from bench.stats import Figure, Target, summarize

KEY, SECRET = "sim-key", "sim-secret"


def signing(ctx: Ctx) -> float:
    from services.common.config import Secret
    from services.executor.core.signing import Signer

    signer = Signer(Secret("bench-api-key-0123456789"), Secret("bench-secret-0123456789abcdef"), 5000)
    body = (
        b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.010",'
        b'"price":"20000.0","timeInForce":"GTC","orderLinkId":"tw-0123456789abcdef0123456789abcdef"}'
    )
    n = ctx.n(200_000, 20_000)
    ts = 1_764_000_000_000
    sign = signer.sign
    t0 = time.perf_counter_ns()
    for i in range(n):
        sign(ts + i, body)
    per = (time.perf_counter_ns() - t0) / n / 1000
    ctx.add(
        Figure(
            "sign_us",
            "executor request signing (HMAC-SHA256)",
            per,
            "µs",
            target=Target("<=", 10, on="value"),
            note=f"{len(body)} B body; Signer.sign",
        )
    )
    return per


def _exec_proc(g: Group, role: str, *args: str, cpu: int | None) -> Proc:
    p = Proc(
        [sys.executable, "-m", "bench.execprocs", role, *args], cpu=cpu, name=f"x-{role}", log_dir=g.log_dir
    )
    g.procs.append(p)
    return p


def _http_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v5/market/time", timeout=1) as r:  # local simulator only
            return bool(r.status == 200)
    except OSError:
        return False


def _latencies(sent_path: Path, rows_path: Path) -> tuple[list[int], list[int], int]:
    sent = dict(msgspec.msgpack.decode(sent_path.read_bytes()))
    rows = msgspec.msgpack.decode(rows_path.read_bytes())
    lat, sim = [], []
    per_request: dict[tuple[int, int], int] = {}
    for link, first, complete, resp in rows:
        t = sent.get(link)
        if t is None:
            continue
        lat.append(first - t)
        per_request[(first, resp)] = per_request.get((first, resp), 0) + 1
        sim.append(resp - complete)
    return lat, sim, len(per_request)


def _load(ctx: Ctx, g: Group, pull: str, proxy: Proc, count: int, rate: float, tag: str) -> dict[str, Any]:
    sent_path = ctx.work / f"x-sent-{tag}.msgpack"
    rows_path = ctx.work / f"x-rows-{tag}.msgpack"
    loader = _exec_proc(
        g,
        "intents",
        "--endpoint",
        pull,
        "--count",
        str(count),
        "--rate",
        str(rate),
        "--prefix",
        f"bn{tag}{int(time.time())}x",
        "--tif",
        "IOC",
        "--out",
        str(sent_path),
        cpu=LOAD_CPU,
    )
    loader.expect("READY", 30)
    time.sleep(0.3)
    loader.send("GO")
    lres = loader.result(count / rate + 60)
    time.sleep(1.0)  # the last requests reach the proxy
    proxy.send("DUMP")
    pres = proxy.result(30)
    lat, sim, requests = _latencies(sent_path, rows_path.with_name(rows_path.name))
    return {"lat": lat, "sim": sim, "requests": requests, "loader": lres, "proxy": pres}


#: Intents per second (issue 7's target rate). bybit_sim enforces Bybit's per-UID order limits
#: (linear: 10 orders/s, batch items included) and the executor honours them, so the simulator runs
#: with ``sim_rate_limit_scale`` = :data:`SIM_SCALE` (limits and X-Bapi-Limit headers x1000, so the
#: limit never binds: at x100 a rolling window occasionally holds 1,001 and blocks for up to 1 s);
#: the executor's own buckets start at Bybit's limits and follow those headers.
RATE = 1000.0
SIM_SCALE = 1000.0


def run(ctx: Ctx) -> None:
    signing(ctx)
    rate = float(os.environ.get("BENCH_EXEC_RATE", 0)) or RATE
    count = int(os.environ.get("BENCH_EXEC_COUNT", 0)) or ctx.n(int(rate * 5), 200)
    with group(ctx.logs) as g:
        http, ws = free_port(), free_port()
        sim = g.service(
            "services.bybit_sim",
            {
                "sim_http_port": http,
                "sim_ws_port": ws,
                "sim_metrics_port": free_port(),
                "sim_rate_limit_scale": SIM_SCALE,
                "log_level": "warning",
            },
            cpu=SUT_CPU,
        )
        sim_url = f"http://127.0.0.1:{http}"
        wait_for(lambda: _http_up(sim_url), 30, what="bybit_sim")
        # R5: the do-nothing executor through the same proxy
        rows5 = ctx.work / "x-rows-r5.msgpack"
        proxy5 = _exec_proc(g, "proxy", "--target", str(http), "--out", str(rows5), cpu=LOAD_CPU)
        port5 = int(proxy5.expect("READY", 30))
        pull5 = tcp(free_port())
        null = _exec_proc(g, "null", "--endpoint", pull5, "--target", str(port5), cpu=SUT_CPU)
        null.expect("READY", 30)
        base = _load(ctx, g, pull5, proxy5, count, rate, "r5")
        # the executor
        rows = ctx.work / "x-rows-ex.msgpack"
        proxy = _exec_proc(g, "proxy", "--target", str(http), "--out", str(rows), cpu=LOAD_CPU)
        port = int(proxy.expect("READY", 30))
        pull, pub = tcp(free_port()), tcp(free_port())
        ex = g.service(
            "services.executor",
            {
                "executor_mode": "sim",
                "bybit_rest_url": f"http://127.0.0.1:{port}",
                "bybit_private_ws_url": f"ws://127.0.0.1:{ws}/v5/private",
                "BYBIT_API_KEY": KEY,
                "BYBIT_API_SECRET": SECRET,
                "executor_pull": pull,
                "executor_pub": pub,
                "executor_metrics_port": free_port(),
                "executor_journal": str(ctx.work / "executor.sqlite3"),
                "executor_price_band_pct": "0",
                "executor_max_order_notional": "100000000",
                "executor_max_position": "100000000",
                "executor_max_open_orders": 10_000_000,
                "executor_max_orders_per_second": "100000",
                "symbols": "linear:BTCUSDT",
                "book_rep": tcp(free_port()),
                "log_level": "info",  # "executor ready" is an info line; nothing is logged per intent
                **({"executor_http_workers": w} if (w := os.environ.get("BENCH_EXEC_WORKERS")) else {}),
            },
            cpu=SUT_CPU,
        )
        wait_for(lambda: "executor ready" in ex.tail(100_000) or not ex.alive, 60, 0.1, what="executor ready")
        if not ex.alive:
            raise RuntimeError(f"executor exited: {ex.tail()}")
        rss0 = rss_mb(ex.pid)
        cpu0, runq0, sim0 = cpu_seconds(ex.pid), runq_wait_seconds(ex.pid), cpu_seconds(sim.pid)
        res = _load(ctx, g, pull, proxy, count, rate, "ex")
        cpu1, runq1, sim1 = cpu_seconds(ex.pid), runq_wait_seconds(ex.pid), cpu_seconds(sim.pid)
        rss1 = rss_mb(ex.pid)
    lat, b = res["lat"], base["lat"]
    ctx.samples["executor intent PUSH→request on wire"] = lat
    ctx.samples["R5 null executor PUSH→request on wire"] = b
    s, sb, ssim = summarize(lat), summarize(b), summarize(res["sim"])
    own = s.get("p50_us", float("nan")) - sb.get("p50_us", float("nan"))
    batching = f"{len(lat)} intents in {res['requests']} requests"
    ctx.notes["executor rate"] = (
        f"intents sent at {rate:g}/s to bybit_sim with sim_rate_limit_scale={SIM_SCALE:g} (Bybit's "
        f"per-UID order limits x{SIM_SCALE:g}, announced in X-Bapi-Limit; the executor's buckets "
        "follow them). "
        "Creates are IOC limit buys far below the market: the simulator cancels each at once, so "
        "thousands of resting orders do not slow its margin checks. Intents drained together are "
        "journaled in one transaction and sent as create-batch requests."
    )
    ctx.add(
        Figure(
            "exec_wire_p50",
            f"executor intent PUSH→request on wire p50, {rate:g}/s",
            s.get("p50_us", float("nan")),
            "µs",
            sb.get("p50_us"),
            "R5",
            note=f"{batching}; sim's own time p50 {ssim.get('p50_us', 0):.0f} µs (excluded)",
            extra={"exec": s, "r5": sb, "sim": ssim, "loader": res["loader"]},
        )
    )
    ctx.add(
        Figure(
            "exec_own_p50",
            "executor own time (PUSH→wire minus R5) p50",
            own,
            "µs",
            target=Target("<=", 300, on="value"),
            note="intent pulled → request on the wire",
        )
    )
    ctx.add(
        Figure(
            "exec_wire_p99",
            "executor intent PUSH→request on wire p99",
            s.get("p99_us", float("nan")),
            "µs",
            sb.get("p99_us"),
            "R5",
        )
    )
    ctx.add(
        Figure(
            "exec_cpu_per_intent",
            "executor CPU per intent (all threads, user+sys)",
            (cpu1 - cpu0) / max(len(lat), 1) * 1e6,
            "µs",
            note=f"{cpu1 - cpu0:.2f} s CPU for {len(lat)} intents; its threads were runnable but "
            f"waiting for a CPU {runq1 - runq0:.2f} s; bybit_sim used {sim1 - sim0:.2f} s CPU meanwhile",
        )
    )
    ctx.add(
        Figure(
            "rss_executor",
            f"executor RSS over {count / rate:.0f} s of intents",
            rss1,
            "MB",
            rss0,
            "start",
            Target("<=", 1.10),
            note=f"at start {rss0:.1f} MB",
        )
    )
