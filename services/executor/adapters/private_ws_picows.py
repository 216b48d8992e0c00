"""The ``picows`` transport of the private stream (``executor_ws_client = "picows"``, the default).

picows parses WebSocket frames in C and calls :meth:`_Listener.on_ws_frame` for each one, on the
stream's event loop, straight from the socket read. Once the subscription is acknowledged that
callback does the least it can: it marks the connection alive for the watchdog and PUSHes the
payload bytes to the executor's loop (no decode, no task, no await per frame). Before the ack,
frames are queued for the handshake (the auth reply, then everything up to the subscribe ack,
which is forwarded as the websockets transport does).

Behaviour matches the websockets transport (:mod:`services.executor.adapters.private_ws`):

* ``{"op":"ping"}`` every ping interval; a connection that sent nothing (not even a pong) for two
  ping intervals is aborted (``TimeoutError``) and reopened;
* a frame or a fragmented message larger than ``MAX_FRAME_BYTES`` closes the connection with 1009;
  text and binary messages are both forwarded; fragmented messages are reassembled;
* a server CLOSE is answered and the socket closed: 1000/1001 (or no code) end the session as
  ``closed``, other codes (or no close frame: 1006) as ``closed: code N``; protocol pings are
  answered by picows;
* ``wss://`` uses a default TLS context (system CA store, ``SSL_CERT_FILE`` honoured); no
  permessage-deflate (picows has none; Bybit does not require it).

picows logs through the standard library; its logger is silenced here (the stream logs the reason
of every disconnect itself).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import zmq
from picows import (
    WSCloseCode,
    WSError,
    WSFrame,
    WSListener,
    WSMsgType,
    WSProtocolError,
    WSTransport,
    ws_connect,
)

from services.common.picows_parts import Fragments, quiet_logger
from services.executor.adapters.private_ws import (
    MAX_FRAME_BYTES,
    OPEN_TIMEOUT,
    PING_FRAME,
    SUBSCRIBE_FRAME,
    PrivateStream,
    StreamClosed,
    auth_frame,
    check_auth,
    is_subscribe_ack,
)

#: The library's errors that mean "reconnect" (handshake refused, bad URL, protocol errors).
ERRORS: tuple[type[BaseException], ...] = (WSError,)
#: Close codes received that end a session normally (those of websockets' ConnectionClosedOK).
NORMAL_CLOSE = (1000, 1001, 1005)
#: Seconds a closing handshake may take before the socket is cut.
CLOSE_TIMEOUT = 1.0
_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONTINUATION = WSMsgType.CONTINUATION
_CLOSE = WSMsgType.CLOSE


class _Listener(WSListener):
    """Frames of one socket: queued for the handshake, then pushed to the executor's loop."""

    def __init__(self, send: Callable[[bytes], Any]) -> None:
        super().__init__()
        self.send = send
        #: True once subscribed: frames go straight to ``send``.
        self.forward = False
        #: Set on every message; the watchdog clears it.
        self.seen = False
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.fragments = Fragments(MAX_FRAME_BYTES)
        #: Close code received from the server (None: no close frame came).
        self.close_code: int | None = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        mt = frame.msg_type
        if (
            (mt is _TEXT or mt is _BINARY)
            and frame.fin
            and self.fragments.parts is None
            and not transport.is_close_frame_sent
        ):
            self.seen = True
            if self.forward:
                self.send(frame.get_payload_as_bytes())
            else:
                self.inbox.put_nowait(frame.get_payload_as_bytes())
        else:
            self._other(transport, frame, mt)

    def _other(self, transport: WSTransport, frame: WSFrame, mt: WSMsgType) -> None:
        """Everything but a whole message on an open connection."""
        if mt is _CLOSE:
            code = frame.get_close_code()
            self.close_code = int(code.value)
            transport.send_close(code if code is not WSCloseCode.NO_INFO else WSCloseCode.OK)
            transport.disconnect()
        elif transport.is_close_frame_sent:
            # closing: nothing more is taken. picows goes on parsing after a protocol error (an
            # oversized frame among them) until it disconnects; none of that may be forwarded
            return
        elif mt is _TEXT or mt is _BINARY or mt is _CONTINUATION:
            raw = self.fragments.add(transport, frame)
            if raw is not None:
                self.seen = True
                if self.forward:
                    self.send(raw)
                else:
                    self.inbox.put_nowait(raw)
        # pings are answered by picows; pongs are not expected

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.inbox.put_nowait(None)

    async def recv(self, within: float) -> bytes:
        """The next queued message (handshake only) within ``within`` s; StreamClosed once the
        socket is gone."""
        raw = await asyncio.wait_for(self.inbox.get(), within)
        if raw is None:
            self.inbox.put_nowait(None)
            raise StreamClosed(f"code {self.close_code or 1006}")
        return raw

    def start_forwarding(self) -> None:
        """Push what came after the ack, then every frame as it arrives."""
        while not self.inbox.empty():
            raw = self.inbox.get_nowait()
            if raw is None:
                self.inbox.put_nowait(None)
                break
            self.send(raw)
        self.forward = True


