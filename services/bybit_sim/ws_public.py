"""WebSocket shell: ``/v5/public/{spot,linear,inverse}`` sessions, the tick loop, idle cut-off.

Every frame to a client is written synchronously with ``websockets``' ``broadcast`` (so acks,
snapshots and deltas keep their order and fan-out costs one encode per message). ``/v5/private``
is handed to ``trading.private_ws``. Connection-level faults handled here: ``drop_connections``
(abort sockets: the client sees 1006), ``malformed`` (a non-JSON or wrongly typed frame),
``pong_delay`` (``ms``), ``snapshot_before_ack``. Replayed topics are played per subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import uuid
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any, cast

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from services.bybit_sim import trading
from services.bybit_sim.context import SimContext
from services.bybit_sim.core.hub import PublicHub
from services.bybit_sim.core.protocol import PublicSession
from services.bybit_sim.core.replay import ReplayFrame, delays
from services.common.log import get_logger

CATEGORIES = ("spot", "linear", "inverse")
PUBLIC_PATHS = {f"/v5/public/{c}": c for c in CATEGORIES}
PRIVATE_PATH = "/v5/private"
#: A client whose unsent backlog exceeds this many bytes is cut off (Bybit drops slow readers).
MAX_BACKLOG = 64 * 1024 * 1024
_B32 = "0123456789abcdefghijklmnopqrstuv"


class Conn:
    """One public connection (hashable by identity)."""

    __slots__ = ("category", "last_rx", "replays", "session", "ws")

    def __init__(self, ws: ServerConnection, session: PublicSession, now: float) -> None:
        self.ws = ws
        self.session = session
        self.category = session.category
        self.last_rx = now
        self.replays: dict[str, asyncio.Task[None]] = {}


def _malformed(kind: str, topic: str) -> bytes:
    if kind == "types":
        return (
            b'{"topic":"' + topic.encode() + b'","type":"delta","ts":"soon",'
            b'"data":{"s":7,"b":"oops","a":[[1.5,null]],"u":"x","seq":null},"cts":[]}'
        )
    return b'{"topic":"' + topic.encode() + b'","type":"delta","ts":17330112006'


class PublicServer:
    """Owns the public connections and drives :class:`PublicHub` in time."""

    def __init__(self, ctx: SimContext, hub: PublicHub, replay_speed: float = 1.0) -> None:
        self.ctx = ctx
        self.hub = hub
        self.faults = ctx.faults
        self.conns: set[Conn] = set()
        self.private_count = 0
        self.replay_speed = replay_speed
        self.log = get_logger("bybit_sim.ws")
        self.rng = random.Random(ctx.settings.sim_seed)
        self._ids = itertools.count(1)
        names = ("connections_total", "dropped_idle", "dropped_fault", "dropped_slow", "bad_requests",
                 "malformed_sent", "internal_errors")  # fmt: skip
        self.stats: dict[str, int] = dict.fromkeys(names, 0)
        self.server: Server | None = None

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> int:
        s = self.ctx.settings
        self.server = await serve(
            self._handler,
            host,
            port,
            process_request=self._process_request,
            compression="deflate" if s.sim_ws_compression else None,
            ping_interval=None,
            max_size=1 << 20,
            server_header="bybit-sim",
        )
        sock = next(iter(self.server.sockets))
        return int(sock.getsockname()[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 3)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path in PUBLIC_PATHS or path == PRIVATE_PATH:
            return None
        return Response(HTTPStatus.NOT_FOUND.value, "Not Found", Headers(), b"Not Found\n")

    def _conn_id(self, category: str) -> str:
        if category == "spot":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        head = "".join(self.rng.choice(_B32) for _ in range(20))
        return f"{head}-{next(self._ids):x}"

    # --- sending ----------------------------------------------------------------------------
    @staticmethod
    def send(conns: Iterable[Conn], frame: bytes) -> None:
        broadcast([c.ws for c in conns], frame, text=True)

    # --- connections ------------------------------------------------------------------------
    async def _handler(self, ws: ServerConnection) -> None:
        path = (ws.request.path if ws.request else "").split("?", 1)[0]
        if path == PRIVATE_PATH:
            self.private_count += 1
            try:
                await trading.private_ws(self.ctx, ws)
            finally:
                self.private_count -= 1
            return
        category = PUBLIC_PATHS[path]
        conn = Conn(ws, PublicSession(category, self._conn_id(category), self.hub.topic_ok), self._mono())
        self.conns.add(conn)
        self.stats["connections_total"] += 1
        try:
            async for raw in ws:
                try:
                    self._on_frame(conn, raw)
                except Exception:  # a bug must cost one request, never the connection
                    self.stats["internal_errors"] += 1
                    self.log.exception("frame handling failed", category=category)
        except ConnectionClosed:
            pass
        finally:
            self.conns.discard(conn)
            self.hub.unsubscribe(conn, category, list(conn.session.topics))
            for task in conn.replays.values():
                task.cancel()

    def _mono(self) -> float:
        return self.ctx.clock.monotonic()

    def _on_frame(self, conn: Conn, raw: str | bytes) -> None:
        conn.last_rx = self._mono()
        out = conn.session.handle(raw)
        cat = conn.category
        if out.kind == "ping":
            delay = self.faults.get("pong_delay", category=cat)
            if delay is not None:
                self.faults.injected["pong_delay"] += 1
                loop = asyncio.get_running_loop()
                loop.call_later(float(delay.get("ms", 1000)) / 1000.0, self.send, (conn,), out.frames[0])
            else:
                self.send((conn,), out.frames[0])
        elif out.kind == "subscribe":
            snaps, replays = self.hub.subscribe(conn, cat, out.topics, self.ctx.now_ms())
            if snaps and self.faults.take("snapshot_before_ack", category=cat) is not None:
                frames = [*snaps, out.frames[0]]
            else:
                frames = [out.frames[0], *snaps]
            for frame in frames:
                self.send((conn,), frame)
            for topic in replays:
                conn.replays[topic] = asyncio.create_task(
                    self._play(conn, topic, self.hub.replay[(cat, topic)])
                )
        elif out.kind == "unsubscribe":
            self.hub.unsubscribe(conn, cat, out.topics)
            for topic in out.topics:
                task = conn.replays.pop(topic, None)
                if task is not None:
                    task.cancel()
            self.send((conn,), out.frames[0])
        else:
            self.stats["bad_requests"] += 1
            self.send((conn,), out.frames[0])

    async def _play(self, conn: Conn, topic: str, frames: list[ReplayFrame]) -> None:
        """Send a replay file's frames byte for byte, paced by their ``ts`` and the speed."""
        for n, (pause, frame) in enumerate(zip(delays(frames, self.replay_speed), frames, strict=True)):
            if pause > 0:
                await asyncio.sleep(pause)
            elif n % 64 == 63:
                await asyncio.sleep(0)
            self.send((conn,), frame.raw)
            self.hub.sent["replay"] += 1
        conn.replays.pop(topic, None)

    # --- time-driven work -------------------------------------------------------------------
    async def run_ticks(self, stop: asyncio.Event, tick_s: float) -> None:
        """Call the hub every ``tick_s`` seconds and send what it returns; apply action faults."""
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while not stop.is_set():
            now = loop.time()
            # always yield, even when behind, so sockets and the HTTP API stay served
            await asyncio.sleep(max(0.0, next_t - now))
            next_t += tick_s
            if loop.time() - next_t > 0.25:
                next_t = loop.time()  # fell far behind: drop the backlog instead of bursting
            for subs, frame in self.hub.tick(self.ctx.now_ms()):
                self.send(cast("set[Conn]", subs), frame)
            if self.faults:
                self._action_faults()

    def _action_faults(self) -> None:
        drop = self.faults.take("drop_connections")
        if drop is not None:
            cat = drop.get("category")
            victims = [c for c in self.conns if cat in (None, "", c.category)]
            for c in victims:
                self._abort(c, "dropped_fault")
            self.log.info("fault drop_connections", category=cat or "all", connections=len(victims))
        bad = self.faults.take("malformed")
        if bad is not None:
            cat, topic = bad.get("category"), bad.get("topic")
            if topic:
                victims = [
                    c for c in self.conns if topic in c.session.topics and cat in (None, "", c.category)
                ]
            else:
                victims = [c for c in self.conns if cat in (None, "", c.category)]
            frame = _malformed(str(bad.get("kind", "text")), topic or "orderbook.50.BTCUSDT")
            self.send(victims, frame)
            self.stats["malformed_sent"] += len(victims)

    def _abort(self, conn: Conn, reason: str) -> None:
        self.stats[reason] += 1
        transport: Any = conn.ws.transport
        if transport is not None:
            transport.abort()

    async def run_watchdog(self, stop: asyncio.Event, idle_timeout: float) -> None:
        """Cut connections silent for ``idle_timeout`` s (no ping) and clients too slow to read."""
        period = max(0.05, min(1.0, idle_timeout / 4))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period)
            now = self._mono()
            for conn in list(self.conns):
                if now - conn.last_rx > idle_timeout:
                    self._abort(conn, "dropped_idle")
                    continue
                transport: Any = conn.ws.transport
                if transport is not None and transport.get_write_buffer_size() > MAX_BACKLOG:
                    self._abort(conn, "dropped_slow")

    def connection_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(CATEGORIES, 0)
        for c in self.conns:
            counts[c.category] += 1
        counts["private"] = self.private_count
        return counts
