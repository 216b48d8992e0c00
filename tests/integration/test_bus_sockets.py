"""Integration tests for services.common.bus and rpc over real ZMQ sockets on 127.0.0.1."""

from __future__ import annotations

import threading

import pytest
import zmq

from services.common import rpc, wire
from services.common.bus import Publisher, Subscriber
from tests.helpers import eventually, free_port, tcp

pytestmark = pytest.mark.integration


def test_subscriber_receives_stamped_messages_in_order() -> None:
    ctx = zmq.Context()
    endpoint = tcp(free_port())
    pub = Publisher(ctx, endpoint, service="test")
    sub = Subscriber(ctx, [endpoint], ["md.book."])
    received: list[tuple[str, wire.BusMessage]] = []

    def probe() -> bool:
        pub.publish("md.book.linear.X", wire.StreamStatus("linear", "X", "subscribed", "", 0))
        received.extend(sub.drain())
        return bool(received)

    eventually(probe)  # slow joiner: publish until the subscription is in place
    received.clear()
    for i in range(100):
        pub.publish("md.book.linear.X", wire.StreamStatus("linear", "X", "subscribed", str(i), 0))
        pub.publish("md.trade.linear.X", wire.StreamStatus("linear", "X", "subscribed", "", 0))

    def real() -> list[tuple[str, wire.BusMessage]]:
        received.extend(sub.drain())
        return [(t, m) for t, m in received if isinstance(m, wire.StreamStatus) and m.reason]

    eventually(lambda: len(real()) >= 100)
    got = real()
    assert [t for t, _ in got] == ["md.book.linear.X"] * 100
    assert [m.reason for _, m in got if isinstance(m, wire.StreamStatus)] == [str(i) for i in range(100)]
    seqs = [m.bus_seq for _, m in got]
    assert seqs == list(range(seqs[0], seqs[0] + 100))
    assert all(m.epoch == pub.epoch for _, m in got)
    pub.close()
    sub.close()
    ctx.destroy(linger=0)


def test_json_client_times_out_and_recovers() -> None:
    ctx = zmq.Context()
    endpoint = tcp(free_port())
    server = rpc.router_socket(ctx, endpoint)
    client = rpc.JsonClient(endpoint, timeout=0.2, ctx=ctx)
    with pytest.raises(rpc.RpcTimeout):
        client.request({"op": "ping"})  # nobody answers
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            if server.poll(20):
                got = rpc.recv_request(server)
                assert got is not None
                envelope, _body = got
                rpc.send_reply(server, envelope, rpc.encode_json({"ok": True, "pong": 1}))

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert client.call({"op": "ping"}, timeout=5) == {"ok": True, "pong": 1}
    finally:
        stop.set()
        thread.join()
        client.close()
        server.close(linger=0)
        ctx.destroy(linger=0)
