"""The feed's PUB socket: :class:`services.common.bus.Publisher` with a leaner ``publish``.

Same contract as the common Publisher (``epoch`` and per-topic ``bus_seq`` stamped, two frames
sent with manual ``SNDMORE``); it only skips pyzmq's Python-level ``Socket.send`` wrapper (which
checks for routing ids and groups the feed never uses) by binding the Cython ``send`` once.
That saves about 0.3 µs a message, a few percent of the feed's per-frame budget. Payloads are
encoded by a bound :meth:`msgspec.msgpack.Encoder.encode` (the same plain encoder as
:func:`services.common.wire.encode`, minus one Python call).
"""

from __future__ import annotations

from typing import Any

import msgspec
import zmq
from zmq.backend import Socket as _BackendSocket

from services.common.bus import Publisher
from services.common.wire import BusMessage


class FeedPublisher(Publisher):
    """A Publisher whose :meth:`publish` is tuned for the feed's hot path."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, **kwargs: Any) -> None:
        super().__init__(ctx, endpoint, **kwargs)
        self._send = _BackendSocket.send.__get__(self.sock)
        self._encode = msgspec.msgpack.Encoder().encode

    def publish(self, topic: str, msg: BusMessage) -> int:
        seqs = self.seqs
        seq = seqs.get(topic, 0) + 1
        seqs[topic] = seq
        msg.epoch = self.epoch
        msg.bus_seq = seq
        tb = self._topic_bytes.get(topic)
        if tb is None:
            tb = self._topic_bytes[topic] = topic.encode()
        send = self._send
        send(tb, zmq.SNDMORE)
        send(self._encode(msg))
        self.sent += 1
        return seq
