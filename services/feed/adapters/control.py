"""The feed's control endpoint: a ZMQ ROUTER answering JSON requests inside the asyncio loop.

It is bound through :func:`services.common.security.secure_server_socket`, so it follows the
policy of every endpoint that accepts commands (docs/security.md): plain on loopback, CURVE with
authorized client keys once server keys are configured, and beyond loopback without keys the
feed refuses to start (unless ``allow_insecure_remote``).

The socket's file descriptor is watched with ``loop.add_reader``; because ZMQ signals edge-
triggered, the socket is drained completely on every wake-up and again after each reply, and a
periodic :meth:`ControlServer.drain` call from the heartbeat task is a safety net.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import zmq

from services.common.log import get_logger
from services.common.rpc import encode_json, error_reply, recv_request, router_socket, send_reply
from services.common.security import CurveConfig, secure_server_socket

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

Handler = Callable[[bytes], dict[str, Any]]


class ControlServer:
    """Serve ``handler(body) -> reply`` on a bound ROUTER socket."""

    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        handler: Handler,
        *,
        curve: CurveConfig | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.sock = router_socket(ctx, endpoint, bind=False)
        # binds; raises ConfigError beyond loopback without keys (see the module docstring)
        self.security = secure_server_socket(
            ctx, self.sock, endpoint, curve or CurveConfig(), registry=registry
        )
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
        self.security.close()  # closes the socket, then stops the ZAP authenticator
