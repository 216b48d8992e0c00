"""The ``websockets`` transport of the feed (``feed_ws_client = "websockets"``, the fallback).

One asyncio task per connection receives frames (``recv(decode=False)``: bytes, no UTF-8
decode), stamps the local receive time, hands them to the session and publishes what it
returns - no per-frame log, no per-frame Prometheus call; during a burst (frames already queued
in websockets) messages are published in batches of up to ``MAX_BATCH``, flushed before the loop
would wait for the network. A second task sends ``{"op":"ping"}`` and enforces the pong deadline.
Reconnects, backoff and statuses are in :class:`~services.feed.adapters.connection.BaseConnection`.
"""

from __future__ import annotations

import asyncio
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from services.common.wire import BusMessage
from services.feed.adapters.connection import MAX_BATCH, OPEN_TIMEOUT, BaseConnection, PongTimeout

__all__ = ["MAX_BATCH", "Connection", "PongTimeout", "WebsocketsConnection"]


class WebsocketsConnection(BaseConnection):
    """A self-healing connection for one session, on the ``websockets`` library."""

    client = "websockets"
    ws: ClientConnection | None = None

    def _forget_socket(self) -> None:
        self.ws = None

    async def _connect_and_serve(self) -> str:
        try:
            async with connect(
                self.url,
                max_size=self.max_frame_bytes,
                ping_interval=None,
                compression=None,
                open_timeout=OPEN_TIMEOUT,
                close_timeout=1,
                max_queue=1024,
            ) as ws:
                self.ws = ws
                self._on_open()
                await self.run_actions()
                return await self._serve(ws)
        except ConnectionClosed as exc:
            return self._closed_reason(exc)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            return f"connect failed: {type(exc).__name__}: {exc}"

    def _closed_reason(self, exc: ConnectionClosed) -> str:
        code = exc.rcvd.code if exc.rcvd is not None else (exc.sent.code if exc.sent is not None else 1006)
        return self._close_reason(code)

    async def _serve(self, ws: ClientConnection) -> str:
        receiver = asyncio.ensure_future(self._receive(ws))
        keeper = asyncio.ensure_future(self._keepalive())
        try:
            done, _ = await asyncio.wait({receiver, keeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receiver, keeper):
                task.cancel()
            await asyncio.gather(receiver, keeper, return_exceptions=True)
        exc = next(iter(done)).exception()
        if isinstance(exc, PongTimeout):
            self.session.stats.pong_timeouts += 1
            return "pong timeout"
        if isinstance(exc, ConnectionClosed):
            return self._closed_reason(exc)
        if exc is not None:
            raise exc
        return "closed"

    async def _send_text(self, payload: bytes) -> None:
        ws = self.ws
        if ws is not None:
            await ws.send(payload, text=True)

    # ------------------------------------------------------------------ hot path

    async def _receive(self, ws: ClientConnection) -> None:
        session = self.session
        on_frame = session.on_frame
        publish = self.publish
        recorder = self.recorder
        category = session.category
        recv = ws.recv
        time_ns = time.time_ns
        # Frames already received by websockets but not yet read (private, optional): while
        # some are queued, publishing is batched, so the ZMQ I/O thread wakes once per burst
        # instead of once per message. Before recv() would block, the batch is flushed.
        queued = getattr(getattr(ws, "recv_messages", None), "frames", None)
        if queued is not None and not hasattr(queued, "__len__"):
            queued = None
        batch: list[tuple[str, BusMessage]] = []
        try:
            while True:
                if batch and (queued is None or not len(queued) or len(batch) >= MAX_BATCH):
                    for topic, msg in batch:
                        publish(topic, msg)
                    batch.clear()
                raw = await recv(decode=False)
                now = time_ns()
                out = on_frame(raw, now)
                if out is not None:
                    batch.append(out)
                if recorder is not None:
                    recorder(category, raw, now, out is not None)
                if session.actions:
                    for topic, msg in batch:
                        publish(topic, msg)
                    batch.clear()
                    await self.run_actions()
        finally:
            for topic, msg in batch:
                publish(topic, msg)

    # ------------------------------------------------------------------ actions

    async def run_actions(self) -> None:
        session = self.session
        while session.actions:
            actions, session.actions = session.actions, []
            for action in actions:
                payload = self._carry_out(action)
                ws = self.ws
                if payload is not None and ws is not None:
                    try:
                        await ws.send(payload, text=True)
                    except ConnectionClosed:
                        pass
        self._check_live()


#: Backward-compatible name.
Connection = WebsocketsConnection
