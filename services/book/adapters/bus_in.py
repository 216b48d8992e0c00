"""Drains the bus SUB socket (see :class:`services.common.bus.Subscriber`) in bounded batches.

Like ``Subscriber.drain`` but cheaper for the single-message batches a low-load loop sees: the
loop calls it after ``poll`` reported the socket readable, so the first message is read without
a check; one ``EVENTS`` check (~1.1 us of CPU) then tells whether more are queued, which saves the
NOBLOCK ``recv`` raising ``Again`` (~2.9 us) when there are none. Larger batches end
on ``Again`` (one per batch). Undecodable messages are counted and dropped.
"""

from __future__ import annotations

import zmq

from services.common.bus import Subscriber
from services.common.errors import WireDecodeError
from services.common.wire import BusMessage, decode

_NOBLOCK = int(zmq.NOBLOCK)
_RCVMORE = int(zmq.RCVMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def drain(sub: Subscriber, limit: int) -> list[tuple[str, BusMessage]]:
    """Up to ``limit`` queued ``(topic, message)`` pairs, without blocking."""
    out: list[tuple[str, BusMessage]] = []
    sock = sub.sock
    n = 0
    while n < limit:
        if n == 1 and not int(sock.getsockopt(_EVENTS)) & _POLLIN:
            break  # the common low-load case: exactly one message was queued
        n += 1
        try:
            topic = sock.recv(_NOBLOCK)
        except zmq.Again:
            break
        if not sock.getsockopt(_RCVMORE):
            sub.decode_errors += 1
            continue
        payload = sock.recv()
        while sock.getsockopt(_RCVMORE):
            sock.recv()
            payload = b""
        try:
            out.append((topic.decode(), decode(payload)))
        except (WireDecodeError, UnicodeDecodeError):
            sub.decode_errors += 1
    return out
