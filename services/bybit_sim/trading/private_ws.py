"""Private WebSocket handler (``/v5/private``): moves frames between a socket and a session.

Shell only: the protocol lives in :class:`~services.bybit_sim.trading.core.session.PrivateSession`.
All outgoing frames (replies and pushes) go through the connection's queue and one sender task,
so replies and pushes keep their order. The ``drop_private`` fault aborts the TCP connection
(no close frame) or, with ``mode=close``, closes it with code 1001.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import msgspec
from websockets.exceptions import ConnectionClosed

from services.bybit_sim.trading.state import DROP, PrivateConn, TradingState

_encode = msgspec.json.Encoder().encode


async def _sender(websocket: Any, conn: PrivateConn) -> None:
    while True:
        frame = await conn.queue.get()
        if frame == DROP:
            if conn.drop_mode == "close":
                await websocket.close(1001, "going away")
            else:
                websocket.transport.abort()
            return
        await websocket.send(frame.decode())


async def serve_private(state: TradingState, websocket: Any) -> None:
    """Serve one private connection until the client or a fault closes it."""
    conn = state.new_conn()
    state.log.info("private connected", conn_id=conn.session.conn_id)
    sender = asyncio.create_task(_sender(websocket, conn))
    receiver = asyncio.create_task(_receive(state, websocket, conn))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await task
        state.close_conn(conn)
        state.log.info("private disconnected", conn_id=conn.session.conn_id, uid=conn.session.uid)


async def _receive(state: TradingState, websocket: Any, conn: PrivateConn) -> None:
    session = conn.session
    with contextlib.suppress(ConnectionClosed):
        async for raw in websocket:
            bad_before = session.bad_frames
            was_authed = session.key is not None
            for reply in session.handle(raw, state.now_ms()):
                conn.queue.put_nowait(_encode(reply))
            if session.bad_frames != bad_before:
                state.metrics.bad_input.labels(kind="ws_frame").inc()
            if not was_authed and session.key is not None:
                state.log.info("private authenticated", conn_id=session.conn_id, uid=session.uid)
