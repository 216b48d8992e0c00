"""Threads that check books: the truth recorder (the feed's bus → :mod:`chaos.truth`), the anchor
checker (the simulator's ``/sim/book`` against the table) and the querying strategy (every
``live`` reply of the book service against the table).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests
import zmq

from chaos.truth import (
    BLIND,
    EVICTED,
    MATCH,
    MISMATCH,
    PENDING,
    VIOLATIONS,
    TopicTruth,
    levels_of,
    reply_top,
)
from services.common.book_client import BookClient
from services.common.errors import WireDecodeError
from services.common.rpc import JsonClient, RpcError, RpcTimeout
from services.common.wire import BookUpdate, Heartbeat, decode

#: How long a reply may wait for the recorder to reach its (u, seq).
RESOLVE_S = 5.0


@dataclass
class Tally:
    """What the checkers counted (shared, guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    verdicts: Counter[str] = field(default_factory=Counter)
    anchors: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        with self.lock:
            if len(self.problems) < 50:
                self.problems.append(text)


class TruthRecorder(threading.Thread):
    """SUB to the feed (no high-water mark, fast reconnect) and keep a :class:`TopicTruth` per topic."""

    def __init__(self, feed_pub: str, feed_ctl: str, topics: list[str]) -> None:
        super().__init__(name="truth", daemon=True)
        self.feed_ctl = feed_ctl
        self.truth = {t: TopicTruth() for t in topics}
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.RCVHWM, 0)
        self.sock.setsockopt(zmq.RECONNECT_IVL, 20)
        self.sock.setsockopt(zmq.LINGER, 0)
        for prefix in ("md.book.", "sys.hb.feed"):
            self.sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        self.sock.connect(feed_pub)
        self.messages = 0
        self.resnapshots = 0
        self._asked: dict[str, float] = {}

    def run(self) -> None:
        sock = self.sock
        last_blind_check = 0.0
        while not self.stop_event.is_set():
            if sock.poll(50):
                batch: list[tuple[str, Any]] = []
                for _ in range(5000):
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    if len(frames) != 2:
                        continue
                    try:
                        batch.append((frames[0].decode(), decode(frames[1])))
                    except (WireDecodeError, UnicodeDecodeError):
                        continue
                with self.lock:
                    for topic, msg in batch:
                        self._apply(topic, msg)
            now = time.monotonic()
            if now - last_blind_check > 0.5:
                last_blind_check = now
                self._unblind(now)
        sock.close(linger=0)

    def _apply(self, topic: str, msg: Any) -> None:
        if isinstance(msg, BookUpdate):
            tt = self.truth.get(topic)
            if tt is not None:
                self.messages += 1
                tt.on_message(msg)
        elif isinstance(msg, Heartbeat):
            for t, tt in self.truth.items():
                announced = msg.seqs.get(t)
                if announced and tt.epoch == msg.epoch and announced > tt.bus_seq:
                    tt.lost_on_bus()
                    tt.bus_seq = announced

    def _unblind(self, now: float) -> None:
        """Like any client: a topic the checker cannot follow gets a snapshot asked for."""
        with self.lock:
            blind = [t for t, tt in self.truth.items() if not tt.known]
        for topic in blind:
            if now - self._asked.get(topic, 0.0) < 3.0:
                continue
            self._asked[topic] = now
            _, _, category, symbol = topic.split(".", 3)
            try:
                with JsonClient(self.feed_ctl, timeout=1.0) as c:
                    c.request({"op": "resnapshot", "category": category, "symbol": symbol})
                self.resnapshots += 1
            except (RpcTimeout, RpcError, zmq.ZMQError):
                pass

    def verdict(self, topic: str, op: str, reply: dict[str, Any]) -> str:
        u, seq = int(reply["u"]), int(reply["seq"])
        with self.lock:
            tt = self.truth[topic]
            if op == "book":
                return tt.verdict_book(u, seq, levels_of(reply["bids"]), levels_of(reply["asks"]))
            return tt.verdict_top(u, seq, reply_top(reply))

    def explain(self, topic: str, reply: dict[str, Any]) -> str:
        with self.lock:
            exp = self.truth[topic].expected(int(reply["u"]), int(reply["seq"]))
        got = (levels_of(reply.get("bids", [])), levels_of(reply.get("asks", [])))
        if exp is None:
            return f"u={reply['u']} seq={reply['seq']} (true book no longer kept)"
        diff_b = sorted(set(exp[0]) ^ set(got[0]))[:6]
        diff_a = sorted(set(exp[1]) ^ set(got[1]))[:6]
        return f"u={reply['u']} seq={reply['seq']} bid diff {diff_b} ask diff {diff_a}"

    def context(self, topic: str, seq: int) -> str:
        """The recorder's view around ``seq`` (for violation reports)."""
        with self.lock:
            tt = self.truth[topic]
            near = sorted(tt.entries, key=lambda k: abs(k[1] - seq))[:3]
            segs = [(g.start, g.end, g.reason) for g in tt.segments[-3:]]
            return f"[checker: max_seq={tt.max_seq} epoch={tt.epoch} nearest={near} segments={segs}]"

    def all_known(self) -> bool:
        with self.lock:
            return all(tt.known for tt in self.truth.values())

    def counts(self) -> dict[str, int]:
        with self.lock:
            total: Counter[str] = Counter()
            for tt in self.truth.values():
                total.update(tt.counts)
        return dict(total)

    def stop(self) -> None:
        self.stop_event.set()


