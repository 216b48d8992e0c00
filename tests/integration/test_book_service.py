"""The book service as a real process: a test Publisher poses as the feed, a tiny ROUTER poses
as the feed's control endpoint (recording resnapshot requests), and BookClient queries it."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
import zmq

from services.book_cli import cli
from services.common import topics
from services.common.book_client import BookClient
from services.common.bus import Publisher, Subscriber
from services.common.rpc import JsonClient, RpcError, RpcTimeout, encode_json, recv_request, send_reply
from services.common.wire import Bbo, BookUpdate, StreamStatus
from tests.helpers import ServiceProcess, eventually, free_port, tcp

pytestmark = pytest.mark.integration

BTC = ("linear", "BTCUSDT")
ETH = ("linear", "ETHUSDT")
Lv = tuple[str, str]
BIDS = [("65000.5", "1.234"), ("65000.0", "0.5")]
ASKS = [("65000.6", "0.100"), ("65001.0", "2")]


class FakeFeedControl:
    """A ROUTER on the feed's control endpoint that records resnapshot requests and says ok."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str) -> None:
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ctx = ctx
        self._endpoint = endpoint
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        sock = self._ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(self._endpoint)
        self._ready.set()
        while not self._stop.is_set():
            if not sock.poll(50):
                continue
            req = recv_request(sock)
            if req is None:
                continue
            envelope, body = req
            msg = msgspec.json.decode(body)
            with self._lock:
                self.requests.append((msg.get("category"), msg.get("symbol")))
            send_reply(sock, envelope, encode_json({"ok": True, "op": "resnapshot"}))
        sock.close(linger=0)

    def take(self) -> list[tuple[str, str]]:
        with self._lock:
            out, self.requests = self.requests, []
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


@dataclass
class Stack:
    ctx: zmq.Context[zmq.Socket[bytes]]
    feed: Publisher
    ctl: FakeFeedControl
    ports: dict[str, int]
    start_book: Callable[..., ServiceProcess]
    proc: ServiceProcess | None = None
    clients: list[BookClient] = field(default_factory=list)
    u: dict[tuple[str, str], int] = field(default_factory=dict)

    def client(self, timeout: float = 5.0) -> BookClient:
        c = BookClient(tcp(self.ports["rep"]), timeout=timeout)
        self.clients.append(c)
        return c

    def snapshot(
        self, key: tuple[str, str], bids: list[Lv], asks: list[Lv], u: int = 100, depth: int = 50
    ) -> None:
        self.u[key] = u
        msg = BookUpdate(
            key[0],
            key[1],
            depth,
            "snapshot",
            bids,
            asks,
            u,
            u * 7,
            1_700_000_000_000 + u,
            1_700_000_000_000,
            0,
        )
        self.feed.publish(topics.topic(topics.BOOK, *key), msg)

    def delta(
        self, key: tuple[str, str], bids: list[Lv], asks: list[Lv], u: int | None = None, depth: int = 50
    ) -> None:
        u = self.u[key] + 1 if u is None else u
        self.u[key] = u
        msg = BookUpdate(
            key[0], key[1], depth, "delta", bids, asks, u, u * 7, 1_700_000_000_000 + u, 1_700_000_000_000, 0
        )
        self.feed.publish(topics.topic(topics.BOOK, *key), msg)

    def status(self, key: tuple[str, str], state: str) -> None:
        self.feed.publish(topics.topic(topics.STATUS, *key), StreamStatus(key[0], key[1], state, "test", 0))

    def wait_connected(self) -> BookClient:
        """Heartbeat until the book has seen the feed (its SUB is subscribed)."""
        c = self.client()

        def seen() -> bool:
            self.feed.heartbeat({})
            try:
                return bool(c.status()["feed"]["connected"])
            except RpcTimeout:  # still starting (slow machine): the client resets, try again
                return False

        eventually(seen, timeout=30, interval=0.05)
        return c

    def state(self, key: tuple[str, str]) -> str:
        try:
            return str(self.clients[0].top(*key)["state"])
        except RpcTimeout:
            return "no reply"

    def wait_state(self, key: tuple[str, str], state: str, timeout: float = 10) -> None:
        eventually(lambda: self.state(key) == state, timeout=timeout, message=f"{key} -> {state}")

    def wait_request(self, key: tuple[str, str], timeout: float = 10) -> None:
        seen: list[tuple[str, str]] = []

        def asked() -> bool:
            seen.extend(self.ctl.take())
            return key in seen

        eventually(asked, timeout=timeout, message=f"resnapshot request for {key}")