def _ssl_context(url: str) -> ssl.SSLContext | None:
    return ssl.create_default_context() if url.startswith("wss://") else None


def _send(transport: WSTransport, payload: bytes) -> None:
    if not transport.is_disconnected and not transport.is_close_frame_sent:
        transport.send(_TEXT, payload)


async def session(stream: PrivateStream, push: zmq.Socket[bytes]) -> None:
    """Serve one connection with ``picows`` until it ends (see the module docstring)."""
    stop = stream._stop
    assert stop is not None
    listener = _Listener(push.send)
    async with asyncio.timeout(OPEN_TIMEOUT):
        transport, _ = await ws_connect(
            lambda: listener,
            stream.url,
            ssl_context=_ssl_context(stream.url),
            websocket_handshake_timeout=OPEN_TIMEOUT,
            logger_name=quiet_logger("tickwire.executor.picows"),
            enable_auto_ping=False,
            enable_auto_pong=True,
            max_frame_size=MAX_FRAME_BYTES,
        )
    closed = asyncio.ensure_future(transport.wait_disconnected())
    graceful = True
    try:
        _send(transport, auth_frame(stream.signer, stream.offset_ms()))
        check_auth(await listener.recv(OPEN_TIMEOUT))
        _send(transport, SUBSCRIBE_FRAME)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OPEN_TIMEOUT
        while not is_subscribe_ack(raw := await listener.recv(max(0.1, deadline - loop.time()))):
            push.send(raw)  # frames before the ack are forwarded too
        stream._on_subscribed(push)
        listener.start_forwarding()
        stopped = asyncio.ensure_future(stop.wait())
        keeper = asyncio.ensure_future(_keepalive(transport, listener, stream.ping_interval))
        try:
            await asyncio.wait({closed, stopped, keeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            keeper.cancel()
        if keeper.done() and not keeper.cancelled() and keeper.exception() is not None:
            graceful = False  # not even a pong for two ping intervals: the connection is dead
            raise keeper.exception()  # type: ignore[misc]
        by_us = not closed.done()  # stop was asked: we close it
    finally:
        await _shut(transport, closed, graceful)
    if not by_us:
        _why_closed(listener, closed)


async def _keepalive(transport: WSTransport, listener: _Listener, ping_interval: float) -> None:
    """Ping every ``ping_interval``; raise TimeoutError when nothing came for two intervals."""
    loop = asyncio.get_running_loop()
    limit = 2 * ping_interval
    step = min(1.0, limit / 4)
    last = loop.time()
    next_ping = last + ping_interval
    while True:
        await asyncio.sleep(max(0.0, min(step, next_ping - loop.time())))
        now = loop.time()
        if listener.seen:
            listener.seen = False
            last = now
        elif now - last > limit:
            raise TimeoutError
        if now >= next_ping:
            _send(transport, PING_FRAME)
            next_ping = now + ping_interval


async def _shut(transport: WSTransport, closed: asyncio.Future[None], graceful: bool) -> None:
    """Close the socket (a closing handshake when ``graceful``, else cut) and wait for it."""
    if not closed.done():
        if graceful:
            if not transport.is_close_frame_sent:
                transport.send_close(WSCloseCode.OK)
            try:
                await asyncio.wait_for(asyncio.shield(closed), CLOSE_TIMEOUT)
            except TimeoutError:
                pass
        transport.disconnect(graceful=False)
    await asyncio.gather(closed, return_exceptions=True)


def _why_closed(listener: _Listener, closed: asyncio.Future[None]) -> None:
    """Return for a normal close; raise StreamClosed (or the callback's error) otherwise."""
    exc = closed.exception()
    if listener.fragments.oversized or (isinstance(exc, WSProtocolError) and int(exc.code) == 1009):
        raise StreamClosed("code 1009 (message too big)")
    if isinstance(exc, WSProtocolError):
        raise StreamClosed(f"code {int(exc.code)} ({exc})")
    if exc is not None and not isinstance(exc, OSError):
        raise exc  # raised by the frame callback (e.g. the PUSH socket): not a connection matter
    code = listener.close_code
    if code not in NORMAL_CLOSE:
        raise StreamClosed(f"code {code or 1006}")
