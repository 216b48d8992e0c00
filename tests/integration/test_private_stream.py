"""The executor's private stream (PrivateStream) in-process, on each WebSocket client library,
against a scripted private server (tests/integration/fake_private_ws.py) and against bybit_sim.

What the executor's loop receives on the inproc PULL socket is checked: data frames byte for byte
and in order, and the ``{"_tw": ...}`` control messages; plus what the server received (auth,
subscribe, pings, the close code)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
import structlog
import zmq

from services.common.backoff import Backoff
from services.common.config import EXECUTOR_WS_CLIENTS, Secret
from services.executor.adapters.private_ws import INPROC, MAX_FRAME_BYTES, TOPICS, PrivateStream
from services.executor.core.signing import Signer
from tests.helpers import eventually
from tests.integration.fake_private_ws import KEY, SECRET, FakePrivate, fake_private

pytestmark = pytest.mark.integration


@pytest.fixture(params=EXECUTOR_WS_CLIENTS)
def client(request: pytest.FixtureRequest) -> str:
    """The private stream's WebSocket library under test (``executor_ws_client``)."""
    return str(request.param)


@pytest.fixture
def fake() -> Iterator[FakePrivate]:
    with fake_private() as server:
        yield server


class Loop:
    """The executor's end of the inproc socket: everything the stream pushed, in order."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]]) -> None:
        self.pull: zmq.Socket[bytes] = ctx.socket(zmq.PULL)
        self.pull.bind(INPROC)
        self.got: list[bytes] = []

    def drain(self) -> list[bytes]:
        while self.pull.poll(0):
            self.got.append(self.pull.recv())
        return self.got

    def controls(self) -> list[dict[str, Any]]:
        return [msgspec.json.decode(m) for m in self.drain() if m.startswith(b'{"_tw"')]

    def states(self) -> list[str]:
        return [c["_tw"] for c in self.controls()]

    def data(self) -> list[bytes]:
        return [m for m in self.drain() if not m.startswith(b'{"_tw"')]


@pytest.fixture
def start(client: str) -> Iterator[Callable[..., tuple[PrivateStream, Loop]]]:
    """``start(url, **kw)``: a running PrivateStream on ``client`` and the loop's end of its socket."""
    running: list[tuple[PrivateStream, Loop, zmq.Context[zmq.Socket[bytes]]]] = []

    def go(url: str, *, key: str = KEY, secret: str = SECRET, **kw: Any) -> tuple[PrivateStream, Loop]:
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()  # one inproc endpoint per context
        loop = Loop(ctx)
        kw.setdefault("backoff", Backoff(0.05, 0.2))
        stream = PrivateStream(
            url, Signer(Secret(key), Secret(secret)), ctx, offset_ms=lambda: 0, client=client, **kw
        )
        running.append((stream, loop, ctx))
        stream.start()
        return stream, loop

    yield go
    for stream, loop, ctx in running:
        stream.stop()
        loop.pull.close(linger=0)
        ctx.destroy(linger=0)