@pytest.fixture
def stack(spawn: Callable[..., ServiceProcess]) -> Iterator[Stack]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    ports = {name: free_port() for name in ("pub", "ctl", "rep", "bbo", "metrics")}
    feed = Publisher(ctx, tcp(ports["pub"]), service="feed")
    ctl = FakeFeedControl(ctx, tcp(ports["ctl"]))

    def start_book(**overrides: Any) -> ServiceProcess:
        settings: dict[str, Any] = {
            "feed_pub": tcp(ports["pub"]),
            "feed_ctl": tcp(ports["ctl"]),
            "book_rep": tcp(ports["rep"]),
            "book_pub": tcp(ports["bbo"]),
            "book_metrics_port": ports["metrics"],
            "symbols": "linear:BTCUSDT,linear:ETHUSDT",
            "book_stale_after": 30,
            "book_resync_timeout": 30,
        }
        settings.update(overrides)
        st.proc = spawn("services.book", **settings)
        return st.proc

    st = Stack(ctx, feed, ctl, ports, start_book)
    yield st
    for c in st.clients:
        c.close()
    ctl.close()
    feed.close()
    ctx.destroy(linger=0)


@pytest.fixture
def live(stack: Stack) -> Stack:
    """A running book service with BTCUSDT live."""
    stack.start_book()
    stack.wait_connected()
    stack.snapshot(BTC, BIDS, ASKS, u=100)
    stack.wait_state(BTC, "live")
    stack.ctl.take()
    return stack


def test_live_after_snapshot_then_deltas(live: Stack) -> None:
    c = live.clients[0]
    r = c.book(*BTC)
    assert r["state"] == "live" and r["u"] == 100 and r["seq"] == 700
    assert r["bids"] == [list(x) for x in BIDS] and r["asks"] == [list(x) for x in ASKS]
    live.delta(BTC, [("65000.5", "0"), ("64999.9", "3.000")], [("65000.6", "0.250")])
    eventually(lambda: c.book(*BTC)["u"] == 101)
    r = c.book(*BTC, depth=1)
    assert r["bids"] == [["65000.0", "0.5"]] and r["asks"] == [["65000.6", "0.250"]]
    top = c.top(*BTC)
    assert (top["mid"], top["spread"]) == ("65000.3", "0.6")
    imp = c.impact(*BTC, "Buy", "1")
    assert imp["enough"] is True and imp["worst_price"] == "65001.0" and imp["filled"] == "1"
    syms = {(b["category"], b["symbol"]): b["state"] for b in c.symbols()["books"]}
    assert syms == {BTC: "live", ETH: "syncing"}
    assert c.ping()["pong"] is True
    metrics = (
        urllib.request.urlopen(f"http://127.0.0.1:{live.ports['metrics']}/metrics", timeout=5).read().decode()
    )
    assert 'tickwire_book_state{category="linear",state="live",symbol="BTCUSDT"} 1.0' in metrics
    eventually(
        lambda: (
            "tickwire_book_level_changes_total 7.0"
            in urllib.request.urlopen(f"http://127.0.0.1:{live.ports['metrics']}/metrics", timeout=5)
            .read()
            .decode()
        )
    )


