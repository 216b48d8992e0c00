"""Feed ingest on each WebSocket transport against R1, on the bench harness's inputs and processes.

``python scripts/bench_feed_transports.py [--rounds 5] [--frames 150000]``

Per round, alternated: R1 (bench's plain ``websockets`` client, receive only), a bare ``picows``
client (receive only: shows what the load server can deliver), then the feed with
``feed_ws_client=picows`` and with ``websockets`` (bench's ``feed_ingest``: WS → parse → normalise
→ PUB → a SUB sink). Medians of the rates and of the per-round ratios are printed as JSON. The
server is bench/wsserver.py (pre-framed ``sendall``), pinned to CPU 0 with the sinks.
Nothing under bench/ is written except its frames cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


# ------------------------------------------------------------------ bare picows receiver (child)
async def _bare_picows(url: str, topics: list[str], total: int) -> dict[str, Any]:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    done = asyncio.get_running_loop().create_future()
    state = {"n": 0, "first": 0, "last": 0}
    now = time.perf_counter_ns

    class Listener(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type is not WSMsgType.TEXT:
                return
            msg = frame.get_payload_as_bytes()
            if msg[:2] != b'{"' or msg[2:7] != b"topic":
                return
            state["last"] = now()
            if state["n"] == 0:
                state["first"] = state["last"]
            state["n"] += 1
            if state["n"] >= total and not done.done():
                done.set_result(None)

    transport, _ = await ws_connect(Listener, url, max_frame_size=8 * 1024 * 1024)
    for i in range(0, len(topics), 10):
        transport.send(WSMsgType.TEXT, json.dumps({"op": "subscribe", "args": topics[i : i + 10]}).encode())
    print("READY", flush=True)
    await done
    transport.disconnect()
    return state


def child_main(args: list[str]) -> None:
    url, topics, total = args[0], args[1].split(","), int(args[2])
    res = asyncio.run(_bare_picows(url, topics, total))
    print("DONE " + json.dumps(res), flush=True)


# ------------------------------------------------------------------ the runs
def main() -> None:
    from bench import net, prep
    from bench.context import Ctx
    from bench.harness import SUT_CPU, Proc, group

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--frames", type=int, default=150_000)
    ap.add_argument("--clients", default="picows,websockets", help="feed transports to run")
    ap.add_argument("--no-bare", action="store_true", help="skip the bare picows client")
    opts = ap.parse_args()
    ctx = Ctx(quick=False, work=Path(tempfile.mkdtemp(prefix="feedbench-")))
    p = prep.stream("ingest", opts.frames, 20)
    n = len(p.stream.frames)
    original = net.feed_settings
    client = {"name": "picows"}

    def settings(*a: Any, **kw: Any) -> dict[str, Any]:
        return original(*a, **kw, feed_ws_client=client["name"])

    net.feed_settings = settings  # type: ignore[assignment]

    def bare(ctx: Ctx) -> dict[str, Any]:
        with group(ctx.logs) as g:
            srv, port = g.wsserver(p.frames_path, "--expect-topics", str(len(p.topics)))
            cli = Proc(
                [sys.executable, __file__, "--child", f"ws://127.0.0.1:{port}", ",".join(p.topics), str(n)],
                cpu=SUT_CPU,
                name="bare-picows",
                log_dir=ctx.logs,
            )
            g.procs.append(cli)
            cli.expect("READY", 30)
            srv.expect("SUBSCRIBED", 30)
            srv.send("GO")
            res = cli.result(300)
            res["server"] = srv.result(60)
        res["rate"] = net.rate_of(res)
        return res

    rows: dict[str, list[float]] = {"r1": [], "bare_picows": [], "feed_picows": [], "feed_websockets": []}
    server: dict[str, list[float]] = {"r1": [], "bare_picows": []}
    ratios: dict[str, list[float]] = {"feed_picows": [], "feed_websockets": []}
    cpu: dict[str, list[float]] = {"feed_picows": [], "feed_websockets": []}
    runq: dict[str, list[float]] = {"feed_picows": [], "feed_websockets": []}
    for _ in range(opts.rounds):
        r = net.r1(ctx, p)
        rows["r1"].append(r["rate"])
        if not opts.no_bare:
            b = bare(ctx)
            rows["bare_picows"].append(b["rate"])
            s = b["server"]
            server["bare_picows"].append(s["sent"] / ((s["t1"] - s["t0"]) / 1e9))
        for name in opts.clients.split(","):
            client["name"] = name
            f = net.feed_ingest(ctx, p)
            key = f"feed_{name}"
            rows[key].append(f["rate"])
            ratios[key].append(f["rate"] / r["rate"])
            cpu[key].append(f["cpu_s"] / ((f["last"] - f["first"]) / 1e9) * 100)
            runq[key].append(f["runq_wait_s"] / ((f["last"] - f["first"]) / 1e9) * 100)
            if f["n"] != f["expected"]:
                print(f"{key}: {f['n']} of {f['expected']} received", file=sys.stderr)
        print(json.dumps({k: round(v[-1]) for k, v in rows.items() if v}), file=sys.stderr, flush=True)
    out = {
        "python": sys.version.split()[0],
        "frames": n,
        "rounds": opts.rounds,
        "median_rate_msg_s": {k: round(statistics.median(v)) for k, v in rows.items() if v},
        "rates_msg_s": {k: [round(x) for x in v] for k, v in rows.items() if v},
        "median_ratio_vs_r1": {k: round(statistics.median(v), 3) for k, v in ratios.items() if v},
        "ratios_vs_r1": {k: [round(x, 3) for x in v] for k, v in ratios.items() if v},
        "feed_cpu_pct_median": {k: round(statistics.median(v)) for k, v in cpu.items() if v},
        "feed_waiting_for_cpu_pct_median": {k: round(statistics.median(v)) for k, v in runq.items() if v},
        "server_send_rate_when_bare_picows_msg_s": round(statistics.median(server["bare_picows"] or [0])),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
    else:
        main()
