"""The ``picows`` transport of the feed (``feed_ws_client = "picows"``, the default).

picows parses WebSocket frames in C and calls :meth:`_Listener.on_ws_frame` for each one, on
the event loop, straight from the socket read: no task, no queue, no await per frame. The whole
per-frame work is synchronous (decode, normalise, publish), so it is done right there; messages
are published in batches of up to ``MAX_BATCH`` and flushed on the last frame of each socket read
(``WSFrame.last_in_buffer``), as the websockets transport flushes before it would wait.

Behaviour matches the websockets transport:

* a frame (or a fragmented message) larger than ``max_frame_bytes`` closes the connection with
  1009; it is counted ``oversized`` and reconnected (picows checks each frame header; the adapter
  checks the reassembled size of fragmented messages);
* text and binary messages are both read; fragmented messages are reassembled;
* a server CLOSE is answered and the socket closed; its code is the reason (``closed: code N``;
  none: 1006); protocol pings are answered by picows;
* permessage-deflate is not offered (picows has none; Bybit does not require it);
* ``wss://`` uses a default TLS context (system CA store, ``SSL_CERT_FILE`` honoured).

picows logs through the standard library; its logger is silenced here (the feed logs the
reason of every disconnect itself).
"""

from __future__ import annotations

import asyncio
import ssl
import time

from picows import (
    WSCloseCode,
    WSError,
    WSFrame,
    WSInvalidURL,
    WSListener,
    WSMsgType,
    WSProtocolError,
    WSTransport,
    ws_connect,
)

from services.common.picows_parts import Fragments, quiet_logger
from services.common.wire import BusMessage
from services.feed.adapters.connection import MAX_BATCH, OPEN_TIMEOUT, BaseConnection, PongTimeout

#: Initial size of picows' read buffer (it grows on its own): one socket read takes a burst.
READ_BUFFER_BYTES = 256 * 1024
_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONTINUATION = WSMsgType.CONTINUATION
_CLOSE = WSMsgType.CLOSE


class _Listener(WSListener):
    """Frames of one socket into the session (one listener per socket)."""

    def __init__(self, conn: PicowsConnection) -> None:
        super().__init__()
        self.conn = conn
        session = conn.session
        self.session = session
        self.on_frame = session.on_frame
        self.publish = conn.publish
        self.recorder = conn.recorder
        self.category = session.category
        self.batch: list[tuple[str, BusMessage]] = []
        self.fragments = Fragments(conn.max_frame_bytes)

    def on_ws_connected(self, transport: WSTransport) -> None:
        # Called when the handshake completes, before any frame is delivered.
        self.conn.transport = transport
        self.conn._on_open()
        self.conn.run_actions_now()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        mt = frame.msg_type
        if (
            (mt is _TEXT or mt is _BINARY)
            and frame.fin
            and self.fragments.parts is None
            and not transport.is_close_frame_sent
        ):
            raw = frame.get_payload_as_bytes()
        elif mt is _CLOSE:
            self._flush()
            code = frame.get_close_code()
            transport.send_close(code if code is not WSCloseCode.NO_INFO else WSCloseCode.OK)
            transport.disconnect()
            return
        elif transport.is_close_frame_sent:
            # closing: nothing more is read. After a protocol error (a frame above
            # max_frame_size among them) picows sends its close but goes on parsing and
            # delivering - the offending frame too - until it disconnects
            return
        elif mt is _TEXT or mt is _BINARY or mt is _CONTINUATION:
            got = self._reassemble(transport, frame)
            if got is None:
                return
            raw = got
        else:
            return  # pings are answered by picows; pongs are not expected
        now = time.time_ns()
        batch = self.batch
        try:
            out = self.on_frame(raw, now)
            if out is not None:
                batch.append(out)
            recorder = self.recorder
            if recorder is not None:
                recorder(self.category, raw, now, out is not None)
        finally:
            if self.session.actions:
                self._flush()
                self.conn.run_actions_now()
            elif frame.last_in_buffer or len(batch) >= MAX_BATCH:
                self._flush()

    def _reassemble(self, transport: WSTransport, frame: WSFrame) -> bytes | None:
        """Collect a fragmented message; publish what came before an oversized one."""
        raw = self.fragments.add(transport, frame)
        if self.fragments.oversized:
            self._flush()
        return raw

    def _flush(self) -> None:
        batch = self.batch
        if batch:
            publish = self.publish
            for topic, msg in batch:
                publish(topic, msg)
            batch.clear()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._flush()


class PicowsConnection(BaseConnection):
    """A self-healing connection for one session, on the ``picows`` library."""

    client = "picows"
    transport: WSTransport | None = None

    def _forget_socket(self) -> None:
        self.transport = None

    def _ssl_context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context() if self.url.startswith("wss://") else None

    async def _connect_and_serve(self) -> str:
        listener = _Listener(self)
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                transport, _ = await ws_connect(
                    lambda: listener,
                    self.url,
                    ssl_context=self._ssl_context(),
                    websocket_handshake_timeout=OPEN_TIMEOUT,
                    logger_name=quiet_logger("tickwire.feed.picows"),
                    enable_auto_ping=False,
                    enable_auto_pong=True,
                    max_frame_size=self.max_frame_bytes,
                    read_buffer_init_size=READ_BUFFER_BYTES,
                )
        except (OSError, TimeoutError, WSError, WSInvalidURL) as exc:
            return f"connect failed: {type(exc).__name__}: {exc}"
        return await self._serve(transport, listener)

    async def _serve(self, transport: WSTransport, listener: _Listener) -> str:
        closed = asyncio.ensure_future(transport.wait_disconnected())
        keeper = asyncio.ensure_future(self._keepalive())
        try:
            done, _ = await asyncio.wait({closed, keeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            keeper.cancel()
            if not closed.done():
                transport.send_close(WSCloseCode.OK)
                transport.disconnect()
                try:
                    await asyncio.wait_for(asyncio.shield(closed), 1.0)
                except TimeoutError:
                    transport.disconnect(graceful=False)
            await asyncio.gather(closed, keeper, return_exceptions=True)
        if keeper in done and isinstance(keeper.exception(), PongTimeout):
            self.session.stats.pong_timeouts += 1
            return "pong timeout"
        if keeper in done and keeper.exception() is not None:
            raise keeper.exception()  # type: ignore[misc]
        exc = closed.exception()
        if listener.fragments.oversized or (isinstance(exc, WSProtocolError) and int(exc.code) == 1009):
            return self._close_reason(1009)
        if exc is not None and not isinstance(exc, WSProtocolError | OSError):
            raise exc  # the session raised: counted as an internal error, reconnected
        return self._close_reason(self._close_code(transport))

    @staticmethod
    def _close_code(transport: WSTransport) -> int:
        """The close code received (else the one sent); 1005 for none given, 1006 for no close."""
        hs = transport.close_handshake
        info = None if hs is None else (hs.recv if hs.recv is not None else hs.sent)
        if info is None:
            return 1006
        return int(info.code.value) or 1005

    async def _send_text(self, payload: bytes) -> None:
        self._send_now(payload)

    def _send_now(self, payload: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_disconnected and not transport.is_close_frame_sent:
            transport.send(_TEXT, payload)

    # ------------------------------------------------------------------ actions

    def run_actions_now(self) -> None:
        """Carry out the session's actions synchronously (picows sends without awaiting)."""
        session = self.session
        while session.actions:
            actions, session.actions = session.actions, []
            for action in actions:
                payload = self._carry_out(action)
                if payload is not None:
                    self._send_now(payload)
        self._check_live()

    async def run_actions(self) -> None:
        self.run_actions_now()
