"""The private WebSocket follower: a thread running an asyncio loop with ``websockets``.

It connects, authenticates (``GET/realtime`` + expires HMAC), subscribes to ``order``,
``execution``, ``position`` and ``wallet``, pings every 20 s, and reconnects with
:class:`~services.common.backoff.Backoff`. Data frames are forwarded untouched to the executor's
loop over an ``inproc`` PUSH socket; connection changes are forwarded as small JSON control
messages ``{"_tw": "connected"|"disconnected", "reason": ...}`` so the loop can reconcile orders
after a gap. Nothing secret is ever logged (the auth frame is built and sent, never printed).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
import websockets
import zmq

from services.common.backoff import Backoff
from services.common.log import get_logger
from services.executor.core.signing import Signer

TOPICS = ["order", "execution", "position", "wallet"]
INPROC = "inproc://executor-private-ws"


class PrivateStream:
    """Runs in its own thread; call :meth:`start` then :meth:`stop`."""

    def __init__(
        self,
        url: str,
        signer: Signer,
        ctx: zmq.Context[zmq.Socket[bytes]],
        *,
        offset_ms: Callable[[], int],
        ping_interval: float = 20.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.url = url
        self.signer = signer
        self.ctx = ctx
        self.offset_ms = offset_ms
        self.ping_interval = ping_interval
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.log = get_logger("private_ws")
        self._thread = threading.Thread(target=self._run, name="private-ws", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.connected = False
        self.reconnects = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        push: zmq.Socket[bytes] = self.ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.connect(INPROC)
        try:
            asyncio.run(self._main(push))
        finally:
            push.close(linger=0)

    def _control(self, push: zmq.Socket[bytes], state: str, reason: str = "") -> None:
        push.send(msgspec.json.encode({"_tw": state, "reason": reason}))

    async def _main(self, push: zmq.Socket[bytes]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        while not self._stop.is_set():
            reason = "closed"
            try:
                await self._session(push)
            except (TimeoutError, OSError, websockets.WebSocketException) as exc:
                reason = type(exc).__name__
            except AuthFailed as exc:
                reason = f"auth failed: {exc}"
            if self.connected:
                self.connected = False
                self._control(push, "disconnected", reason)
            if self._stop.is_set():
                break
            delay = self.backoff.next_delay()
            self.log.warning("private stream down", reason=reason, retry_in_s=round(delay, 2))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _session(self, push: zmq.Socket[bytes]) -> None:
        assert self._stop is not None
        async with websockets.connect(self.url, ping_interval=None, open_timeout=10, max_size=2**22) as ws:
            expires = time.time_ns() // 1_000_000 + self.offset_ms() + 10_000
            await ws.send(msgspec.json.encode(self.signer.ws_auth(expires)).decode())
            reply = msgspec.json.decode(await asyncio.wait_for(ws.recv(), 10))
            if not (
                isinstance(reply, dict)
                and reply.get("op") == "auth"
                and reply.get("success", reply.get("retCode") == 0)
            ):
                msg = reply.get("ret_msg", reply.get("retMsg", "")) if isinstance(reply, dict) else ""
                raise AuthFailed(str(msg)[:200])
            await ws.send(msgspec.json.encode({"op": "subscribe", "req_id": "sub", "args": TOPICS}).decode())
            await self._await_ack(ws, push)
            self.connected = True
            self.backoff.reset()
            self.reconnects += 1
            self.log.info("private stream connected", url=self.url, topics=TOPICS)
            self._control(push, "connected")
            loop = asyncio.get_running_loop()
            last = [loop.time()]
            dead = asyncio.Event()
            helpers = [
                asyncio.create_task(self._ping(ws)),
                asyncio.create_task(self._close_on(self._stop.wait(), ws)),
                asyncio.create_task(self._watch(ws, last, dead)),
            ]
            try:
                # one plain recv per frame (no task or wait() per frame); stop, a dead connection
                # or a failed ping close the socket, which ends this loop
                async for frame in ws:
                    last[0] = loop.time()
                    push.send(frame.encode() if isinstance(frame, str) else frame)
            finally:
                for task in helpers:
                    task.cancel()
            if dead.is_set():  # not even a pong for two ping intervals: the connection is dead
                raise TimeoutError
            pinger = helpers[0]
            if pinger.done() and not pinger.cancelled() and pinger.exception() is not None:
                raise pinger.exception()  # type: ignore[misc]

    @staticmethod
    async def _close_on(event: Any, ws: websockets.ClientConnection) -> None:
        await event
        await ws.close()

    async def _watch(self, ws: websockets.ClientConnection, last: list[float], dead: asyncio.Event) -> None:
        """Abort the connection when nothing (not even a pong) came for two ping intervals."""
        loop = asyncio.get_running_loop()
        limit = 2 * self.ping_interval
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            if loop.time() - last[0] > limit:
                dead.set()
                ws.transport.abort()
                return

    async def _await_ack(self, ws: websockets.ClientConnection, push: zmq.Socket[bytes]) -> None:
        """Forward frames until the subscribe ack (so "connected" means updates now flow)."""
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            frame = await asyncio.wait_for(ws.recv(), max(0.1, deadline - asyncio.get_running_loop().time()))
            raw = frame.encode() if isinstance(frame, str) else frame
            try:
                obj = msgspec.json.decode(raw)
            except msgspec.DecodeError:
                obj = None
            if isinstance(obj, dict) and obj.get("op") == "subscribe":
                if not obj.get("success", obj.get("retCode") == 0):
                    raise AuthFailed(f"subscribe refused: {str(obj.get('ret_msg', ''))[:200]}")
                return
            push.send(raw)

    async def _ping(self, ws: websockets.ClientConnection) -> None:
        try:
            while True:
                await asyncio.sleep(self.ping_interval)
                await ws.send('{"op":"ping","req_id":"ping"}')
        except websockets.WebSocketException:
            ws.transport.abort()  # ends the receive loop
            raise


class AuthFailed(Exception):
    """The private stream refused our auth."""