def test_forwards_frames_untouched_and_in_order(fake: FakePrivate, start: Any) -> None:
    order = b'{"topic":"order","id":"1","creationTime":1,"data":[{"orderLinkId":"a","price":"0.10"}]}'
    early = b'{"topic":"wallet","id":"0","data":[]}'
    fake.before_ack = [early.decode()]
    fake.after_ack = [order.decode(), b"\x00binary\xff", ['{"topic":"pos', 'ition","data":[]}']]
    stream, loop = start(fake.url)
    eventually(lambda: len(loop.drain()) >= 5, message=str(loop.got))
    assert stream.connected and stream.reconnects == 1
    assert loop.got[0] == early  # frames before the ack are forwarded (before "connected")
    assert msgspec.json.decode(loop.got[1]) == {"_tw": "connected", "reason": ""}
    assert loop.got[2:] == [order, b"\x00binary\xff", b'{"topic":"position","data":[]}']
    # the server saw a valid auth (checked by the fake: key + HMAC), then the subscription
    [conn] = fake.conns
    assert conn.ops() == ["auth", "subscribe"]
    auth, sub = conn.requests
    assert auth["args"][0] == KEY and SECRET not in str(auth)
    assert sub == {"op": "subscribe", "req_id": "sub", "args": TOPICS}
    expires = auth["args"][1]
    assert (
        auth["args"][2]
        == hmac.new(SECRET.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()
    )
    fake.send(['{"topic":"execution","data":[]}'] * 3)
    eventually(lambda: len(loop.data()) == 7)
    stream.stop()
    assert loop.states() == ["connected", "disconnected"] and not stream.connected
    eventually(lambda: conn.done)
    assert conn.close_code == 1000  # a clean closing handshake


def test_refused_auth_is_retried_and_never_connects(fake: FakePrivate, start: Any) -> None:
    fake.refuse_auth = True
    with structlog.testing.capture_logs() as logs:
        stream, loop = start(fake.url)
        eventually(lambda: len(fake.conns) >= 3, message="no reconnects after a refused auth")
        stream.stop()
    assert all(c.ops() == ["auth"] for c in fake.conns)  # no subscribe after a refusal
    assert not stream.connected and stream.reconnects == 0 and loop.drain() == []
    downs = [e for e in logs if e["event"] == "private stream down"]
    assert downs and all(e["reason"] == "auth failed: Invalid apikey" for e in downs), downs


def test_refused_subscribe_is_an_auth_failure(fake: FakePrivate, start: Any) -> None:
    fake.refuse_subscribe = True
    fake.before_ack = ['{"topic":"wallet","data":[]}']
    with structlog.testing.capture_logs() as logs:
        stream, loop = start(fake.url)
        eventually(lambda: len(fake.conns) >= 2)
        stream.stop()
    assert not stream.connected and stream.reconnects == 0
    assert "connected" not in loop.states()
    downs = [e for e in logs if e["event"] == "private stream down"]
    assert downs and downs[0]["reason"] == "auth failed: subscribe refused: Request not authorized"


def test_pings_and_the_watchdog(fake: FakePrivate, start: Any) -> None:
    stream, loop = start(fake.url, ping_interval=0.1)
    eventually(lambda: stream.connected)
    # answered pings keep the connection: several intervals pass without a reconnect
    eventually(lambda: fake.conns[0].ops().count("ping") >= 8)
    assert len(fake.conns) == 1 and loop.states() == ["connected"]
    assert {"op": "ping", "req_id": "ping"} in fake.conns[0].requests
    # nothing at all (pings unanswered) for two intervals: aborted, then reopened
    fake.answer_pings = False
    eventually(lambda: loop.states().count("disconnected") >= 1, timeout=5)
    down = next(c for c in loop.controls() if c["_tw"] == "disconnected")
    assert down["reason"] == "TimeoutError"
    eventually(lambda: fake.conns[0].done)
    assert fake.conns[0].close_code == 1006  # cut, no closing handshake
    fake.answer_pings = True
    eventually(lambda: stream.connected and stream.reconnects >= 2)


@pytest.mark.parametrize("how", ["close", "cut", "oversized"])
def test_lost_connection_is_reopened(fake: FakePrivate, start: Any, how: str) -> None:
    stream, loop = start(fake.url)
    eventually(lambda: stream.connected)
    if how == "close":
        fake.close(1001)
    elif how == "cut":
        fake.cut()
    else:
        fake.send([b"x" * (MAX_FRAME_BYTES + 1)])
    eventually(lambda: stream.reconnects == 2 and stream.connected, message=str(loop.controls()))
    assert loop.states() == ["connected", "disconnected", "connected"]
    assert b"x" * 100 not in b"".join(loop.data())
    if how == "close":
        assert loop.controls()[1]["reason"] == "closed"
    if how == "oversized":
        assert fake.conns[0].close_code == 1009


def test_against_bybit_sim(sim_factory: Callable[..., Any], start: Any) -> None:
    sim = sim_factory(sim_api_keys=f"{KEY}:{SECRET}")
    stream, loop = start(sim.ws_private_url)
    eventually(lambda: stream.connected)
    assert loop.states() == ["connected"]
    with structlog.testing.capture_logs() as logs:
        bad, _ = start(sim.ws_private_url, secret="wrong-secret-0123456789")
        eventually(lambda: any(e["event"] == "private stream down" for e in logs))
        bad.stop()
    assert not bad.connected
    assert next(e for e in logs if e["event"] == "private stream down")["reason"].startswith("auth failed")
