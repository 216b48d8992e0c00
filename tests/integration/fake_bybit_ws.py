"""A tiny scripted Bybit public WebSocket server for the feed's adapter tests.

Runs an asyncio loop in a background thread. It acks subscribes in the linear dialect, answers
pings (unless told not to), records every client request, and lets a test push raw frames to all
clients or drop them. The full simulator (services.bybit_sim) is used by the other feed tests.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from websockets.asyncio.server import ServerConnection, serve


class FakeBybit:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.loop = asyncio.new_event_loop()
        self.clients: list[ServerConnection] = []
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.connections = 0
        self.answer_pings = True
        self.ack = True
        self.on_subscribe: list[bytes] = []  # frames sent right after each subscribe ack
        self.snapshot_before_ack = False  # send on_subscribe frames before the ack instead
        self.refuse: set[str] = set()  # topics answered with "handler not found" (whole request)
        self.port = 0
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self._gate = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0, compression=None, ssl=self.ssl_context) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._started.set()
            await self._stop.wait()

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.clients.append(ws)
        self.paths.append(ws.request.path if ws.request else "")
        try:
            async for raw in ws:
                req = json.loads(raw)
                self.requests.append(req)
                if req.get("op") == "ping":
                    if self.answer_pings:
                        await ws.send(
                            json.dumps(
                                {
                                    "success": True,
                                    "ret_msg": "pong",
                                    "conn_id": "f",
                                    "req_id": req.get("req_id", ""),
                                    "op": "ping",
                                }
                            )
                        )
                elif req.get("op") in ("subscribe", "unsubscribe") and self.ack:
                    await self._gate.wait()
                    bad = [t for t in req["args"] if t in self.refuse]
                    reply = {
                        "success": not bad,
                        "ret_msg": f"error:handler not found,topic:{bad[0]}" if bad else "",
                        "conn_id": "f",
                        "req_id": req.get("req_id", ""),
                        "op": req["op"],
                    }
                    data = (
                        [f.decode() for f in self.on_subscribe]
                        if req["op"] == "subscribe" and not bad
                        else []
                    )
                    if self.snapshot_before_ack:
                        for frame in data:
                            await ws.send(frame)
                    await ws.send(json.dumps(reply))
                    if not self.snapshot_before_ack:
                        for frame in data:
                            await ws.send(frame)
        except Exception:
            pass
        finally:
            if ws in self.clients:
                self.clients.remove(ws)

    def open_gate(self) -> None:
        """Start answering subscribes (held until a test's subscriber is connected)."""
        self.loop.call_soon_threadsafe(self._gate.set)

    def hold_gate(self) -> None:
        """Hold (un)subscribe answers again until :meth:`open_gate` (returns once in effect)."""

        async def clear() -> None:
            self._gate.clear()

        self.call(clear())

    @property
    def url_template(self) -> str:
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://127.0.0.1:{self.port}/v5/public/{{category}}"

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def push(self, frame: bytes | str) -> None:
        text = frame.decode() if isinstance(frame, bytes) else frame

        async def send() -> None:
            for ws in list(self.clients):
                await ws.send(text)

        self.call(send())

    def drop_all(self) -> None:
        async def drop() -> None:
            for ws in list(self.clients):
                ws.transport.abort()

        self.call(drop())

    def subscribes(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("op") == "subscribe"]

    def start(self) -> None:
        self._thread.start()
        self._started.wait(10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self.loop.close()


@contextmanager
def fake_bybit(ssl_context: ssl.SSLContext | None = None) -> Iterator[FakeBybit]:
    server = FakeBybit(ssl_context)
    server.start()
    try:
        yield server
    finally:
        server.stop()
