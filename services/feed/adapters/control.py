"""The feed's control endpoint: a ZMQ ROUTER answering JSON requests inside the asyncio loop.

The socket's file descriptor is watched with ``loop.add_reader``; because ZMQ signals edge-
triggered, the socket is drained completely on every wake-up and again after each reply, and a
periodic :meth:`ControlServer.drain` call from the heartbeat task is a safety net.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import zmq

from services.common.log import get_logger
from services.common.rpc import encode_json, error_reply, recv_request, router_socket, send_reply

Handler = Callable[[bytes], dict[str, Any]]


class ControlServer:
    """Serve ``handler(body) -> reply`` on a bound ROUTER socket."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, handler: Handler) -> None:
        self.sock = router_socket(ctx, endpoint)
        self.handler = handler
        self.log = get_logger("feed.control")
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(int(self.sock.getsockopt(zmq.FD)), self.drain)
        self.drain()

    def drain(self) -> None:
        """Answer every request already queued."""
        sock = self.sock
        while int(sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
            got = recv_request(sock)
            if got is None:
                break
            envelope, body = got
            try:
                reply = self.handler(body)
            except Exception as exc:  # a handler bug must not kill the endpoint
                self.log.exception("control_handler_failed")
                reply = error_reply("internal", f"{type(exc).__name__}")
            send_reply(sock, envelope, encode_json(reply))

    def close(self) -> None:
        if self._loop is not None:
            try:
                self._loop.remove_reader(int(self.sock.getsockopt(zmq.FD)))
            except (ValueError, OSError, zmq.ZMQError):
                pass
        self.sock.close(linger=0)
