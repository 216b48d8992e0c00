"""The private WebSocket follower: a thread running its own asyncio loop.

It connects, authenticates (``GET/realtime`` + expires HMAC), subscribes to ``order``,
``execution``, ``position`` and ``wallet``, pings every 20 s, and reconnects with
:class:`~services.common.backoff.Backoff`. Data frames are forwarded untouched to the executor's
loop over an ``inproc`` PUSH socket; connection changes are forwarded as small JSON control
messages ``{"_tw": "connected"|"disconnected", "reason": ...}`` so the loop can reconcile orders
after a gap. Nothing secret is ever logged (the auth frame is built and sent, never printed).

Two WebSocket libraries can carry the stream (``executor_ws_client``): ``picows`` (the default,
:mod:`services.executor.adapters.private_ws_picows`: frames are parsed in C and pushed from a
callback, no task or await per frame) and ``websockets`` (the fallback, here: one ``recv`` per
frame). Both behave the same; this module holds what they share (the thread, the reconnect loop,
the auth and subscribe-ack checks, the control messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import websockets
import zmq

from services.common.backoff import Backoff
from services.common.errors import ConfigError
from services.common.log import get_logger
from services.executor.core.signing import Signer

TOPICS = ["order", "execution", "position", "wallet"]
INPROC = "inproc://executor-private-ws"
#: ``executor_ws_client`` values: the WebSocket library of the private stream (the default first).
WS_CLIENTS = ("picows", "websockets")
#: Largest frame (or reassembled message) accepted, in bytes.
MAX_FRAME_BYTES = 2**22
#: Seconds allowed for TCP connect + TLS + WebSocket handshake, and for each reply of the handshake.
OPEN_TIMEOUT = 10.0
PING_FRAME = b'{"op":"ping","req_id":"ping"}'
SUBSCRIBE_FRAME = msgspec.json.encode({"op": "subscribe", "req_id": "sub", "args": TOPICS})

#: A session: ``session(stream, push)`` serves one connection until it ends (returns or raises).
Session = Callable[["PrivateStream", "zmq.Socket[bytes]"], Awaitable[None]]


class AuthFailed(Exception):
    """The private stream refused our auth."""


class StreamClosed(Exception):
    """The connection ended abnormally (no close frame, or an error code); the text says how."""


def auth_frame(signer: Signer, offset_ms: int) -> bytes:
    """The ``auth`` op, valid for 10 s (exchange time)."""
    expires = time.time_ns() // 1_000_000 + offset_ms + 10_000
    return msgspec.json.encode(signer.ws_auth(expires))


def check_auth(raw: bytes) -> None:
    """Raise AuthFailed unless ``raw`` is a successful ``auth`` reply."""
    reply = msgspec.json.decode(raw)
    if not (
        isinstance(reply, dict)
        and reply.get("op") == "auth"
        and reply.get("success", reply.get("retCode") == 0)
    ):
        msg = reply.get("ret_msg", reply.get("retMsg", "")) if isinstance(reply, dict) else ""
        raise AuthFailed(str(msg)[:200])


def is_subscribe_ack(raw: bytes) -> bool:
    """True for the subscribe ack; raise AuthFailed if it refuses; False for any other frame."""
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return False
    if isinstance(obj, dict) and obj.get("op") == "subscribe":
        if not obj.get("success", obj.get("retCode") == 0):
            raise AuthFailed(f"subscribe refused: {str(obj.get('ret_msg', ''))[:200]}")
        return True
    return False


def session_of(client: str) -> tuple[Session, tuple[type[BaseException], ...]]:
    """The session function of ``client`` and the library's errors that mean "reconnect"."""
    if client == "websockets":
        return _websockets_session, (websockets.WebSocketException,)
    if client != "picows":
        raise ConfigError(f"TICKWIRE_EXECUTOR_WS_CLIENT={client!r}: choose one of {', '.join(WS_CLIENTS)}")
    try:  # imported on use: a missing optional library only matters when it is chosen
        module = importlib.import_module("services.executor.adapters.private_ws_picows")
    except ImportError as exc:
        raise ConfigError(
            f"TICKWIRE_EXECUTOR_WS_CLIENT=picows needs the picows package: {exc}; "
            "install it or set TICKWIRE_EXECUTOR_WS_CLIENT=websockets"
        ) from None
    return module.session, module.ERRORS


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
        client: str = "picows",
    ) -> None:
        self.url = url
        self.signer = signer
        self.ctx = ctx
        self.offset_ms = offset_ms
        self.ping_interval = ping_interval
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.client = client
        self._session, errors = session_of(client)
        self._errors: tuple[type[BaseException], ...] = (TimeoutError, OSError, StreamClosed, *errors)
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

    def _on_subscribed(self, push: zmq.Socket[bytes]) -> None:
        """The subscription is acknowledged: updates flow from now on."""
        self.connected = True
        self.backoff.reset()
        self.reconnects += 1
        self.log.info("private stream connected", url=self.url, topics=TOPICS)
        self._control(push, "connected")

    async def _main(self, push: zmq.Socket[bytes]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        while not self._stop.is_set():
            reason = "closed"
            try:
                await self._session(self, push)
            except AuthFailed as exc:
                reason = f"auth failed: {exc}"
            except StreamClosed as exc:
                reason = f"closed: {exc}"
            except self._errors as exc:
                reason = type(exc).__name__
            if self.connected:
                self.connected = False
                self._control(push, "disconnected", reason)
            if self._stop.is_set():
                break
            delay = self.backoff.next_delay()
            self.log.warning("private stream down", reason=reason, retry_in_s=round(delay, 2))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)


