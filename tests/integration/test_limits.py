"""Size limits on every input, over real sockets (docs/security.md, "Bad input").

* feed: a WebSocket frame above ``feed_max_frame_bytes`` closes the connection (1009), is counted
  as ``oversized``, and the feed reconnects and resubscribes; a frame of exactly the limit is read.
* book: a query above ``book_max_request_bytes`` gets ``too_large``; above 4x that limit ZMQ drops
  it unread (no reply: the client times out); the service keeps answering.
* executor: an intent above ``executor_max_intent_bytes`` is refused (report ``rejected``,
  ``schema``, counted ``too_large``, journaled); above 4x ZMQ drops it unread. Nothing is sent.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from services.common import wire
from services.common.book_client import BookClient
from services.common.order_client import OrderClient
from services.common.rpc import RpcTimeout
from tests.helpers import eventually, tcp
from tests.integration import executor_support, test_book_service, test_feed_local_ws
from tests.integration.executor_support import limit, sim_orders
from tests.integration.test_feed_local_ws import metric

exsim = executor_support.exsim
launcher = executor_support.launcher
stack = test_book_service.stack
fake = test_feed_local_ws.fake
start_feed = test_feed_local_ws.start_feed

pytestmark = pytest.mark.integration

SNAP = b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1700000000000,"data":{"s":"BTCUSDT","b":[["100.10","1.5"]],"a":[["100.20","2"]],"u":10,"seq":99},"cts":1}'  # noqa: E501


def ticker_of_size(n: int) -> bytes:
    head = b'{"topic":"tickers.BTCUSDT","type":"snapshot","ts":1,"data":{"lastPrice":"'
    tail = b'"}}'
    return head + b"9" * (n - len(head) - len(tail)) + tail


def test_feed_frame_limit(fake: Any, start_feed: Any) -> None:
    fake.on_subscribe = [SNAP]
    proc, bus, _, metrics = start_feed(feed_max_frame_bytes=4096)
    eventually(lambda: bus.of(wire.BookUpdate) and "subscribed" in bus.statuses(), timeout=15)
    fake.push(ticker_of_size(4096))  # exactly the limit: read and published
    tickers = eventually(lambda: bus.of(wire.Ticker), timeout=15)
    assert len(tickers[0].fields["lastPrice"]) > 4000

    async def send_binary() -> None:
        for ws in list(fake.clients):
            await ws.send(ticker_of_size(4097))  # bytes: a binary frame, one byte over

    fake.call(send_binary())
    oversized = 'tickwire_feed_malformed_frames_total{kind="oversized"}'
    eventually(lambda: metric(metrics, oversized) == 1, timeout=15)
    reasons = eventually(lambda: [m.reason for m in bus.of(wire.StreamStatus) if m.state == "disconnected"])
    assert reasons == ["frame larger than 4096 bytes"]
    eventually(lambda: fake.connections == 2 and bus.statuses()[-1] == "subscribed", timeout=15)
    eventually(lambda: len(bus.of(wire.BookUpdate)) == 2, timeout=15)  # the fresh snapshot
    assert metric(metrics, "tickwire_feed_reconnects_total") == 1 and proc.alive
    assert metric(metrics, 'tickwire_feed_malformed_frames_total{kind="internal_error"}') == 0


def test_book_request_limit(stack: Any) -> None:
    proc = stack.start_book(book_max_request_bytes=1000)
    client = stack.wait_connected()

    def padded(n: int) -> bytes:
        head, tail = b'{"op":"ping","pad":"', b'"}'
        return head + b"x" * (n - len(head) - len(tail)) + tail

    assert client.request_raw(padded(1000))["pong"] is True  # exactly the limit
    reply = client.request_raw(padded(1001))
    assert reply["ok"] is False and reply["error"]["code"] == "too_large"
    assert "larger than 1000 bytes" in reply["error"]["message"]
    assert client.request_raw(padded(4096))["error"]["code"] == "too_large"  # hard cap: 4 x 1000, >= 4096
    with BookClient(tcp(stack.ports["rep"]), timeout=1.0) as other:
        with pytest.raises(RpcTimeout):
            other.request_raw(padded(4097))  # dropped by ZMQ unread, with the connection
        assert other.request({"op": "ping"})["pong"] is True  # the client's fresh socket works
    assert client.request({"op": "ping"})["pong"] is True and proc.alive
    text = urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['metrics']}/metrics", timeout=5).read()
    assert b'tickwire_book_errors_total{code="too_large"} 2.0' in text


def test_executor_intent_limit(launcher: Any, exsim: Any) -> None:
    ex = launcher.start(executor_max_intent_bytes=2048)
    over = json.dumps({**limit("big-1"), "smpType": "x" * 2100}).encode()
    assert 2048 < len(over) < 4 * 2048
    ex.client.send_raw(over)
    reports = ex.client.wait("big-1", until={"rejected"}, timeout=10)
    assert (reports[-1].status, reports[-1].code) == ("rejected", "schema")
    assert f"intent of {len(over)} bytes is larger than 2048 bytes" in reports[-1].reason
    assert ex.metric("tickwire_executor_bad_input_total", kind="too_large") == 1
    huge = json.dumps({**limit("big-2"), "smpType": "x" * 9000}).encode()
    assert len(huge) > 4 * 2048
    with OrderClient(ex.pull, ex.pub) as other:  # ZMQ drops it unread with that connection, and
        other.send_raw(huge)  # whatever that sender had queued behind it
        time.sleep(0.2)  # let it go out before the client closes (nothing to wait for: no reply)
    link = ex.client.send(limit("small-1"))
    assert "new" in [r.status for r in ex.client.wait(link, until={"new", "rejected"}, timeout=15)]
    assert ex.client.for_link("big-2") == []
    assert ex.metric("tickwire_executor_bad_input_total", kind="too_large") == 1
    assert [o["orderLinkId"] for o in sim_orders(exsim)] == ["small-1"] and ex.proc.alive


def test_feed_reads_nothing_after_an_oversized_frame(fake: Any, start_feed: Any) -> None:
    """Frames behind an oversized one on the same socket are not published: that socket is closing."""
    fake.on_subscribe = [SNAP]
    _, bus, _, metrics = start_feed(feed_max_frame_bytes=4096)
    eventually(lambda: bus.of(wire.BookUpdate) and "subscribed" in bus.statuses(), timeout=15)
    after = b'{"topic":"tickers.BTCUSDT","type":"snapshot","ts":2,"data":{"lastPrice":"12345.6"}}'

    async def burst() -> None:
        for ws in list(fake.clients):
            await ws.send(ticker_of_size(4097).decode())
            await ws.send(after.decode())

    fake.call(burst())
    oversized = 'tickwire_feed_malformed_frames_total{kind="oversized"}'
    eventually(lambda: metric(metrics, oversized) == 1, timeout=15)
    eventually(lambda: fake.connections == 2 and bus.statuses()[-1] == "subscribed", timeout=15)
    eventually(lambda: len(bus.of(wire.BookUpdate)) == 2, timeout=15)  # the fresh snapshot
    assert [t.fields.get("lastPrice") for t in bus.of(wire.Ticker)] == []
