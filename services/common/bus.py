"""ZMQ PUB/SUB edge of the bus: publish typed messages with per-topic sequence numbers,
subscribe and drain without per-message await, and detect loss.

Per PERF_NOTES, frames are sent with manual SNDMORE and received with ``poll`` + ``NOBLOCK``
drains (``send_multipart``/``zmq.asyncio`` cost several times more per message). The publisher
binds the Cython ``send`` once, skipping pyzmq's Python-level ``Socket.send`` wrapper (its
routing-id and group checks, which PUB never uses): ~0.3 µs a frame on a hot path.
PUB never blocks: a subscriber that falls behind its receive high-water mark loses messages,
and only that subscriber; it sees the loss as a jump in ``bus_seq`` (:class:`SeqTracker`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec
import zmq
from zmq.backend import Socket as _BackendSocket

from services.common import topics
from services.common.errors import WireDecodeError
from services.common.wire import BusMessage, Heartbeat, decode

DEFAULT_MAX_MSG_BYTES = 16 * 1024 * 1024
_SNDMORE = int(zmq.SNDMORE)


def bind_or_connect(sock: zmq.Socket[bytes], endpoint: str, *, bind: bool) -> None:
    """Bind (server side) or connect (client side) ``sock`` to ``endpoint``."""
    if bind:
        sock.bind(endpoint)
    else:
        sock.connect(endpoint)


class Publisher:
    """A PUB socket that stamps ``epoch`` and a per-topic ``bus_seq`` on every message."""

    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        *,
        service: str,
        hwm: int = 100_000,
        bind: bool = True,
    ) -> None:
        self.service = service
        self.sock: zmq.Socket[bytes] = ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.SNDHWM, hwm)
        self.sock.setsockopt(zmq.LINGER, 0)
        bind_or_connect(self.sock, endpoint, bind=bind)
        self.epoch = time.time_ns()
        self.seqs: dict[str, int] = {}
        self.sent = 0
        self._topic_bytes: dict[str, bytes] = {}
        self._hb_topic = topics.heartbeat(service)
        self._send = _BackendSocket.send.__get__(self.sock)
        #: The bus payload encoder (the same plain encoder as :func:`services.common.wire.encode`).
        self._encode = msgspec.msgpack.Encoder().encode

    def publish(self, topic: str, msg: BusMessage) -> int:
        """Stamp and send ``msg`` on ``topic``; return its ``bus_seq``."""
        seqs = self.seqs
        seq = seqs.get(topic, 0) + 1
        seqs[topic] = seq
        msg.epoch = self.epoch
        msg.bus_seq = seq
        tb = self._topic_bytes.get(topic)
        if tb is None:
            tb = self._topic_bytes[topic] = topic.encode()
        send = self._send
        send(tb, _SNDMORE)
        send(self._encode(msg))
        self.sent += 1
        return seq

    def heartbeat(self, info: dict[str, str] | None = None) -> None:
        """Publish ``sys.hb.<service>`` with the last ``bus_seq`` of every topic sent so far."""
        seqs = dict(self.seqs)
        seqs.pop(self._hb_topic, None)
        self.publish(self._hb_topic, Heartbeat(self.service, time.time_ns(), seqs, info or {}))

    @property
    def endpoint(self) -> str:
        return str(self.sock.getsockopt_string(zmq.LAST_ENDPOINT))

    def close(self) -> None:
        self.sock.close(linger=0)


@dataclass(slots=True)
class Gap:
    """Messages lost on ``topic``: ``expected`` was due, ``got`` arrived (or was announced)."""

    topic: str
    expected: int
    got: int

    @property
    def lost(self) -> int:
        return self.got - self.expected


@dataclass(slots=True)
class SeqTracker:
    """Pure loss detector over ``(topic, epoch, bus_seq)``. No I/O.

    The first message of a topic (or of a new publisher epoch) is accepted whatever its
    ``bus_seq`` (late join or restart); after that each must be the previous + 1.
    """

    last: dict[str, tuple[int, int]] = field(default_factory=dict)
    gaps: int = 0
    restarts: int = 0

    def observe(self, topic: str, epoch: int, seq: int) -> Gap | None:
        prev = self.last.get(topic)
        self.last[topic] = (epoch, seq)
        if prev is None:
            return None
        if prev[0] != epoch:
            self.restarts += 1
            return None
        if seq != prev[1] + 1 and seq > prev[1]:
            self.gaps += 1
            return Gap(topic, prev[1] + 1, seq)
        return None

    def observe_heartbeat(self, hb: Heartbeat) -> list[Gap]:
        """Topics this subscriber has seen whose latest messages it missed, per the heartbeat."""
        gaps = []
        for topic, announced in hb.seqs.items():
            prev = self.last.get(topic)
            if prev is not None and prev[0] == hb.epoch and announced > prev[1]:
                gaps.append(Gap(topic, prev[1] + 1, announced + 1))
                self.last[topic] = (hb.epoch, announced)
                self.gaps += 1
        return gaps


class Subscriber:
    """A SUB socket connected to one or more publishers, drained in batches."""

    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        endpoints: Iterable[str],
        prefixes: Iterable[str] = ("",),
        *,
        hwm: int = 100_000,
        max_msg_bytes: int = DEFAULT_MAX_MSG_BYTES,
    ) -> None:
        self.sock: zmq.Socket[bytes] = ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.RCVHWM, hwm)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.MAXMSGSIZE, max_msg_bytes)
        for prefix in prefixes:
            self.sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        for endpoint in endpoints:
            self.sock.connect(endpoint)
        self.tracker = SeqTracker()
        self.decode_errors = 0

    def drain(self, limit: int = 10_000) -> list[tuple[str, BusMessage]]:
        """Receive up to ``limit`` messages that are already queued, without blocking.

        Undecodable payloads are counted in ``decode_errors`` and dropped.
        """
        out: list[tuple[str, BusMessage]] = []
        sock = self.sock
        for _ in range(limit):
            try:
                topic = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if not sock.getsockopt(zmq.RCVMORE):
                self.decode_errors += 1
                continue
            payload = sock.recv()
            while sock.getsockopt(zmq.RCVMORE):
                sock.recv()
                payload = b""
            try:
                out.append((topic.decode(), decode(payload)))
            except (WireDecodeError, UnicodeDecodeError):
                self.decode_errors += 1
        return out

    def wait(self, timeout_ms: int) -> bool:
        """Block up to ``timeout_ms`` for something to read."""
        return bool(self.sock.poll(timeout_ms, zmq.POLLIN))

    def close(self) -> None:
        self.sock.close(linger=0)
