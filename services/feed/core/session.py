"""The protocol logic of one feed connection: frames in, bus messages and actions out. Pure.

A :class:`Session` lives as long as its connection plan (it survives reconnects). The shell
calls :meth:`Session.connected` when a socket opens, :meth:`Session.on_frame` for every frame
(with the local receive time) and :meth:`Session.disconnected` when it drops. Side effects are
queued in :attr:`Session.actions` (:class:`Send` a request, publish a :class:`Status`, :class:`Log`
once) and carried out by the shell; ``on_frame`` returns the bus message to publish, if any.

Subscription bookkeeping:

* topics are subscribed in batches (:func:`~services.feed.core.plan.batches`); each request has a
  ``req_id`` (acks without one are matched to the oldest request, Bybit answers in order);
* a symbol is announced ``subscribed`` once all its topics are acked; data that arrives before the
  ack (a snapshot may) is published normally;
* ``error:handler not found`` makes a topic ``error`` for good (one log line, a ``StreamStatus``
  ``error``, never retried - not even after a reconnect); the other topics of the refused
  request are asked for again; ``already subscribed`` counts as success;
* Bybit's ``u`` is checked per book topic (not on ``orderbook.1``): a delta whose ``u`` is not
  the previous + 1 is a gap - counted, and the topic is resubscribed (unsubscribe + subscribe
  gives a fresh snapshot; ``StreamStatus`` ``resubscribing``). Deltas are published anyway: the
  book service does its own checking.
"""

from __future__ import annotations

from bisect import bisect_left as _bisect
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgspec

from services.common.wire import BookUpdate, BusMessage
from services.feed.core import exchange_schemas as xs
from services.feed.core import normalize
from services.feed.core.heartbeat import PingState
from services.feed.core.normalize import Route, TickerMerger
from services.feed.core.plan import ConnectionPlan, batches
from services.feed.core.stats import LAG_BOUNDS_MS, Stats

#: Repeated resnapshot requests for one topic within this many seconds are coalesced.
COALESCE_WINDOW = 1.0

_json = msgspec.json.Encoder()
_decode_book = xs.book_frame_decoder.decode


