"""A slow subscriber on the feed's PUB socket costs only itself.

A real feed publishes the simulator's market at a high rate; a SUB with a tiny receive high-water
mark and a tiny kernel buffer sleeps between reads, so the PUB socket drops messages for it (and
only for it). It must see the loss as ``bus_seq`` gaps and resync (from the book service, at a
known ``u``, then follow the deltas again without a gap). Meanwhile the feed's publish rate (the
``bus_seq`` totals its heartbeats announce) keeps its pace, and a normal book service stays
``live``, fresh and exact (every live reply checked against the stream by ``(u, seq)``, see
chaos/truth.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import zmq

from chaos.books import BookQuerier, Tally, TruthRecorder, checked
from chaos.truth import MATCH, VIOLATIONS
from services.common.book_client import BookClient
from services.common.bus import SeqTracker
from services.common.wire import Heartbeat, decode
from tests.helpers import ServiceProcess, eventually, free_port, tcp

pytestmark = pytest.mark.integration

SYMBOLS = "linear:BTCUSDT,linear:ETHUSDT,linear:XRPUSDT,linear:SOLUSDT,spot:BTCUSDT,spot:ETHUSDT"
WATCH = ("linear", "BTCUSDT")
WATCH_TOPIC = "md.book.linear.BTCUSDT"


class Heartbeats(threading.Thread):
    """Follows ``sys.hb.feed``: (time, total bus_seq announced) samples = the feed's publish count."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str) -> None:
        super().__init__(daemon=True)
        self.sock = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"sys.hb.feed")
        self.sock.connect(endpoint)
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            if self.sock.poll(100):
                msg = decode(self.sock.recv_multipart()[1])
                if isinstance(msg, Heartbeat):
                    self.samples.append((time.monotonic(), sum(msg.seqs.values())))
        self.sock.close(linger=0)

    def rate(self, t0: float, t1: float) -> float:
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        assert len(inside) >= 2, f"too few feed heartbeats in [{t0}, {t1}]"
        (ta, na), (tb, nb) = inside[0], inside[-1]
        return (nb - na) / (tb - ta)


class BookWatch(threading.Thread):
    """Polls the book service: every configured book must stay live and fresh."""

    def __init__(self, book_rep: str) -> None:
        super().__init__(daemon=True)
        self.book_rep = book_rep
        self.polls = 0
        self.not_live: list[dict[str, Any]] = []
        self.phase = "baseline"
        self.worst_age_ms: dict[str, dict[str, int]] = {"baseline": {}, "slow": {}}
        self.stop = threading.Event()

    def run(self) -> None:
        with BookClient(self.book_rep, timeout=2.0) as client:
            while not self.stop.is_set():
                for b in client.symbols()["books"]:
                    if b["state"] != "live":
                        self.not_live.append(b)
                    key = f"{b['category']}:{b['symbol']}"
                    worst = self.worst_age_ms[self.phase]
                    worst[key] = max(worst.get(key, 0), int(b["age_ms"]))
                self.polls += 1
                self.stop.wait(0.05)


def slow_phase(sock: zmq.Socket[bytes], hb: Heartbeats, overflow: int, limit_s: float = 40.0) -> int:
    """Read one message every 50 ms until the feed has published ``overflow`` messages more (enough
    to fill the kernel buffers and both high-water marks); return how many were read."""
    n = 0
    start = hb.samples[-1][1]
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and hb.samples[-1][1] - start < overflow:
        if sock.poll(10):
            sock.recv_multipart()
            n += 1
        time.sleep(0.05)
    return n


def drain(sock: zmq.Socket[bytes], tracker: SeqTracker, seconds: float = 1.5) -> list[Any]:
    """Read at full speed for ``seconds`` (the publisher never pauses); track bus_seq."""
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not sock.poll(50):
            continue
        while True:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            msg = decode(frames[1])
            tracker.observe(frames[0].decode(), msg.epoch, msg.bus_seq)
            out.append(msg)
    return out


def resync_from_book(sock: zmq.Socket[bytes], book_rep: str, follow: int = 20) -> tuple[int, int]:
    """Take the book service's live book (its u), then follow ``follow`` bus deltas of that topic
    with u = previous + 1 and no bus_seq gap. Return (u at resync, last u followed)."""
    with BookClient(book_rep, timeout=2.0) as client:
        reply = eventually(
            lambda: (r := client.book(*WATCH)) and r["state"] == "live" and r, timeout=20,
            message="a live book to resync from",
        )  # fmt: skip
    u0 = last_u = int(reply["u"])
    last_bus: tuple[int, int] | None = None
    followed = 0
    deadline = time.monotonic() + 20
    while followed < follow:
        assert time.monotonic() < deadline, f"resync did not follow {follow} deltas (got {followed})"
        if not sock.poll(100):
            continue
        topic, payload = sock.recv_multipart()
        if topic.decode() != WATCH_TOPIC:
            continue
        msg = msgspec.msgpack.decode(payload)
        bus = (msg["epoch"], msg["bus_seq"])
        if msg["u"] <= u0:
            last_bus = bus  # older than the resync point: already in the book we took
            continue
        assert last_bus is None or bus == (last_bus[0], last_bus[1] + 1), "lost messages after resync"
        assert msg["type"] == "snapshot" or msg["u"] == last_u + 1, (
            f"u gap after resync: {last_u} -> {msg['u']}"
        )
        last_u, last_bus = msg["u"], bus
        followed += 1
    return u0, last_u


