"""Helper processes for the executor benchmark: ``python -m bench.execprocs <role>``.

* ``proxy``   a TCP proxy in front of bybit_sim's HTTP port that stamps when each request's first
  byte arrives (``perf_counter_ns``) and when its response's first byte comes back, and reads
  the request's ``orderLinkId`` values - "request on the wire" is measured outside the executor.
* ``intents`` PUSHes ``create`` intents (limit buys far below the market) at a paced rate, stamping
  each send; ``--tif IOC`` makes the exchange cancel each one at once, so none accumulate.
* ``null``    the baseline executor (R5): PULL an intent, write a fixed HTTP request carrying its
  ``orderLinkId`` through the proxy, wait for the reply - the PUSH hop and socket costs only.

Protocol as in :mod:`bench.procs`: ``READY``, ``GO``, ``DONE <json>``; ``STOP`` ends the proxy.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import threading
import time
from typing import Any

import msgspec
import zmq

now = time.perf_counter_ns
_LINK = re.compile(rb'"orderLinkId"\s*:\s*"([^"]+)"')


def done(obj: dict[str, Any]) -> None:
    print("DONE " + json.dumps(obj), flush=True)


class Proxy:
    def __init__(self, target: int) -> None:
        self.target = target
        self.lock = threading.Lock()
        #: (link id, request first byte ns, request complete ns, response first byte ns)
        self.rows: list[tuple[str, int, int, int]] = []
        self.requests = 0

    def serve(self, lsock: socket.socket) -> None:
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            u = socket.create_connection(("127.0.0.1", self.target))
            u.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pending: list[list[Any]] = []  # requests awaiting their response, FIFO
            cond = threading.Condition()
            threading.Thread(target=self.up, args=(c, u, pending, cond), daemon=True).start()
            threading.Thread(target=self.down, args=(u, c, pending, cond), daemon=True).start()

    def up(
        self, c: socket.socket, u: socket.socket, pending: list[list[Any]], cond: threading.Condition
    ) -> None:
        buf = b""
        first = 0
        try:
            while True:
                data = c.recv(65536)
                t = now()
                if not data:
                    break
                if not buf:
                    first = t
                buf += data
                while True:
                    head_end = buf.find(b"\r\n\r\n")
                    if head_end < 0:
                        break
                    m = re.search(rb"(?i)content-length:\s*(\d+)", buf[:head_end])
                    length = int(m.group(1)) if m else 0
                    end = head_end + 4 + length
                    if len(buf) < end:
                        break
                    req, buf = buf[:end], buf[end:]
                    links = [x.decode() for x in _LINK.findall(req)]
                    with cond:
                        pending.append([links, first, t])
                    first = t if buf else 0
                u.sendall(data)
        except OSError:
            pass
        for s in (c, u):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def down(
        self, u: socket.socket, c: socket.socket, pending: list[list[Any]], cond: threading.Condition
    ) -> None:
        try:
            while True:
                data = u.recv(65536)
                t = now()
                if not data:
                    break
                with cond:
                    # one chunk may finish a response and start another: stamp the oldest waiting
                    if pending and data[:5] == b"HTTP/":
                        links, first, complete = pending.pop(0)
                        with self.lock:
                            self.requests += 1
                            for link in links or [""]:
                                self.rows.append((link, first, complete, t))
                c.sendall(data)
        except OSError:
            pass


def proxy(args: argparse.Namespace) -> None:
    p = Proxy(args.target)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    threading.Thread(target=p.serve, args=(lsock,), daemon=True).start()
    print(f"READY {lsock.getsockname()[1]}", flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "STOP":
            break
        if cmd == "DUMP":
            with p.lock:
                rows, p.rows = p.rows, []
            with open(args.out, "wb") as fh:
                fh.write(msgspec.msgpack.encode(rows))
            done({"rows": len(rows), "requests": p.requests})


def intents(args: argparse.Namespace) -> None:
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 2000)
    push.connect(args.endpoint)
    bodies = []
    for i in range(args.count):
        link = f"{args.prefix}{i}"
        bodies.append(
            (
                link,
                json.dumps(
                    {
                        "action": "create",
                        "category": "linear",
                        "symbol": args.symbol,
                        "side": "Buy",
                        "orderType": "Limit",
                        "qty": "0.010",
                        "price": f"{20000 + (i % 100) / 10:.1f}",
                        "timeInForce": args.tif,
                        "orderLinkId": link,
                    }
                ).encode(),
            )
        )
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip() == "GO":
            break
    sent: list[tuple[str, int]] = []
    period = 1e9 / args.rate
    t0 = now()
    for i, (link, body) in enumerate(bodies):
        due = t0 + int(i * period)
        t = now()
        if t < due:
            time.sleep((due - t) / 1e9)
        sent.append((link, now()))
        push.send(body)
    with open(args.out, "wb") as fh:
        fh.write(msgspec.msgpack.encode(sent))
    done({"sent": len(sent), "seconds": (now() - t0) / 1e9})


def null_executor(args: argparse.Namespace) -> None:
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.bind(args.endpoint)
    s = socket.create_connection(("127.0.0.1", args.target))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print("READY", flush=True)
    while True:
        raw = pull.recv()
        m = _LINK.search(raw)
        body = b'{"category":"linear","symbol":"BTCUSDT","orderLinkId":"' + (m.group(1) if m else b"") + b'"}'
        s.sendall(
            b"POST /v5/order/create HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        resp = b""
        while b"\r\n\r\n" not in resp:
            chunk = s.recv(65536)
            if not chunk:
                return
            resp += chunk
        head, _, rest = resp.partition(b"\r\n\r\n")
        m2 = re.search(rb"(?i)content-length:\s*(\d+)", head)
        need = int(m2.group(1)) if m2 else 0
        while len(rest) < need:
            rest += s.recv(65536)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("role")
    ap.add_argument("--target", type=int, default=0)
    ap.add_argument("--endpoint", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--prefix", default="bn")
    ap.add_argument("--symbol", default="BTCUSDT")
    ap.add_argument("--tif", default="GTC", help="timeInForce of the creates (IOC: none stays open)")
    args = ap.parse_args()
    {"proxy": proxy, "intents": intents, "null": null_executor}[args.role](args)


if __name__ == "__main__":
    main()