@dataclass(frozen=True, slots=True)
class Send:
    """Send this text frame on the connection."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Status:
    """Publish a StreamStatus for one symbol."""

    category: str
    symbol: str
    state: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Log:
    """Log one line (events that are rare by construction: once per kind, per topic, ...)."""

    event: str
    level: str = "info"
    fields: dict[str, Any] = field(default_factory=dict)


Action = Send | Status | Log


class UnknownTopic(LookupError):
    """A resnapshot was asked for a symbol this session does not carry."""


@dataclass(slots=True)
class _Request:
    req_id: str
    op: str
    topics: list[str]


class Session:
    """State and decisions of one connection (see the module docstring)."""

    def __init__(
        self, plan: ConnectionPlan, *, ping_interval: float = 20.0, pong_timeout: float = 10.0
    ) -> None:
        self.plan = plan
        self.category = plan.category
        self.routes: dict[str, Route] = {t: normalize.route_for(plan.category, t) for t in plan.topics}
        self.by_symbol: dict[str, list[str]] = {}
        for route in self.routes.values():
            self.by_symbol.setdefault(route.symbol, []).append(route.exchange_topic)
        #: ``pending``, ``subscribed``, ``error`` or ``idle`` (not connected) per exchange topic.
        self.topic_state: dict[str, str] = dict.fromkeys(self.routes, "idle")
        self.errors: dict[str, str] = {}
        self.announced: set[str] = set()
        self.tickers = TickerMerger()
        self.stats = Stats()
        self.ping = PingState(ping_interval, pong_timeout)
        self.actions: list[Action] = []
        self.is_connected = False
        self._pending: deque[_Request] = deque()
        self._req_n = 0
        self._last_resnapshot: dict[str, float] = {}
        self._seen_malformed: set[str] = set()

    # ------------------------------------------------------------------ connection lifecycle

    def connected(self, now: float) -> None:
        """A socket opened at monotonic ``now``: queue the subscribe requests."""
        self.is_connected = True
        self.ping.start(now)
        self._pending.clear()
        self.announced.clear()
        self.tickers.reset()
        wanted = [t for t in self.routes if t not in self.errors]
        for route in self.routes.values():
            route.synced = False
        for topic in wanted:
            self.topic_state[topic] = "pending"
        for batch in batches(self.category, wanted):
            self._request("subscribe", batch)

    def disconnected(self, reason: str) -> None:
        """The socket dropped: every symbol of the connection is ``disconnected``."""
        was = self.is_connected
        self.is_connected = False
        self._pending.clear()
        for topic in self.routes:
            if topic not in self.errors:
                self.topic_state[topic] = "idle"
        self.announced.clear()
        if was:
            for symbol in self.by_symbol:
                self.actions.append(Status(self.category, symbol, "disconnected", reason))

    def resnapshot(self, symbol: str, now: float, reason: str = "control") -> str:
        """Ask Bybit for a fresh snapshot of ``symbol``'s book (unsubscribe + subscribe).

        Returns ``"requested"``, ``"coalesced"`` (asked less than a second ago and that snapshot
        has not arrived yet: it serves both) or ``"not_connected"`` (a snapshot will follow the
        reconnect anyway).

        Raises:
            UnknownTopic: this session carries no book topic for ``symbol``, or it is in error.
        """
        topic = next((t for t in self.by_symbol.get(symbol, ()) if self.routes[t].kind == "book"), None)
        if topic is None:
            raise UnknownTopic(f"no book topic for {self.category}:{symbol} on this connection")
        if topic in self.errors:
            raise UnknownTopic(f"{topic} is in error: {self.errors[topic]}")
        last = self._last_resnapshot.get(topic)
        if last is not None and now - last < COALESCE_WINDOW:
            return "coalesced"
        if not self.is_connected:
            return "not_connected"
        self._last_resnapshot[topic] = now
        self._resubscribe(topic, reason)
        return "requested"

    def _resubscribe(self, topic: str, reason: str) -> None:
        route = self.routes[topic]
        route.synced = False
        self.stats.resubscribes[reason] = self.stats.resubscribes.get(reason, 0) + 1
        self.topic_state[topic] = "pending"
        self.announced.discard(route.symbol)
        self._request("unsubscribe", [topic])
        self._request("subscribe", [topic])
        self.actions.append(Status(self.category, route.symbol, "resubscribing", reason))

    def _request(self, op: str, topics: list[str]) -> None:
        self._req_n += 1
        req_id = f"{self.plan.conn_id}.{self._req_n}"
        self._pending.append(_Request(req_id, op, topics))
        self.actions.append(Send(_json.encode({"req_id": req_id, "op": op, "args": topics})))

    # ------------------------------------------------------------------ frames

    def on_frame(self, raw: bytes, recv_ns: int) -> tuple[str, BusMessage] | None:
        """Handle one received frame; return ``(bus topic, message)`` to publish, or None.

        The order-book path is written flat on purpose: it runs for most frames.
        """
        if raw.startswith(xs.BOOK_PREFIX):
            try:
                frame = _decode_book(raw)
            except xs.DecodeErrors as exc:
                self._malformed(
                    "book_schema" if isinstance(exc, msgspec.ValidationError) else "not_json", raw, exc
                )
                return None
            route = self.routes.get(frame.topic)
            if route is None or route.kind != "book":
                self._malformed("unexpected_topic", raw, None)
                return None
            stats = self.stats
            stats.book_messages += 1
            stats.book_bytes += len(raw)
            ts = frame.ts
            lag = stats.lag
            lag_ms = recv_ns // 1_000_000 - ts
            lag.buckets[_bisect(LAG_BOUNDS_MS, lag_ms)] += 1
            lag.total_ms += lag_ms
            d = frame.data
            if self._last_resnapshot and frame.type == "snapshot":
                self._last_resnapshot.pop(frame.topic, None)  # that request is served
            if route.gap_check:
                if route.synced and d.u == route.last_u + 1 and frame.type == "delta":
                    route.last_u = d.u
                else:
                    self._check_u(route, frame.type, d.u)
            return route.wire_topic, BookUpdate(
                route.category,
                route.symbol,
                route.depth,
                frame.type,
                d.b,
                d.a,
                d.u,
                d.seq,
                ts,
                frame.cts,
                recv_ns,
            )
        try:
            env = xs.envelope_decoder.decode(raw)
        except xs.DecodeErrors as exc:
            self._malformed(
                "envelope_schema" if isinstance(exc, msgspec.ValidationError) else "not_json", raw, exc
            )
            return None
        if not env.topic:
            self.stats.messages["control"] += 1
            self.stats.bytes["control"] += len(raw)
            self._on_control(env, raw)
            return None
        return self._on_data(env, raw, recv_ns)

    def _on_data(self, env: xs.Envelope, raw: bytes, recv_ns: int) -> tuple[str, BusMessage] | None:
        route = self.routes.get(env.topic)
        if route is None:
            self._malformed("unexpected_topic", raw, None)
            return None
        kind = route.kind
        if env.type not in ("snapshot", "delta"):
            self._malformed(f"{kind}_schema", raw, None)
            return None
        msg: BusMessage
        try:
            if kind == "book":
                data = xs.book_data_decoder.decode(env.data)
                if self._last_resnapshot and env.type == "snapshot":
                    self._last_resnapshot.pop(env.topic, None)
                if route.gap_check:
                    self._check_u(route, env.type, data.u)
                msg = normalize.book_update_parts(route, env.type, data, env.ts, env.cts, recv_ns)  # type: ignore[arg-type]
                stats = self.stats
                stats.book_messages += 1
                stats.book_bytes += len(raw)
                stats.lag.observe_ms(recv_ns // 1_000_000 - env.ts)
                return route.wire_topic, msg
            elif kind == "trade":
                msg = normalize.trades(route, xs.trades_decoder.decode(env.data), env.ts, recv_ns)
            else:
                type_ = "snapshot" if self.category == "spot" else env.type
                fields = xs.ticker_fields(env.data)
                msg = self.tickers.apply(route, type_, fields, env.cs, env.ts, recv_ns)
        except xs.DecodeErrors as exc:
            self._malformed(f"{kind}_schema", raw, exc)
            return None
        stats = self.stats
        stats.messages[kind] += 1
        stats.bytes[kind] += len(raw)
        stats.lag.observe_ms(recv_ns // 1_000_000 - env.ts)
        return route.wire_topic, msg

    def _check_u(self, route: Route, type_: str, u: int) -> None:
        if type_ == "snapshot":
            route.last_u = u
            route.synced = True
            return
        if not route.synced:
            return
        last = route.last_u
        if u == last + 1:
            route.last_u = u
        elif u <= last and u != 1:
            self.stats.stale_u += 1
        else:
            self.stats.u_gaps += 1
            self.actions.append(
                Log("u_gap", "warning", {"topic": route.exchange_topic, "expected": last + 1, "got": u})
            )
            route.last_u = u
            if self.is_connected:
                self._resubscribe(route.exchange_topic, "gap")
            else:
                route.synced = False

    # ------------------------------------------------------------------ control frames

    def _on_control(self, env: xs.Envelope, raw: bytes) -> None:
        if env.ret_msg == "pong" or env.op == "pong":
            self.ping.on_pong()
            return
        if env.op in ("subscribe", "unsubscribe") or env.success is not None:
            request = self._match(env)
            if request is None:
                self._malformed("unmatched_ack", raw, None)
                return
            if request.op == "subscribe":
                if env.success:
                    self._subscribed(request.topics)
                else:
                    self._subscribe_failed(request, env.ret_msg)
            return
        self._malformed("unexpected_control", raw, None)

    def _match(self, env: xs.Envelope) -> _Request | None:
        pending = self._pending
        if env.req_id:
            for request in pending:
                if request.req_id == env.req_id:
                    pending.remove(request)
                    return request
            return None
        for request in pending:
            if not env.op or request.op == env.op:
                pending.remove(request)
                return request
        return None

    def _subscribed(self, topics: list[str]) -> None:
        state = self.topic_state
        for topic in topics:
            if state.get(topic) == "pending":
                state[topic] = "subscribed"
        symbols = {self.routes[t].symbol for t in topics if t in self.routes}
        for symbol in sorted(symbols):
            mine = self.by_symbol[symbol]
            if symbol in self.announced or any(t in self.errors for t in mine):
                continue
            if all(state[t] == "subscribed" for t in mine):
                self.announced.add(symbol)
                self.actions.append(Status(self.category, symbol, "subscribed", ""))

    def _subscribe_failed(self, request: _Request, ret_msg: str) -> None:
        self.stats.subscribe_errors += 1
        named = ret_msg.rpartition("topic:")[2] if "topic:" in ret_msg else ""
        if named in request.topics and "already subscribed" in ret_msg:
            self._subscribed([named])
        elif named in request.topics:
            self._topic_error(named, ret_msg)
        else:
            for topic in request.topics:
                self._topic_error(topic, ret_msg)
            return
        rest = [t for t in request.topics if t != named and self.topic_state.get(t) == "pending"]
        if rest:
            self.stats.resubscribes["retry"] += 1
            self._request("subscribe", rest)

    def _topic_error(self, topic: str, ret_msg: str) -> None:
        if topic in self.errors:
            return
        self.errors[topic] = ret_msg
        self.topic_state[topic] = "error"
        route = self.routes[topic]
        self.actions.append(Log("subscribe_refused", "error", {"topic": topic, "ret_msg": ret_msg}))
        self.actions.append(Status(self.category, route.symbol, "error", f"{topic}: {ret_msg}"))

    def _malformed(self, kind: str, raw: bytes, exc: Exception | None) -> None:
        counts = self.stats.malformed
        counts[kind] = counts.get(kind, 0) + 1
        if kind not in self._seen_malformed:
            self._seen_malformed.add(kind)
            fields: dict[str, Any] = {"kind": kind, "sample": raw[:200].decode("utf-8", "replace")}
            if exc is not None:
                fields["error"] = str(exc)
            self.actions.append(Log("malformed_frame", "warning", fields))

    # ------------------------------------------------------------------ introspection

    def snapshot_state(self) -> dict[str, Any]:
        """Topic states and errors, for the control endpoint's ``status``."""
        return {
            "category": self.category,
            "symbols": list(self.by_symbol),
            "topics": dict(self.topic_state),
            "errors": dict(self.errors),
            "connected": self.is_connected,
        }

    def all_acked(self) -> bool:
        """True when no topic waits for a subscribe ack."""
        return all(state != "pending" for state in self.topic_state.values())
