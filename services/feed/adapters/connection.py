"""What every WebSocket transport of the feed shares: the reconnect loop, keepalive, actions.

A transport (:mod:`services.feed.adapters.ws` for ``websockets``,
:mod:`services.feed.adapters.ws_picows` for ``picows``) subclasses :class:`BaseConnection` and
provides ``_connect_and_serve`` (open one socket, feed its frames to the
:class:`~services.feed.core.session.Session`, return why it ended), ``_send_text`` and
``run_actions``. Everything else - backoff, connection states, ``disconnected`` statuses, the
pong deadline, subscription bookkeeping - lives here or in the pure session, so both transports
behave the same. When the socket drops (or a pong is late), every symbol of the connection is
published ``disconnected`` and the connection is reopened after a capped, jittered exponential
backoff (reset once the connection was healthy: all subscriptions acknowledged); the session
then resubscribes everything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from services.common import topics
from services.common.backoff import Backoff
from services.common.log import get_logger
from services.common.wire import BusMessage, StreamStatus
from services.feed.core.heartbeat import PING_PAYLOAD
from services.feed.core.session import Action, Log, Send, Session, Status

Publish = Callable[[str, BusMessage], Any]
#: Most messages held back while more frames are queued (bounds the added latency).
MAX_BATCH = 64
#: ``recorder(category, raw frame, recv_ns, published)``.
Recorder = Callable[[str, bytes, int, bool], None]
#: Seconds allowed for TCP connect + TLS + WebSocket handshake.
OPEN_TIMEOUT = 10.0


class PongTimeout(Exception):
    """No pong within the deadline."""


class BaseConnection:
    """A self-healing connection for one :class:`Session` (one category, a set of topics)."""

    #: ``feed_ws_client`` value of the transport.
    client = ""

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
        self.log = get_logger("feed.ws").bind(conn=self.conn_id, url=url, client=self.client)
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
                self._count_malformed("internal_error")
                reason = f"internal error: {type(exc).__name__}"
            self._forget_socket()
            self.session.disconnected(reason)
            await self.run_actions()
            delay = self.backoff.next_delay()
            self._set_state("backoff")
            self.log.warning("disconnected", reason=reason, retry_in_s=round(delay, 3))
            await asyncio.sleep(delay)

    async def _connect_and_serve(self) -> str:
        """Open one socket and serve it until it ends; return the reason it ended."""
        raise NotImplementedError

    def _forget_socket(self) -> None:
        """Drop the reference to the closed socket."""
        raise NotImplementedError

    def _on_open(self) -> None:
        """The socket is open (handshake done): subscribe."""
        self._set_state("subscribing")
        self.log.info("connected")
        self.session.connected(time.monotonic())

    def _count_malformed(self, kind: str) -> None:
        stats = self.session.stats.malformed
        stats[kind] = stats.get(kind, 0) + 1

    def _close_reason(self, code: int) -> str:
        """Reason of a close with ``code`` (1009, a frame too large, is counted ``oversized``)."""
        if code == 1009:
            self._count_malformed("oversized")
            return f"frame larger than {self.max_frame_bytes} bytes"
        return f"closed: code {code}"

    async def _keepalive(self) -> None:
        """Send ``{"op":"ping"}`` on time; raise PongTimeout when a pong is overdue."""
        ping = self.session.ping
        while True:
            await asyncio.sleep(ping.next_wakeup(time.monotonic()))
            what = ping.poll(time.monotonic())
            if what == "timeout":
                raise PongTimeout
            if what == "ping":
                await self._send_text(PING_PAYLOAD)

    async def _send_text(self, payload: bytes) -> None:
        """Send one text frame if the socket is open (errors are the receive side's business)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ actions

    async def run_actions(self) -> None:
        """Carry out what the session asked for: send requests, publish statuses, log."""
        raise NotImplementedError

    def _carry_out(self, action: Action) -> bytes | None:
        """Publish a status or write a log line; return the payload of a :class:`Send`."""
        if isinstance(action, Send):
            return action.payload
        if isinstance(action, Status):
            self._publish_status(action)
        elif isinstance(action, Log):
            getattr(self.log, action.level)(action.event, **action.fields)
        return None

    def _check_live(self) -> None:
        session = self.session
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