class _Resolver:
    """Replies waiting for the recorder to reach their (u, seq)."""

    def __init__(self, recorder: TruthRecorder, tally: Tally, counter: str) -> None:
        self.recorder = recorder
        self.tally = tally
        self.counter = counter
        self.pending: list[tuple[float, str, str, dict[str, Any]]] = []

    def add(self, topic: str, op: str, reply: dict[str, Any]) -> None:
        self.pending.append((time.monotonic() + RESOLVE_S, topic, op, reply))

    def resolve(self, final: bool = False) -> None:
        now = time.monotonic()
        keep = []
        for item in self.pending:
            deadline, topic, op, reply = item
            v = self.recorder.verdict(topic, op, reply)
            if v == PENDING and now < deadline and not final:
                keep.append(item)
                continue
            if v == PENDING:
                v = "late"
            self._count(v, topic, op, reply)
        self.pending = keep

    def _count(self, v: str, topic: str, op: str, reply: dict[str, Any]) -> None:
        bucket = self.tally.verdicts if self.counter == "verdicts" else self.tally.anchors
        with self.tally.lock:
            bucket[v] += 1
        bad = VIOLATIONS if self.counter == "verdicts" else {MISMATCH}
        if v in bad:
            where = self.recorder.explain(topic, reply) if op == "book" else f"u={reply['u']}"
            where += " " + self.recorder.context(topic, int(reply["seq"]))
            self.tally.problem(f"{self.counter}: {v} on {topic} ({op}) {where}")


class BookQuerier(threading.Thread):
    """A strategy that queries every book continually and has each live reply checked."""

    def __init__(self, book_rep: str, recorder: TruthRecorder, tally: Tally, pace_s: float = 0.01) -> None:
        super().__init__(name="querier", daemon=True)
        self.book_rep = book_rep
        self.recorder = recorder
        self.resolver = _Resolver(recorder, tally, "verdicts")
        self.pace_s = pace_s
        self.stop_event = threading.Event()
        self.replies: Counter[str] = Counter()

    def run(self) -> None:
        topics = list(self.recorder.truth)
        client = BookClient(self.book_rep, timeout=1.0)
        n = 0
        try:
            while not self.stop_event.is_set():
                topic = topics[n % len(topics)]
                op = "book" if (n // len(topics)) % 2 == 0 else "top"
                n += 1
                _, _, category, symbol = topic.split(".", 3)
                try:
                    reply = client.request({"op": op, "category": category, "symbol": symbol})
                except RpcTimeout:
                    self.replies["timeout"] += 1
                    self.stop_event.wait(0.1)
                    continue
                state = str(reply.get("state", "error")) if reply.get("ok") else "error"
                self.replies[state] += 1
                if state == "live":
                    self.resolver.add(topic, op, reply)
                if n % 20 == 0:
                    self.resolver.resolve()
                self.stop_event.wait(self.pace_s)
        finally:
            client.close()

    def finish(self) -> None:
        self.stop_event.set()
        self.join(10)
        self.resolver.resolve(final=True)


class AnchorChecker(threading.Thread):
    """Polls the simulator's latest sent book per topic and checks the recorder agrees at that key."""

    def __init__(self, sim_http: str, recorder: TruthRecorder, tally: Tally, period_s: float = 0.25) -> None:
        super().__init__(name="anchors", daemon=True)
        self.sim_http = sim_http
        self.recorder = recorder
        self.resolver = _Resolver(recorder, tally, "anchors")
        self.period_s = period_s
        self.stop_event = threading.Event()

    def run(self) -> None:
        http = requests.Session()
        topics = list(self.recorder.truth)
        try:
            while not self.stop_event.is_set():
                for topic in topics:
                    _, _, category, symbol = topic.split(".", 3)
                    try:
                        r = http.get(
                            f"{self.sim_http}/sim/book",
                            params={"category": category, "symbol": symbol, "depth": "50"},
                            timeout=2,
                        )
                        doc = r.json()
                    except (requests.RequestException, ValueError):
                        continue
                    if doc.get("active") and (doc.get("bids") or doc.get("asks")):
                        self.resolver.add(topic, "book", doc)
                self.resolver.resolve()
                self.stop_event.wait(self.period_s)
        finally:
            http.close()

    def finish(self) -> None:
        self.stop_event.set()
        self.join(10)
        self.resolver.resolve(final=True)


def unverifiable(verdicts: Counter[str]) -> int:
    return sum(verdicts[k] for k in (BLIND, EVICTED, "late"))


def checked(verdicts: Counter[str]) -> int:
    return verdicts[MATCH] + sum(verdicts[k] for k in VIOLATIONS)
