"""The query socket: a ROUTER serving many REQ/DEALER clients without ever blocking.

Requests are read with NOBLOCK in bounded batches (so bus ingestion is never starved), answered
by the pure :func:`services.book.core.queries.handle`, and metrics are recorded after the reply
is sent (off the latency path).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import zmq
from zmq.backend import Socket as _BackendSocket

from services.book.core import queries
from services.book.core.sync import BookRegistry
from services.common.rpc import router_socket
from services.common.security import CurveConfig, secure_server_socket

#: ZMQ drops (disconnects) requests above this many times the configured limit; between the
#: limit and this hard cap the client gets a ``too_large`` error reply.
HARD_CAP_FACTOR = 4

# Plain ints: pyzmq's flag enums cost ~0.5 us per bitwise operation.
_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE_NOBLOCK = int(zmq.SNDMORE) | int(zmq.NOBLOCK)
_RCVMORE = int(zmq.RCVMORE)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


class QueryServer:
    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        registry: BookRegistry,
        *,
        max_request_bytes: int,
        status: Callable[[], dict[str, Any]],
        on_query: Callable[[str, float, str | None], None],
        curve: CurveConfig | None = None,
        metrics: Any = None,
    ) -> None:
        max_msg = max(max_request_bytes * HARD_CAP_FACTOR, 4096)
        self.sock = router_socket(ctx, endpoint, max_msg_bytes=max_msg, bind=False)
        # binds; CURVE + ZAP when configured, refuses non-loopback binds without keys (ConfigError)
        self.security = secure_server_socket(
            ctx, self.sock, endpoint, curve or CurveConfig(), registry=metrics
        )
        #: pyzmq's Cython send, without the Python wrapper's routing-id/group checks (~0.3 us a frame)
        self._send = _BackendSocket.send.__get__(self.sock)
        self.registry = registry
        self.max_request_bytes = max_request_bytes
        self._status = status
        self._on_query = on_query
        self.served = 0

    def serve(self, limit: int = 64) -> int:
        """Answer up to ``limit`` queued requests; return how many were answered.

        Frames are read one by one (cheaper than ``recv_multipart``); REQ peers send
        ``[id, b"", body]`` and DEALER peers ``[id, body]``, and the reply mirrors the envelope.
        """
        sock = self.sock
        registry = self.registry
        max_bytes = self.max_request_bytes
        status = self._status
        on_query = self._on_query
        handle = queries.handle
        perf = time.perf_counter
        mono = time.monotonic
        send = self._send
        n = 0
        while n < limit:
            # Poll said readable before the first request. Before the second, one EVENTS check
            # (~1.1 us of CPU) ends the common single-request turn more cheaply than a NOBLOCK
            # recv raising Again (~2.9 us); once a batch is under way, more requests are likely
            # queued, so they are just read and the batch ends on Again (EVENTS on every request
            # would cost more: it makes libzmq process its command mailbox each time).
            if n == 1 and not int(sock.getsockopt(_EVENTS)) & _POLLIN:
                break
            try:
                ident = sock.recv(_NOBLOCK)
            except zmq.Again:
                break
            t0 = perf()
            frames = [ident]
            while sock.getsockopt(_RCVMORE):
                frames.append(sock.recv())
            if len(frames) >= 3 and frames[1] == b"":
                envelope, body = frames[:2], frames[2]
            elif len(frames) >= 2:
                envelope, body = frames[:1], frames[1]
            else:
                envelope, body = frames, b""
            op, reply, code = handle(body, registry, mono(), max_bytes=max_bytes, status=status)
            try:
                for frame in envelope:
                    send(frame, _SNDMORE_NOBLOCK)
                send(reply, _NOBLOCK)
            except zmq.ZMQError:
                pass  # the peer vanished or is not reading: never block on it
            on_query(op, perf() - t0, code)
            n += 1
        self.served += n
        return n

    def close(self) -> None:
        self.security.close()  # closes the socket, then stops the ZAP authenticator
