"""Small single-purpose processes the harness starts: baseline clients and servers, sinks, loaders.

``python -m bench.procs <role> [options]``. Each prints ``READY ...`` once set up, waits for
``GO`` on stdin where it has a start signal, and prints ``DONE <json>`` with its measurements
(large sample arrays go to files named by the harness, as int64 ``perf_counter_ns`` values).

Roles:

* ``r1``      R1: a websockets client that only receives frames (same options as the feed).
* ``relay``   R4's middle: websockets client forwarding each frame on a ZMQ PUB.
* ``sink``    a ZMQ SUB that counts messages (rate) or stamps their arrival (latency).
* ``rep``     R3's server: ZMQ REP answering a fixed payload.
* ``req``     REQ client: sequential round trips, every RTT sampled (R3 and book queries).
* ``dealer``  DEALER client keeping ``--inflight`` requests outstanding (queries per second).
* ``pub``     a ZMQ PUB sending prepared bus messages, blast or paced (R2; fake feed for the book).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from array import array
from typing import Any

import msgspec
import zmq

now = time.perf_counter_ns


def done(obj: dict[str, Any]) -> None:
    print("DONE " + json.dumps(obj), flush=True)


def wait_go() -> None:
    for line in sys.stdin:
        if line.strip() == "GO":
            return
    raise SystemExit(0)


def load_pairs(path: str) -> list[tuple[bytes, bytes]]:
    with open(path, "rb") as fh:
        return [(bytes(t), bytes(p)) for t, p in msgspec.msgpack.decode(fh.read())]


# ------------------------------------------------------------------------------------- R1 / R4
def _ws_opts() -> dict[str, Any]:
    # The same options the feed uses (services/feed/adapters/ws.py).
    return {"max_size": 8 * 1024 * 1024, "ping_interval": None, "compression": None, "max_queue": 1024}


async def _r1(url: str, topics: list[str], total: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    async with connect(url, **_ws_opts()) as ws:
        for i in range(0, len(topics), 10):
            await ws.send(json.dumps({"op": "subscribe", "args": topics[i : i + 10]}))
        print("READY", flush=True)
        n = 0
        first = last = 0
        while n < total:
            msg = await ws.recv(decode=False)
            if msg[:2] != b'{"' or msg[2:7] != b"topic":
                continue  # acks
            last = now()
            if n == 0:
                first = last
            n += 1
    return {"n": n, "first": first, "last": last}


async def _relay(url: str, topics: list[str], pub_ep: str) -> None:
    from websockets.asyncio.client import connect

    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 1_000_000)
    pub.bind(pub_ep)
    async with connect(url, **_ws_opts()) as ws:
        for i in range(0, len(topics), 10):
            await ws.send(json.dumps({"op": "subscribe", "args": topics[i : i + 10]}))
        print("READY", flush=True)
        send = pub.send
        while True:
            send(await ws.recv(decode=False))


# ------------------------------------------------------------------------------------- sink
def sink(args: argparse.Namespace) -> None:
    """Count or stamp messages on a SUB until ``--expect`` arrived or ``--idle`` seconds pass."""
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 2_000_000)
    for p in args.prefix or [""]:
        sub.setsockopt(zmq.SUBSCRIBE, p.encode())
    sub.connect(args.endpoint)
    print("READY", flush=True)
    stamps = array("q")
    keys: list[bytes] = []
    n = 0
    first = last = 0
    idle_ns = int(args.idle * 1e9)
    deadline_ns = now() + int(args.timeout * 1e9)
    mode = args.mode
    multipart = args.multipart
    recv = sub.recv
    more = zmq.RCVMORE
    poller = zmq.Poller()
    poller.register(sub, zmq.POLLIN)
    poller.register(sys.stdin.fileno(), zmq.POLLIN)
    stop = False
    while n < args.expect and not stop:
        events = dict(poller.poll(50))
        if sys.stdin.fileno() in events:
            stop = sys.stdin.readline().strip() in ("STOP", "")
        if sub not in events:
            t = now()
            if (n and t - last > idle_ns) or t > deadline_ns:
                break
            continue
        while True:
            try:
                first_frame = recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            t = now()
            payload = first_frame
            if multipart and sub.getsockopt(more):
                payload = recv()
            if mode == "stamp":
                stamps.append(t)
            elif mode == "bbo":
                stamps.append(t)
                keys.append(payload)
            if n == 0:
                first = t
            last = t
            n += 1
    out: dict[str, Any] = {"n": n, "first": first, "last": last}
    if mode == "stamp" and args.out:
        with open(args.out, "wb") as fh:
            stamps.tofile(fh)
    if mode == "bbo" and args.out:
        from services.common.wire import Bbo, decode

        rows = []
        for t, payload in zip(stamps, keys, strict=True):
            msg = decode(payload)
            if isinstance(msg, Bbo):
                rows.append((msg.symbol, msg.u, t, msg.recv_ns, msg.pub_ns))
        with open(args.out, "wb") as fh:
            fh.write(msgspec.msgpack.encode(rows))
        out["bbo"] = len(rows)
    done(out)


# ------------------------------------------------------------------------------------- REQ/REP
def rep(args: argparse.Namespace) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.bind(args.endpoint)
    reply = b"x" * args.reply_bytes
    print("READY", flush=True)
    recv, send = sock.recv, sock.send
    while True:
        recv()
        send(reply)


def req(args: argparse.Namespace) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(args.endpoint)
    body = args.body.encode() if args.body else b"x" * args.req_bytes
    print("READY", flush=True)
    wait_go()
    for _ in range(args.warmup):
        sock.send(body)
        sock.recv()
    rtt = array("q")
    send, recv = sock.send, sock.recv
    t_start = now()
    reply = b""
    for _ in range(args.count):
        t0 = now()
        send(body)
        reply = recv()
        rtt.append(now() - t0)
    t_end = now()
    if args.out:
        with open(args.out, "wb") as fh:
            rtt.tofile(fh)
    done({"n": len(rtt), "elapsed_ns": t_end - t_start, "reply_bytes": len(reply), "req_bytes": len(body)})


def dealer(args: argparse.Namespace) -> None:
    """Keep ``inflight`` requests outstanding for ``seconds``; report replies per second."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(args.endpoint)
    bodies = [b.encode() for b in json.loads(args.bodies)]
    print("READY", flush=True)
    wait_go()
    outstanding = 0
    replies = errors = 0
    i = 0
    t_end = now() + int(args.seconds * 1e9)
    t0 = now()
    nb = len(bodies)
    while True:
        while outstanding < args.inflight:
            sock.send(b"", zmq.SNDMORE)
            sock.send(bodies[i % nb])
            i += 1
            outstanding += 1
        if sock.poll(1000):
            while True:
                try:
                    sock.recv(zmq.NOBLOCK)  # empty delimiter
                    body = sock.recv()
                except zmq.Again:
                    break
                outstanding -= 1
                replies += 1
                if body[:10] != b'{"ok":true':
                    errors += 1
        if now() >= t_end:
            break
    elapsed = now() - t0
    done({"replies": replies, "errors": errors, "elapsed_ns": elapsed, "qps": replies / (elapsed / 1e9)})


