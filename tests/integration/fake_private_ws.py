"""A tiny scripted Bybit private WebSocket server for the private stream's adapter tests.

Runs an asyncio loop in a background thread. It checks the ``auth`` op (API key and the
``GET/realtime`` + expires HMAC) unless told to refuse it, acks (or refuses) the subscribe, answers
pings (unless told not to), sends scripted frames before and after the ack, records every request
and the close code of every connection, and lets a test push frames, close or cut connections.
The full simulator (services.bybit_sim) is used by the executor's tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

KEY = "fake-key"
SECRET = "fake-secret-0123456789"
#: A frame to send: text (str), binary (bytes), or a fragmented message (a list of either).
Frame = str | bytes | list[str] | list[bytes]


@dataclass
class Conn:
    """One client connection: what it asked for and how it ended."""

    ws: ServerConnection
    requests: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    done: bool = False

    def ops(self) -> list[str]:
        return [str(r.get("op")) for r in self.requests]


class FakePrivate:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.conns: list[Conn] = []
        self.refuse_auth = False
        self.refuse_subscribe = False
        self.answer_pings = True
        self.before_ack: list[Frame] = []  # sent between the subscribe request and its ack
        self.after_ack: list[Frame] = []  # sent right after the ack
        self.port = 0
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v5/private"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        finally:
            self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0, compression=None, max_size=2**20) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._started.set()
            await self._stop.wait()

    @staticmethod
    async def _send(ws: ServerConnection, frame: Frame) -> None:
        await ws.send(frame)

    def _auth_ok(self, args: Any) -> bool:
        if self.refuse_auth or not isinstance(args, list) or len(args) != 3:
            return False
        key, expires, sig = args
        want = hmac.new(SECRET.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()
        return key == KEY and isinstance(expires, int) and hmac.compare_digest(str(sig), want)

    async def _handler(self, ws: ServerConnection) -> None:
        conn = Conn(ws)
        self.conns.append(conn)
        try:
            async for raw in ws:
                req = json.loads(raw)
                conn.requests.append(req)
                op = req.get("op")
                if op == "ping":
                    if self.answer_pings:
                        pong = {"req_id": req.get("req_id"), "op": "pong", "args": ["1"], "conn_id": "f"}
                        await ws.send(json.dumps(pong))
                elif op == "auth":
                    ok = self._auth_ok(req.get("args"))
                    msg = "" if ok else "Invalid apikey"
                    await ws.send(json.dumps({"success": ok, "ret_msg": msg, "op": "auth", "conn_id": "f"}))
                elif op == "subscribe":
                    for frame in self.before_ack:
                        await self._send(ws, frame)
                    ok = not self.refuse_subscribe
                    ack = {
                        "success": ok,
                        "ret_msg": "" if ok else "Request not authorized",
                        "op": "subscribe",
                        "conn_id": "f",
                        "req_id": req.get("req_id"),
                    }
                    await ws.send(json.dumps(ack))
                    for frame in self.after_ack:
                        await self._send(ws, frame)
        except ConnectionClosed:
            pass
        finally:
            conn.close_code = ws.close_code
            conn.done = True

    def _call(self, coro: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def send(self, frames: Sequence[Frame]) -> None:
        """Send ``frames`` on the newest connection."""

        async def go() -> None:
            for frame in frames:
                await self._send(self.conns[-1].ws, frame)

        self._call(go())

    def close(self, code: int = 1001) -> None:
        """Close the newest connection with ``code``."""
        self._call(self.conns[-1].ws.close(code, "bye"))

    def cut(self) -> None:
        """Drop the newest connection's TCP connection (no close frame)."""

        async def go() -> None:
            transport = self.conns[-1].ws.transport
            transport.abort()

        self._call(go())

    def start(self) -> None:
        self._thread.start()
        self._started.wait(5)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)


@contextmanager
def fake_private() -> Iterator[FakePrivate]:
    server = FakePrivate()
    server.start()
    try:
        yield server
    finally:
        server.stop()