def test_bbo_stream_publishes_changes_only(live: Stack) -> None:
    sub = Subscriber(live.ctx, [tcp(live.ports["bbo"])], ["bk.bbo."])
    got: list[Bbo] = []

    def drain() -> list[Bbo]:
        got.extend(m for _, m in sub.drain() if isinstance(m, Bbo))
        return got

    # slow joiner: keep changing the BBO until the subscription sees one
    last = [0]

    def bump() -> list[Bbo]:
        last[0] += 1
        live.delta(BTC, [("65000.5", str(last[0]))], [])
        return drain()

    eventually(bump, timeout=20)
    # everything published so far has arrived once the latest size has (PUB/SUB keeps order)
    eventually(lambda: any(b.bid_size == str(last[0]) for b in drain()), timeout=10)
    got.clear()
    live.delta(BTC, [("1", "1")], [])  # deep level: BBO unchanged, nothing published
    live.delta(BTC, [("65000.5", "9")], [])
    eventually(lambda: drain())
    assert [(b.bid, b.bid_size, b.ask, b.state) for b in got] == [("65000.5", "9", "65000.6", "live")]
    sub.close()


def test_u_gap_resyncs_and_asks_feed(live: Stack) -> None:
    live.delta(BTC, [("64000", "1")], [], u=105)
    live.wait_state(BTC, "resyncing")
    live.wait_request(BTC)
    r = live.clients[0].book(*BTC)
    assert r["bids"] == [] and r["asks"] == []
    live.snapshot(BTC, BIDS, ASKS, u=50)  # lower u: still accepted
    live.wait_state(BTC, "live")
    assert live.clients[0].book(*BTC)["u"] == 50


def test_u1_delta_resyncs(live: Stack) -> None:
    live.delta(BTC, [("64000", "1")], [], u=1)
    live.wait_state(BTC, "resyncing")
    live.wait_request(BTC)
    live.snapshot(BTC, BIDS, ASKS, u=1)
    live.wait_state(BTC, "live")


def test_bus_seq_gap_resyncs(live: Stack) -> None:
    live.feed.seqs[topics.topic(topics.BOOK, *BTC)] += 3  # three messages "lost" on the bus
    live.delta(BTC, [("64000", "1")], [])
    live.wait_state(BTC, "resyncing")
    live.wait_request(BTC)
    live.snapshot(BTC, BIDS, ASKS, u=200)
    live.wait_state(BTC, "live")
    # loss of a topic's latest message, noticed from the heartbeat
    live.feed.seqs[topics.topic(topics.BOOK, *BTC)] += 1
    live.feed.heartbeat({})
    live.wait_state(BTC, "resyncing")
    live.wait_request(BTC)
    status = live.clients[0].status()
    assert status["gaps"].get("bus_gap") == 1 and status["gaps"].get("heartbeat_gap") == 1


def test_stream_status_disconnected(live: Stack) -> None:
    live.status(BTC, "subscribed")
    live.status(BTC, "disconnected")
    live.wait_state(BTC, "resyncing")
    live.snapshot(BTC, BIDS, ASKS, u=7)
    live.wait_state(BTC, "live")


def test_crossed_book_resyncs(live: Stack) -> None:
    live.delta(BTC, [("65002", "1")], [])
    live.wait_state(BTC, "resyncing")
    live.wait_request(BTC)
    assert live.clients[0].status()["resyncs"] == {"crossed": 1}


def test_staleness(stack: Stack) -> None:
    stack.start_book(book_stale_after=0.5)
    stack.wait_connected()
    stack.snapshot(BTC, BIDS, ASKS, u=100)
    stack.wait_state(BTC, "stale")
    assert stack.clients[0].book(*BTC)["bids"] == [list(x) for x in BIDS]  # data kept, flagged
    stack.delta(BTC, [("65000.5", "2")], [])
    stack.wait_state(BTC, "live")


def test_late_joiner_asks_for_snapshots(stack: Stack) -> None:
    """The feed runs first; the book starts later and asks for every configured symbol."""
    stack.start_book(book_resync_timeout=1.0)
    c = stack.client()
    asked: set[tuple[str, str]] = set()

    def feed_loop() -> bool:
        stack.feed.heartbeat({})
        for key in stack.ctl.take():
            asked.add(key)
            stack.snapshot(key, BIDS, ASKS, u=10)  # the feed answers with a fresh snapshot
        try:
            books = c.symbols()["books"]
        except RpcTimeout:
            return False
        return all(b["state"] == "live" for b in books)

    eventually(feed_loop, timeout=30, interval=0.1)
    assert asked == {BTC, ETH}


