"""Receive rate of bare clients (websockets, picows) from bybit_sim replaying a file at full speed.

``python scripts/bench_sim_ws_rate.py [FRAMES_FILE]`` (default: bench's 150k-frame ingest stream,
made by ``python scripts/bench_feed_transports.py`` or the bench suite). The simulator runs on
CPU 0 with ``TICKWIRE_SIM_REPLAY_SPEED=0``; each client subscribes to every topic of the file and
counts data frames. Two rounds each. Shows whether the simulator could serve as R1's server.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.helpers import base_env, free_port  # noqa: E402

FRAMES = (
    sys.argv[1]
    if len(sys.argv) > 1
    else str(next((ROOT / "bench" / ".cache").glob("ingest-7614b3c52959.frames")))
)
lines = Path(FRAMES).read_text().splitlines()
topics = list(dict.fromkeys(json.loads(line)["topic"] for line in lines[:5000]))
total = len(lines)


async def ws_client(url):
    from websockets.asyncio.client import connect

    async with connect(url, max_size=8 << 20, ping_interval=None, compression=None, max_queue=1024) as ws:
        for i in range(0, len(topics), 10):
            await ws.send(json.dumps({"op": "subscribe", "args": topics[i : i + 10]}))
        n = 0
        first = last = 0
        while n < total:
            try:
                m = await asyncio.wait_for(ws.recv(decode=False), 3)
            except TimeoutError:
                break
            if m[:8] != b'{"topic"':
                continue
            last = time.perf_counter()
            first = first or last
            n += 1
        return n, first, last


async def pw_client(url):
    from picows import WSListener, WSMsgType, ws_connect

    st = {"n": 0, "first": 0, "last": 0}

    class L(WSListener):
        def on_ws_frame(self, tr, f):
            if f.msg_type is not WSMsgType.TEXT:
                return
            m = f.get_payload_as_bytes()
            if m[:8] != b'{"topic"':
                return
            st["last"] = time.perf_counter()
            st["first"] = st["first"] or st["last"]
            st["n"] += 1

    tr, _ = await ws_connect(L, url, max_frame_size=8 << 20)
    for i in range(0, len(topics), 10):
        tr.send(WSMsgType.TEXT, json.dumps({"op": "subscribe", "args": topics[i : i + 10]}).encode())
    prev = -1
    while st["n"] != prev or st["n"] == 0:
        prev = st["n"]
        await asyncio.sleep(3)
        if st["n"] >= total:
            break
    tr.disconnect()
    return st["n"], st["first"], st["last"]


def run(kind):
    ws, http, met = free_port(), free_port(), free_port()
    env = base_env(
        sim_ws_port=ws,
        sim_http_port=http,
        sim_metrics_port=met,
        sim_replay=FRAMES,
        sim_replay_speed=0,
        sim_replay_category="linear",
        sim_ws_compression="false",
        log_level="warning",
    )
    p = subprocess.Popen(
        [sys.executable, "-m", "services.bybit_sim"],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.sched_setaffinity(p.pid, {0})
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", ws), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"ws://127.0.0.1:{ws}/v5/public/linear"
        n, a, b = asyncio.run((ws_client if kind == "websockets" else pw_client)(url))
        print(f"{kind:10s} n={n} rate={n / (b - a):,.0f} msg/s", flush=True)
    finally:
        p.terminate()
        p.wait(10)


for _round in range(2):
    run("websockets")
    run("picows")
