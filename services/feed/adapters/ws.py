"""One Bybit public WebSocket connection: connect, subscribe, receive, keep alive, reconnect.

The shell around :class:`~services.feed.core.session.Session`. One asyncio task per connection
receives frames (``recv(decode=False)``: bytes, no UTF-8 decode), stamps the local receive time,
hands them to the session and publishes what it returns - no per-frame log, no per-frame
Prometheus call; during a burst (frames already queued in websockets) messages are published in
batches of up to ``MAX_BATCH``, flushed before the loop would wait for the network. A second
task sends ``{"op":"ping"}`` and enforces the pong deadline. When the
socket drops (or a pong is late), every symbol of the connection is published ``disconnected``
and the connection is reopened after a capped, jittered exponential backoff (reset once the
connection was healthy: all subscriptions acknowledged); the session then resubscribes everything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from services.common import topics
from services.common.backoff import Backoff
from services.common.log import get_logger
from services.common.wire import BusMessage, StreamStatus
from services.feed.core.heartbeat import PING_PAYLOAD
from services.feed.core.session import Log, Send, Session, Status

Publish = Callable[[str, BusMessage], Any]
#: Most messages held back while more frames are queued (bounds the added latency).
MAX_BATCH = 64
#: ``recorder(category, raw frame, recv_ns, published)``.
Recorder = Callable[[str, bytes, int, bool], None]


class PongTimeout(Exception):
    """No pong within the deadline."""


class Connection:
    """A self-healing connection for one :class:`Session` (one category, a set of topics)."""

    def __init__(
        self,
        session: Session,
        url: str,
        *,
        publish: Publish,
        backoff: Backoff,
        max_frame_bytes: int,
        on_state: Callable[[str, str], None] | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.session = session
        self.conn_id = session.plan.conn_id
        self.url = url
        self.publish = publish
        self.backoff = backoff
        self.max_frame_bytes = max_frame_bytes
        self.on_state = on_state
        self.recorder = recorder
        self.state = "down"
        self.ws: ClientConnection | None = None
        self.log = get_logger("feed.ws").bind(conn=self.conn_id, url=url)
        self._status_topics: dict[str, str] = {}
        self._background: set[asyncio.Future[None]] = set()

    # ------------------------------------------------------------------ lifecycle

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            if self.on_state is not None:
                self.on_state(self.conn_id, state)

    async def run(self) -> None:
        """Connect and serve forever (until cancelled)."""
        first = True
        while True:
            if not first:
                self.session.stats.reconnects += 1
            first = False
            self._set_state("connecting")
            try:
                reason = await self._connect_and_serve()
            except Exception as exc:  # a bug must cost a reconnect, not the whole feed
                self.log.exception("connection_failed")
                stats = self.session.stats.malformed
                stats["internal_error"] = stats.get("internal_error", 0) + 1
                reason = f"internal error: {type(exc).__name__}"
            self.ws = None
            self.session.disconnected(reason)
            await self.run_actions()
            delay = self.backoff.next_delay()
            self._set_state("backoff")
            self.log.warning("disconnected", reason=reason, retry_in_s=round(delay, 3))
            await asyncio.sleep(delay)

    async def _connect_and_serve(self) -> str:
        try:
            async with connect(
                self.url,
                max_size=self.max_frame_bytes,
                ping_interval=None,
                compression=None,
                open_timeout=10,
                close_timeout=1,
                max_queue=1024,
            ) as ws:
                self.ws = ws
                self._set_state("subscribing")
                self.log.info("connected")
                self.session.connected(time.monotonic())
                await self.run_actions()
                return await self._serve(ws)
        except ConnectionClosed as exc:
            return self._closed_reason(exc)
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            return f"connect failed: {type(exc).__name__}: {exc}"

    def _closed_reason(self, exc: ConnectionClosed) -> str:
        code = exc.rcvd.code if exc.rcvd is not None else (exc.sent.code if exc.sent is not None else 1006)
        if code == 1009:
            stats = self.session.stats.malformed
            stats["oversized"] = stats.get("oversized", 0) + 1
            return f"frame larger than {self.max_frame_bytes} bytes"
        return f"closed: code {code}"

    async def _serve(self, ws: ClientConnection) -> str:
        receiver = asyncio.ensure_future(self._receive(ws))
        keeper = asyncio.ensure_future(self._keepalive(ws))
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

    async def _keepalive(self, ws: ClientConnection) -> None:
        ping = self.session.ping
        while True:
            await asyncio.sleep(ping.next_wakeup(time.monotonic()))
            what = ping.poll(time.monotonic())
            if what == "timeout":
                raise PongTimeout
            if what == "ping":
                await ws.send(PING_PAYLOAD, text=True)

    # ------------------------------------------------------------------ actions

    async def run_actions(self) -> None:
        """Carry out what the session asked for: send requests, publish statuses, log."""
        session = self.session
        while session.actions:
            actions, session.actions = session.actions, []
            for action in actions:
                if isinstance(action, Send):
                    ws = self.ws
                    if ws is not None:
                        try:
                            await ws.send(action.payload, text=True)
                        except ConnectionClosed:
                            pass
                elif isinstance(action, Status):
                    self._publish_status(action)
                elif isinstance(action, Log):
                    getattr(self.log, action.level)(action.event, **action.fields)
        if self.state == "subscribing" and session.all_acked():
            self._set_state("live")
            self.backoff.reset()
            self.log.info("subscribed", topics=len(session.routes), errors=len(session.errors))

    def _publish_status(self, st: Status) -> None:
        topic = self._status_topics.get(st.symbol)
        if topic is None:
            topic = self._status_topics[st.symbol] = topics.topic(topics.STATUS, st.category, st.symbol)
        self.publish(topic, StreamStatus(st.category, st.symbol, st.state, st.reason, time.time_ns()))

    def request_resnapshot(self, symbol: str) -> str:
        """Ask for a fresh book snapshot of ``symbol`` (see :meth:`Session.resnapshot`)."""
        result = self.session.resnapshot(symbol, time.monotonic())
        if self.session.actions:
            task = asyncio.ensure_future(self.run_actions())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return result