def answers(c: BookClient) -> bool:
    try:
        return bool(c.ping()["pong"])
    except RpcTimeout:
        return False


def test_no_feed_control_does_not_block_queries(stack: Stack) -> None:
    stack.ctl.close()  # nobody answers resnapshot requests
    stack.start_book(book_resync_timeout=0.5)
    c = stack.client(timeout=2.0)
    eventually(lambda: answers(c), timeout=30)
    for _ in range(20):
        assert c.ping()["ok"] is True


def test_bad_requests_over_the_socket(stack: Stack) -> None:
    stack.start_book(book_max_request_bytes=1000)
    c = stack.client()
    eventually(lambda: answers(c), timeout=30)
    cases: list[tuple[bytes, str]] = [
        (b"{nope", "bad_json"),
        (b"", "bad_json"),
        (b"[]", "not_object"),
        (b'{"op":"drop_tables"}', "unknown_op"),
        (b"{}", "missing_param"),
        (b'{"op":"book","category":"linear","symbol":"NOPE"}', "unknown_symbol"),
        (b'{"op":"book","category":"linear","symbol":"BTCUSDT","depth":-5}', "bad_param"),
        (b'{"op":"book","category":"linear","symbol":"BTCUSDT","depth":1e308}', "bad_param"),
        (
            b'{"op":"book","category":"linear","symbol":"BTCUSDT","depth":123456789012345678901234567890}',
            "bad_param",
        ),
        (b'{"op":"impact","category":"linear","symbol":"BTCUSDT","side":"Buy","qty":"-1"}', "bad_param"),
        (b'{"op":"ping","pad":"' + b"x" * 2000 + b'"}', "too_large"),
    ]
    for body, code in cases:
        r = c.request_raw(body)
        assert r["ok"] is False and r["error"]["code"] == code, (body[:60], r)
    # far above the limit: ZMQ drops the connection; the client times out and resets, the service lives
    with pytest.raises(RpcTimeout):
        c.request_raw(b"x" * 100_000, timeout=0.5)
    assert c.ping()["ok"] is True
    with pytest.raises(RpcError) as exc:
        c.book("linear", "NOPE")
    assert exc.value.code == "unknown_symbol"
    metrics = eventually(
        lambda: (
            (
                text := urllib.request.urlopen(
                    f"http://127.0.0.1:{stack.ports['metrics']}/metrics", timeout=5
                )
                .read()
                .decode()
            )
            and 'tickwire_book_errors_total{code="bad_param"} 4.0' in text
            and text
        )
    )
    assert 'tickwire_book_errors_total{code="too_large"} 1.0' in metrics


def test_many_concurrent_clients(live: Stack) -> None:
    errors: list[BaseException] = []
    endpoint = tcp(live.ports["rep"])

    def worker() -> None:
        try:
            with BookClient(endpoint, timeout=10) as c:
                for i in range(50):
                    if i % 2:
                        assert c.top(*BTC)["bid"] == "65000.5"
                    else:
                        assert len(c.book(*BTC, depth=2)["bids"]) == 2
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert live.clients[0].status()["queries"] >= 16 * 50


def test_cli_prints_ladder(live: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["linear:BTCUSDT", "--depth", "5", "--endpoint", tcp(live.ports["rep"])]) == 0
    out = capsys.readouterr().out
    assert "state=live" in out and "65000.5" in out and "65001.0" in out and "mid 65000.55" in out
    assert out.index("65001.0") < out.index("65000.6") < out.index("65000.5") < out.index("65000.0")
    assert cli(["linear:NOPE", "--endpoint", tcp(live.ports["rep"])]) == 1
    assert cli(["bogus"]) == 2


def test_clean_shutdown(live: Stack) -> None:
    assert live.proc is not None
    assert live.proc.stop() == 0
    with JsonClient(tcp(live.ports["rep"]), timeout=0.3) as c, pytest.raises(RpcTimeout):
        c.request({"op": "ping"})
