"""JSON request/reply over ZMQ: ROUTER servers that never block on a client, and REQ clients
with timeouts that recover from a stuck socket ("lazy pirate": close and reopen).

Requests and replies are JSON objects. Servers answer malformed input with
``{"ok": false, "error": {"code": ..., "message": ...}}`` and never raise.
"""

from __future__ import annotations

from typing import Any

import msgspec
import zmq

from services.common.errors import TickwireError

_json_encoder = msgspec.json.Encoder()


class RpcTimeout(TickwireError):
    """No reply within the deadline; the client socket was reset."""

    code = "timeout"


class RpcError(TickwireError):
    """The server answered ``ok: false``; ``code`` is the server's error code."""


def error_reply(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


def encode_json(obj: Any) -> bytes:
    return _json_encoder.encode(obj)


def router_socket(
    ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, *, max_msg_bytes: int = 65536, bind: bool = True
) -> zmq.Socket[bytes]:
    """A bound ROUTER socket for a JSON service (oversized requests are dropped by ZMQ).

    With ``bind=False`` the caller binds, e.g. through
    :func:`services.common.security.secure_server_socket` (which must run before the bind).
    """
    sock: zmq.Socket[bytes] = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, max_msg_bytes)
    sock.setsockopt(zmq.ROUTER_MANDATORY, 0)
    sock.setsockopt(zmq.SNDHWM, 10_000)
    sock.setsockopt(zmq.RCVHWM, 10_000)
    if bind:
        sock.bind(endpoint)
    return sock


def recv_request(sock: zmq.Socket[bytes]) -> tuple[list[bytes], bytes] | None:
    """Receive one request from a ROUTER without blocking: ``(envelope, body)`` or None.

    Works for REQ peers (envelope ``[id, b""]``) and DEALER peers (``[id]``).
    """
    try:
        frames = sock.recv_multipart(zmq.NOBLOCK)
    except zmq.Again:
        return None
    if len(frames) < 2:
        return [frames[0]] if frames else [], b""
    if frames[1] == b"":
        return frames[:2], b"".join(frames[2:3])
    return frames[:1], frames[1]


def send_reply(sock: zmq.Socket[bytes], envelope: list[bytes], body: bytes) -> None:
    """Send a reply; a vanished peer is silently ignored (never blocks the server)."""
    try:
        sock.send_multipart([*envelope, body], zmq.NOBLOCK)
    except zmq.ZMQError:
        pass


class JsonClient:
    """A REQ client for a JSON service, with a per-call timeout and automatic socket reset."""

    def __init__(
        self,
        endpoint: str,
        *,
        timeout: float = 2.0,
        ctx: zmq.Context[zmq.Socket[bytes]] | None = None,
        curve: tuple[bytes, bytes, bytes] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._own_ctx = ctx is None
        self.ctx: zmq.Context[zmq.Socket[bytes]] = ctx or zmq.Context()
        self._curve = curve
        self._sock: zmq.Socket[bytes] | None = None

    def _socket(self) -> zmq.Socket[bytes]:
        if self._sock is None:
            sock: zmq.Socket[bytes] = self.ctx.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            if self._curve is not None:
                public, secret, server_public = self._curve
                sock.curve_publickey = public
                sock.curve_secretkey = secret
                sock.curve_serverkey = server_public
            sock.connect(self.endpoint)
            self._sock = sock
        return self._sock

    def request(self, payload: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """Send ``payload`` and return the decoded reply object.

        Raises:
            RpcTimeout: no reply in time (the socket is reset for the next call).
        """
        return self.request_raw(encode_json(payload), timeout=timeout)

    def request_raw(self, body: bytes, *, timeout: float | None = None) -> dict[str, Any]:
        sock = self._socket()
        sock.send(body)
        if not sock.poll(int(1000 * (self.timeout if timeout is None else timeout)), zmq.POLLIN):
            sock.close(linger=0)
            self._sock = None
            raise RpcTimeout(f"no reply from {self.endpoint} within {self.timeout}s")
        reply = msgspec.json.decode(sock.recv())
        if not isinstance(reply, dict):
            raise RpcError("reply is not a JSON object", code="bad_reply")
        return reply

    def call(self, payload: dict[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        """Like :meth:`request` but raise :class:`RpcError` when the reply has ``ok: false``."""
        reply = self.request(payload, timeout=timeout)
        if not reply.get("ok", False):
            err = reply.get("error") or {}
            raise RpcError(str(err.get("message", "error")), code=str(err.get("code", "error")))
        return reply

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None
        if self._own_ctx:
            self.ctx.term()

    def __enter__(self) -> JsonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
