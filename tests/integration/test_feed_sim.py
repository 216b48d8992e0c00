"""The feed as a real process against bybit_sim over real sockets, with injected faults.

The simulator comes from the ``sim_factory`` fixture (tests/integration/conftest.py). A SUB on the
feed's PUB socket builds books from the bus; after each fault the book must be the one the
simulator sent (``GET /sim/book``), compared exactly (strings) while the symbol is frozen.
Every test runs on each WebSocket client library of the feed (``ws_client``: picows, websockets).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import zmq

from services.common import wire
from services.common.bus import Subscriber
from services.common.rpc import JsonClient
from tests.helpers import ServiceProcess, eventually, free_port, tcp
from tests.integration.conftest import SimHandle

pytestmark = pytest.mark.integration


@dataclass
class Feed:
    proc: ServiceProcess
    client: JsonClient
    metrics_port: int
    sub: Subscriber
    got: list[tuple[str, wire.BusMessage]] = field(default_factory=list)
    books: dict[tuple[str, str], tuple[dict[str, str], dict[str, str], int]] = field(default_factory=dict)

    def poll(self) -> list[tuple[str, wire.BusMessage]]:
        for topic, msg in self.sub.drain():
            self.got.append((topic, msg))
            if isinstance(msg, wire.BookUpdate):
                key = (msg.category, msg.symbol)
                if msg.type == "snapshot":
                    self.books[key] = (dict(msg.bids), dict(msg.asks), msg.u)
                elif key in self.books:
                    bids, asks, _ = self.books[key]
                    for side, levels in ((bids, msg.bids), (asks, msg.asks)):
                        for price, size in levels:
                            if float(size) == 0:  # "0" on Bybit; "0.000" must delete too
                                side.pop(price, None)
                            else:
                                side[price] = size
                    self.books[key] = (bids, asks, msg.u)
        return self.got

    def statuses(self, category: str, symbol: str) -> list[str]:
        return [m.state for _, m in self.poll() if isinstance(m, wire.StreamStatus)
                and (m.category, m.symbol) == (category, symbol)]  # fmt: skip

    def snapshots(self, category: str, symbol: str) -> int:
        return sum(1 for _, m in self.poll() if isinstance(m, wire.BookUpdate) and m.type == "snapshot"
                   and (m.category, m.symbol) == (category, symbol))  # fmt: skip

    def metric(self, name: str) -> float:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith((name + "{", name + " ")))  # fmt: skip

    def live(self) -> bool:
        """Every connection has all its topics acknowledged (asked on the control endpoint: a
        status message published before this test's SUB was connected would be missed)."""
        conns = self.client.request({"op": "status"})["connections"]
        return bool(conns) and all(c["state"] == "live" for c in conns)

    def resnapshot(self, category: str, symbol: str) -> dict[str, Any]:
        return self.client.request({"op": "resnapshot", "category": category, "symbol": symbol})


def sorted_levels(side: dict[str, str], descending: bool) -> list[list[str]]:
    return [[p, side[p]] for p in sorted(side, key=float, reverse=descending)]


def assert_book_matches(sim: SimHandle, feed: Feed, category: str, symbol: str, depth: int = 50) -> None:
    """Freeze the symbol, then the book built from the bus must equal what the sim sent."""
    sim.control.freeze(category, symbol)
    try:

        def same() -> bool:
            feed.poll()
            truth = sim.control.book(category, symbol, depth)
            mine = feed.books.get((category, symbol))
            if mine is None:
                return False
            bids, asks, u = mine
            mine_b, mine_a = sorted_levels(bids, True), sorted_levels(asks, False)
            assert u == truth["u"], f"u {u} != {truth['u']}"
            assert mine_b == truth["bids"], f"bids {mine_b[:3]} != {truth['bids'][:3]}"
            assert mine_a == truth["asks"], f"asks {len(mine_a)} {len(truth['asks'])} " + str(
                [(x, y) for x, y in zip(mine_a, truth["asks"], strict=False) if x != y][:3]
            )
            return True

        eventually(same, timeout=15, message=f"book {category}:{symbol} equals the simulator's")
        truth = sim.control.book(category, symbol, depth)
        assert len(truth["bids"]) > 5 and len(truth["asks"]) > 5
    finally:
        sim.control.freeze(category, symbol, frozen=False)


@pytest.fixture
def start_feed(spawn: Callable[..., ServiceProcess], ws_client: str) -> Iterator[Callable[..., Feed]]:
    ctx = zmq.Context()
    feeds: list[Feed] = []

    def start(sim: SimHandle, **settings: Any) -> Feed:
        pub, ctl, metrics = free_port(), free_port(), free_port()
        sub = Subscriber(ctx, [tcp(pub)])
        conf: dict[str, Any] = {
            "bybit_public_ws_url": sim.ws_url_template, "symbols": "linear:BTCUSDT,spot:BTCUSDT",
            "orderbook_depth": 50, "feed_pub": tcp(pub), "feed_ctl": tcp(ctl), "feed_metrics_port": metrics,
            "feed_backoff_initial": 0.1, "feed_backoff_max": 0.5, "feed_heartbeat_interval": 0.2,
            "feed_ws_client": ws_client,
        }  # fmt: skip
        conf.update(settings)
        proc = spawn("services.feed", name="feed", **conf)
        feed = Feed(proc, JsonClient(tcp(ctl), timeout=5), metrics, sub)
        feeds.append(feed)
        eventually(lambda: any(isinstance(m, wire.Heartbeat) for _, m in feed.poll()), timeout=30,
                   message="first feed heartbeat")  # fmt: skip
        return feed

    yield start
    for feed in feeds:
        feed.client.close()
        feed.sub.close()
    ctx.term()


def test_bus_book_equals_sim_book_through_faults(
    sim_factory: Callable[..., SimHandle], start_feed: Any
) -> None:
    sim = sim_factory()
    feed = start_feed(sim)
    eventually(feed.live, timeout=20, message="feed live")
    for cat in ("linear", "spot"):
        # a late joiner (this SUB) asks for a fresh snapshot through the control endpoint
        assert feed.resnapshot(cat, "BTCUSDT")["ok"] is True
        eventually(lambda c=cat: feed.snapshots(c, "BTCUSDT") >= 1)
        assert_book_matches(sim, feed, cat, "BTCUSDT")
    # trades and full merged tickers flow too
    tickers = eventually(
        lambda: [m for _, m in feed.poll() if isinstance(m, wire.Ticker) and m.category == "linear"]
    )
    assert "lastPrice" in tickers[-1].fields and set(tickers[-1].changed) <= set(tickers[-1].fields)
    eventually(lambda: [m for _, m in feed.poll() if isinstance(m, wire.Trades)], timeout=20)

    # 1. dropped connection: disconnected, reconnect, resubscribe, fresh snapshot
    before = feed.snapshots("linear", "BTCUSDT")
    sim.control.fault("drop_connections", category="linear")
    eventually(lambda: "disconnected" in feed.statuses("linear", "BTCUSDT"))
    eventually(lambda: feed.statuses("linear", "BTCUSDT")[-1] == "subscribed")
    eventually(lambda: feed.snapshots("linear", "BTCUSDT") > before)
    assert feed.metric("tickwire_feed_reconnects_total") >= 1
    assert_book_matches(sim, feed, "linear", "BTCUSDT")

    # 2. a gap in u: counted, resubscribed, fresh snapshot
    before = feed.snapshots("linear", "BTCUSDT")
    sim.control.fault("skip_delta", category="linear", topic="orderbook.50.BTCUSDT")
    eventually(lambda: feed.metric("tickwire_feed_u_gaps_total") == 1)
    eventually(lambda: "resubscribing" in feed.statuses("linear", "BTCUSDT"))
    eventually(lambda: feed.snapshots("linear", "BTCUSDT") > before)
    assert feed.metric('tickwire_feed_resubscribes_total{reason="gap"}') == 1
    assert_book_matches(sim, feed, "linear", "BTCUSDT")

    # 3. malformed frames: counted, the feed carries on
    sim.control.fault("malformed", category="linear", kind="text")
    eventually(lambda: feed.metric('tickwire_feed_malformed_frames_total{kind="not_json"}') >= 1)
    sim.control.fault("malformed", category="spot", kind="types")
    eventually(lambda: feed.metric('tickwire_feed_malformed_frames_total{kind="book_schema"}') >= 1)
    assert feed.proc.alive and feed.client.request({"op": "ping"})["ok"]
    assert_book_matches(sim, feed, "spot", "BTCUSDT")

    # 4. resnapshot through the control endpoint, coalesced when repeated at once
    before = feed.snapshots("linear", "BTCUSDT")
    assert feed.resnapshot("linear", "BTCUSDT")["result"] == "requested"
    # "coalesced" unless the fresh snapshot already arrived in between (the simulator answers at
    # once; the pinned case with a held answer is in test_feed_local_ws.py)
    second = feed.resnapshot("linear", "BTCUSDT")["result"]
    assert second in ("coalesced", "requested")
    eventually(lambda: feed.snapshots("linear", "BTCUSDT") > before)
    asked = 3 + (second == "requested")  # 2 at the start + 1 (+ 1)
    eventually(lambda: feed.metric('tickwire_feed_resubscribes_total{reason="control"}') == asked)
    assert feed.resnapshot("linear", "NOPEUSDT")["error"]["code"] == "unknown_symbol"
    assert_book_matches(sim, feed, "linear", "BTCUSDT")
    assert feed.proc.alive


def test_delayed_pongs_make_the_feed_reconnect(
    sim_factory: Callable[..., SimHandle], start_feed: Any
) -> None:
    sim = sim_factory()
    feed = start_feed(sim, symbols="linear:BTCUSDT", feed_channels="book",
                      feed_ping_interval=0.3, feed_pong_timeout=0.5)  # fmt: skip
    eventually(feed.live, timeout=20, message="feed live")
    sim.control.fault("pong_delay", category="linear", ms=3000)
    eventually(lambda: feed.metric("tickwire_feed_pong_timeouts_total") >= 1, timeout=15)
    eventually(
        lambda: (
            "pong timeout"
            in [
                m.reason
                for _, m in feed.poll()
                if isinstance(m, wire.StreamStatus) and m.state == "disconnected"
            ]
        )
    )
    sim.control.clear_faults("pong_delay")
    n = len(feed.statuses("linear", "BTCUSDT"))
    eventually(lambda: feed.statuses("linear", "BTCUSDT")[n:].count("subscribed") >= 1, timeout=15)
    assert feed.proc.alive


def test_spot_batches_and_snapshot_before_ack(sim_factory: Callable[..., SimHandle], start_feed: Any) -> None:
    symbols = [f"SYM{i}USDT" for i in range(12)]
    spot = ",".join(f"spot:{s}" for s in symbols)
    sim = sim_factory(sim_symbols=spot, sim_faults='[{"name": "snapshot_before_ack", "count": 100}]')
    feed = start_feed(sim, symbols=spot, feed_channels="book")
    # 12 topics: refused as one request by spot ("args size >10"), accepted in batches of 10
    eventually(feed.live, timeout=20, message="feed live")
    status = feed.client.request({"op": "status"})
    assert status["connections"][0]["state"] == "live" and not status["connections"][0]["errors"]
    assert feed.metric("tickwire_feed_subscribe_errors_total") == 0
    # the snapshot of a resubscription comes before its ack: published, then "subscribed"
    assert feed.resnapshot("spot", "SYM3USDT")["result"] == "requested"
    # (the last status is already "subscribed" from the start: wait for the resubscription's own)
    sym3 = lambda: feed.statuses("spot", "SYM3USDT")  # noqa: E731
    eventually(lambda: (s := sym3())[-1:] == ["subscribed"] and "resubscribing" in s)
    order = [type(m).__name__ + ":" + getattr(m, "type", getattr(m, "state", ""))
             for t, m in feed.poll() if t.endswith("spot.SYM3USDT")]  # fmt: skip
    i = order.index("StreamStatus:resubscribing")
    # (deltas already on the wire before the unsubscribe reached the simulator may come in between)
    after = [kind for kind in order[i + 1 :] if kind != "BookUpdate:delta"]
    assert after[:2] == ["BookUpdate:snapshot", "StreamStatus:subscribed"]
    assert_book_matches(sim, feed, "spot", "SYM3USDT")


def test_a_recording_replays_in_the_simulator(
    sim_factory: Callable[..., SimHandle], start_feed: Any, tmp_path: Any
) -> None:
    import gzip

    def data_lines(directory: Any) -> dict[str, list[bytes]]:
        by_topic: dict[str, list[bytes]] = {}
        for path in sorted(directory.rglob("*.data.gz")):
            for line in gzip.decompress(path.read_bytes()).splitlines():
                by_topic.setdefault(json.loads(line)["topic"], []).append(line)
        return by_topic

    sim = sim_factory()
    feed = start_feed(sim, symbols="linear:BTCUSDT", feed_record_dir=str(tmp_path / "rec1"))
    eventually(lambda: feed.metric('tickwire_feed_messages_total{kind="book"}') >= 30, timeout=20)
    assert feed.proc.stop() == 0  # SIGTERM: the recorder flushes and closes its files
    recorded = data_lines(tmp_path / "rec1")
    assert set(recorded) == {"orderbook.50.BTCUSDT", "publicTrade.BTCUSDT", "tickers.BTCUSDT"}
    assert json.loads(recorded["orderbook.50.BTCUSDT"][0])["type"] == "snapshot"
    replay = tmp_path / "replay.data"
    replay.write_bytes(b"".join(line + b"\n" for lines in recorded.values() for line in lines))

    sim2 = sim_factory(sim_replay=str(replay), sim_replay_speed=0, sim_replay_category="linear")
    feed2 = start_feed(sim2, symbols="linear:BTCUSDT", feed_record_dir=str(tmp_path / "rec2"))
    n_book = len(recorded["orderbook.50.BTCUSDT"])
    eventually(lambda: feed2.metric('tickwire_feed_messages_total{kind="book"}') >= n_book, timeout=20)
    assert feed2.proc.stop() == 0
    assert data_lines(tmp_path / "rec2") == recorded  # byte for byte, per topic