# --------------------------------------------------------------------------- websockets


async def _websockets_session(stream: PrivateStream, push: zmq.Socket[bytes]) -> None:
    """Serve one connection with ``websockets`` (``executor_ws_client = "websockets"``)."""
    stop = stream._stop
    assert stop is not None
    async with websockets.connect(
        stream.url, ping_interval=None, open_timeout=OPEN_TIMEOUT, max_size=MAX_FRAME_BYTES
    ) as ws:
        await ws.send(auth_frame(stream.signer, stream.offset_ms()), text=True)
        check_auth(await asyncio.wait_for(ws.recv(decode=False), OPEN_TIMEOUT))
        await ws.send(SUBSCRIBE_FRAME, text=True)
        await _await_ack(ws, push)
        stream._on_subscribed(push)
        loop = asyncio.get_running_loop()
        last = [loop.time()]
        dead = asyncio.Event()
        helpers = [
            asyncio.create_task(_ping(ws, stream.ping_interval)),
            asyncio.create_task(_close_on(stop.wait(), ws)),
            asyncio.create_task(_watch(ws, stream.ping_interval, last, dead)),
        ]
        try:
            # one plain recv per frame (no task or wait() per frame; bytes as received, not
            # decoded); stop, a dead connection or a failed ping close the socket, which ends it
            recv, send = ws.recv, push.send
            while True:
                frame = await recv(decode=False)
                last[0] = loop.time()
                send(frame)
        except websockets.ConnectionClosedOK:
            pass
        except websockets.ConnectionClosedError:
            if not dead.is_set():
                raise
        finally:
            for task in helpers:
                task.cancel()
        if dead.is_set():  # not even a pong for two ping intervals: the connection is dead
            raise TimeoutError
        pinger = helpers[0]
        if pinger.done() and not pinger.cancelled() and pinger.exception() is not None:
            raise pinger.exception()  # type: ignore[misc]


async def _close_on(event: Any, ws: websockets.ClientConnection) -> None:
    await event
    await ws.close()


async def _watch(
    ws: websockets.ClientConnection, ping_interval: float, last: list[float], dead: asyncio.Event
) -> None:
    """Abort the connection when nothing (not even a pong) came for two ping intervals."""
    loop = asyncio.get_running_loop()
    limit = 2 * ping_interval
    while True:
        await asyncio.sleep(min(1.0, limit / 4))
        if loop.time() - last[0] > limit:
            dead.set()
            ws.transport.abort()
            return


async def _await_ack(ws: websockets.ClientConnection, push: zmq.Socket[bytes]) -> None:
    """Forward frames until the subscribe ack (so "connected" means updates now flow)."""
    deadline = asyncio.get_running_loop().time() + OPEN_TIMEOUT
    while True:
        timeout = max(0.1, deadline - asyncio.get_running_loop().time())
        raw = await asyncio.wait_for(ws.recv(decode=False), timeout)
        if is_subscribe_ack(raw):
            return
        push.send(raw)


async def _ping(ws: websockets.ClientConnection, ping_interval: float) -> None:
    try:
        while True:
            await asyncio.sleep(ping_interval)
            await ws.send(PING_FRAME, text=True)
    except websockets.WebSocketException:
        ws.transport.abort()  # ends the receive loop
        raise