def test_slow_subscriber_costs_only_itself(
    spawn: Callable[..., ServiceProcess], sim_factory: Callable[..., Any]
) -> None:
    sim = sim_factory(sim_speed=6)
    pub, ctl, rep = tcp(free_port()), tcp(free_port()), tcp(free_port())
    common = {"symbols": SYMBOLS, "orderbook_depth": 50, "feed_pub": pub, "feed_ctl": ctl, "book_rep": rep}
    spawn(
        "services.feed",
        bybit_public_ws_url=sim.ws_url_template,
        feed_metrics_port=free_port(),
        feed_pub_hwm=1000,
        **common,
    )
    spawn("services.book", book_pub=tcp(free_port()), book_metrics_port=free_port(), **common)
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    hb = Heartbeats(ctx, pub)
    hb.start()
    topics = [
        f"md.book.{c}.{s}" for c, s in (("linear", "BTCUSDT"), ("linear", "ETHUSDT"), ("spot", "BTCUSDT"))
    ]
    recorder = TruthRecorder(pub, ctl, topics)
    recorder.start()
    tally = Tally()
    querier = BookQuerier(rep, recorder, tally, pace_s=0.02)
    watch = BookWatch(rep)
    slow = ctx.socket(zmq.SUB)
    slow.setsockopt(zmq.RCVHWM, 10)
    slow.setsockopt(zmq.RCVBUF, 4096)
    slow.setsockopt(zmq.SUBSCRIBE, b"md.")
    slow.setsockopt(zmq.LINGER, 0)
    t00 = time.monotonic()
    try:
        with BookClient(rep, timeout=2.0) as client:
            eventually(
                lambda: (
                    all(b["state"] == "live" for b in client.symbols()["books"])
                    and len(client.symbols()["books"]) >= 6
                ),
                timeout=60,
                message="all books live",
            )
        print(f"live after {time.monotonic() - t00:.1f}s")
        querier.start()
        watch.start()
        t_base = time.monotonic()
        eventually(lambda: len(hb.samples) >= 2 and hb.samples[-1][0] - t_base > 4, timeout=30, interval=0.1)
        t_slow = time.monotonic()
        baseline = hb.rate(t_base, t_slow)
        assert baseline > 500, f"the feed publishes only {baseline:.0f} msg/s: not a high rate"

        slow.connect(pub)
        watch.phase = "slow"
        read = slow_phase(slow, hb, overflow=30_000)
        t_end = time.monotonic()
        eventually(lambda: hb.samples[-1][0] > t_end, timeout=10, interval=0.1)
        during = hb.rate(t_slow, t_end + 1.5)

        tracker = SeqTracker()
        caught_up = drain(slow, tracker)
        assert tracker.gaps > 0, (
            f"the slow subscriber saw no bus_seq gap ({read} + {len(caught_up)} messages)"
        )
        print(f"drained after {time.monotonic() - t00:.1f}s")
        u0, last_u = resync_from_book(slow, rep)
        print(f"resynced after {time.monotonic() - t00:.1f}s")

        watch.stop.set()
        watch.join(5)
        querier.finish()
        ok = checked(tally.verdicts)
        bad = {k: v for k, v in tally.verdicts.items() if k in VIOLATIONS}
        print(
            f"feed rate {baseline:.0f}/s before, {during:.0f}/s with the slow subscriber; slow one read "
            f"{read} slowly + {len(caught_up)}, {tracker.gaps} gaps; resynced at u={u0}, "
            f"followed to {last_u}; "
            f"book polls {watch.polls}, worst ages {watch.worst_age_ms} ms; live replies checked {ok}"
        )
        assert during >= 0.8 * baseline, f"feed slowed down: {during:.0f}/s vs {baseline:.0f}/s"
        assert not watch.not_live, f"a book left live: {watch.not_live[:3]}"
        for key, age in watch.worst_age_ms["slow"].items():
            base = watch.worst_age_ms["baseline"].get(key, 0)
            assert age < max(2 * base, 3000), f"{key}: {age} ms without update (baseline {base} ms)"
        assert not bad, f"book replies wrong: {bad} {tally.problems[:5]}"
        assert tally.verdicts[MATCH] >= 100, tally.verdicts
    finally:
        watch.stop.set()
        querier.stop_event.set()
        recorder.stop()
        hb.stop.set()
        recorder.join(5)
        hb.join(5)
        slow.close(linger=0)
        ctx.term()