# ------------------------------------------------------------------------------------- PUB
def pub(args: argparse.Namespace) -> None:
    """Send prepared ``[topic, payload]`` pairs: as fast as possible, or paced at ``--rate``.

    With ``--stamp-bus`` each payload is re-encoded as a bus BookUpdate with fresh ``recv_ns`` (so the
    book's published BBO carries the send time) - used as the fake feed.
    """
    pairs = load_pairs(args.pairs)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    sock.setsockopt(zmq.SNDHWM, 0 if args.rate <= 0 else 1_000_000)
    sock.setsockopt(zmq.LINGER, 1000)
    sock.bind(args.endpoint)
    print("READY", flush=True)
    wait_go()
    send = sock.send
    more = zmq.SNDMORE
    repeat = max(1, args.repeat)
    t0 = now()
    sent = 0
    if args.rate <= 0:
        for _ in range(repeat):
            for t, p in pairs:
                send(t, more)
                send(p)
            sent += len(pairs)
    else:
        period = 1e9 / args.rate
        total = len(pairs) * repeat
        for k in range(total):
            due = t0 + int(k * period)
            tn = now()
            if tn < due:
                time.sleep((due - tn) / 1e9)
            t, p = pairs[k % len(pairs)]
            send(t, more)
            send(p)
            sent += 1
            if args.seconds and now() - t0 > args.seconds * 1e9:
                break
    t1 = now()
    done({"sent": sent, "t0": t0, "t1": t1})
    for line in sys.stdin:
        if line.strip() == "QUIT":
            break


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("role")
    ap.add_argument("--url", default="")
    ap.add_argument("--topics", default="")
    ap.add_argument("--total", type=int, default=0)
    ap.add_argument("--endpoint", default="")
    ap.add_argument("--pub", default="")
    ap.add_argument("--prefix", action="append")
    ap.add_argument("--expect", type=int, default=1 << 62)
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--mode", default="count")
    ap.add_argument("--multipart", action="store_true")
    ap.add_argument("--out", default="")
    ap.add_argument("--reply-bytes", type=int, default=64)
    ap.add_argument("--req-bytes", type=int, default=64)
    ap.add_argument("--body", default="")
    ap.add_argument("--bodies", default="[]")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--inflight", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=0.0)
    ap.add_argument("--pairs", default="")
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    topics = [t for t in args.topics.split(",") if t]
    if args.role == "r1":
        res = asyncio.run(_r1(args.url, topics, args.total))
        done(res)
    elif args.role == "relay":
        asyncio.run(_relay(args.url, topics, args.pub))
    else:
        {"sink": sink, "rep": rep, "req": req, "dealer": dealer, "pub": pub}[args.role](args)


if __name__ == "__main__":
    main()
