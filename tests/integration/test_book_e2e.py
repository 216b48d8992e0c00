"""End to end: bybit_sim -> feed -> book, with faults injected in the simulator.

After each fault the book must report the right state while it recovers and then hold exactly
the book the simulator sent (``GET /sim/book``), compared while the symbol is frozen.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import zmq

from services.common.book_client import BookClient
from services.common.bus import Subscriber
from services.common.rpc import RpcTimeout
from services.common.wire import Bbo, BookUpdate
from tests.helpers import ServiceProcess, eventually, free_port, tcp

pytestmark = pytest.mark.integration

BTC = ("linear", "BTCUSDT")
ETH = ("linear", "ETHUSDT")
DEPTH = 50


@dataclass
class E2E:
    spawn: Callable[..., ServiceProcess]
    ports: dict[str, int]
    ctx: zmq.Context[zmq.Socket[bytes]] = field(default_factory=zmq.Context)
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    client: BookClient | None = None
    bbo: Subscriber | None = None
    seen: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def http(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.ports['sim_http']}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def start_sim(self) -> None:
        self.procs["sim"] = self.spawn(
            "services.bybit_sim",
            sim_ws_port=self.ports["sim_ws"],
            sim_http_port=self.ports["sim_http"],
            sim_metrics_port=self.ports["sim_metrics"],
        )

        def healthy() -> bool:
            try:
                return bool(self.http("GET", "/sim/health")["status"] == "ok")
            except OSError:
                return False

        eventually(healthy, timeout=30)

    def start_feed(self) -> None:
        self.procs["feed"] = self.spawn(
            "services.feed",
            name="feed",
            bybit_public_ws_url=f"ws://127.0.0.1:{self.ports['sim_ws']}/v5/public/{{category}}",
            feed_pub=tcp(self.ports["pub"]),
            feed_ctl=tcp(self.ports["ctl"]),
            feed_metrics_port=self.ports["feed_metrics"],
            symbols="linear:BTCUSDT,linear:ETHUSDT",
            orderbook_depth=DEPTH,
            feed_channels="book",
            feed_backoff_initial=0.2,
            feed_backoff_max=1.0,
        )

    def start_book(self) -> None:
        self.procs["book"] = self.spawn(
            "services.book",
            feed_pub=tcp(self.ports["pub"]),
            feed_ctl=tcp(self.ports["ctl"]),
            book_rep=tcp(self.ports["rep"]),
            book_pub=tcp(self.ports["bbo"]),
            book_metrics_port=self.ports["book_metrics"],
            symbols="linear:BTCUSDT,linear:ETHUSDT",
            orderbook_depth=DEPTH,
            book_stale_after=1.5,
            book_resync_timeout=2.0,
        )
        self.client = BookClient(tcp(self.ports["rep"]), timeout=5)
        self.bbo = Subscriber(self.ctx, [tcp(self.ports["bbo"])], ["bk.bbo."])

    def states(self, key: tuple[str, str]) -> list[str]:
        """States seen for ``key`` on the BBO stream so far (consecutive duplicates folded)."""
        assert self.bbo is not None
        for _, msg in self.bbo.drain():
            if isinstance(msg, Bbo):
                seq = self.seen.setdefault((msg.category, msg.symbol), [])
                if not seq or seq[-1] != msg.state:
                    seq.append(msg.state)
        return self.seen.get(key, [])

    def state(self, key: tuple[str, str]) -> str:
        assert self.client is not None
        try:
            return str(self.client.top(*key)["state"])
        except RpcTimeout:  # still starting on a slow machine
            return "no reply"

    def resyncs(self) -> dict[str, int]:
        assert self.client is not None
        return dict(self.client.status()["resyncs"])

    def assert_matches_sim(self, key: tuple[str, str]) -> None:
        """Freeze the symbol, then the book must be live and equal to what the sim sent."""
        assert self.client is not None
        self.http("POST", "/sim/freeze", {"category": key[0], "symbol": key[1], "frozen": True})
        try:
            last: dict[str, Any] = {}

            def same() -> bool:
                sim = self.http("GET", f"/sim/book?category={key[0]}&symbol={key[1]}&depth={DEPTH}")
                ours = self.client.book(*key)  # type: ignore[union-attr]
                last.update(sim=sim, ours=ours)
                return (
                    ours["state"] == "live"
                    and ours["u"] == sim["u"]
                    and ours["bids"] == [list(x) for x in sim["bids"]]
                    and ours["asks"] == [list(x) for x in sim["asks"]]
                )

            try:
                eventually(same, timeout=20, interval=0.1)
            except AssertionError:
                ours, sim = last.get("ours", {}), last.get("sim", {})
                raise AssertionError(
                    f"book != sim: state={ours.get('state')} u={ours.get('u')} sim u={sim.get('u')} "
                    f"bids {ours.get('bids', [])[:3]} vs {sim.get('bids', [])[:3]}"
                ) from None
            assert len(self.client.book(*key)["bids"]) == DEPTH
        finally:
            self.http("POST", "/sim/freeze", {"category": key[0], "symbol": key[1], "frozen": False})

    def fault(self, name: str, **params: Any) -> None:
        self.http("POST", "/sim/fault", {"name": name, **params})

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.bbo is not None:
            self.bbo.close()
        self.ctx.destroy(linger=0)


@pytest.fixture
def e2e(spawn: Callable[..., ServiceProcess]) -> Iterator[E2E]:
    names = ("sim_ws", "sim_http", "sim_metrics", "pub", "ctl", "feed_metrics", "rep", "bbo", "book_metrics")
    env = E2E(spawn, {n: free_port() for n in names})
    yield env
    env.close()


def _recovers(env: E2E, key: tuple[str, str], cause: str, before: dict[str, int]) -> None:
    eventually(lambda: env.resyncs().get(cause, 0) > before.get(cause, 0), timeout=20, message=cause)
    eventually(lambda: "resyncing" in env.states(key), timeout=20, message="resyncing seen on bk.bbo")
    eventually(lambda: env.states(key)[-1] == "live", timeout=20, message="live again")
    env.assert_matches_sim(key)


def test_faults_recover_to_the_simulators_book(e2e: E2E) -> None:
    e2e.start_sim()
    e2e.start_feed()
    e2e.start_book()
    eventually(lambda: e2e.state(BTC) == "live" and e2e.state(ETH) == "live", timeout=30)
    e2e.assert_matches_sim(BTC)
    topic = f"orderbook.{DEPTH}.BTCUSDT"

    # u gap: one delta lost on the wire
    e2e.seen.clear()
    before = e2e.resyncs()
    e2e.fault("skip_delta", category="linear", topic=topic, count=1)
    _recovers(e2e, BTC, "u_gap", before)

    # u = 1 restart delivered as a delta
    e2e.seen.clear()
    before = e2e.resyncs()
    e2e.fault("restart", mode="delta", category="linear", topic=topic, count=1)
    _recovers(e2e, BTC, "u_restart", before)

    # dropped connection: the feed says "disconnected", reconnects, resubscribes
    e2e.seen.clear()
    before = e2e.resyncs()
    e2e.fault("drop_connections", category="linear", count=1)
    _recovers(e2e, BTC, "feed_status", before)
    e2e.assert_matches_sim(ETH)

    # stalled topic: the book goes stale, then live when the stream resumes
    e2e.seen.clear()
    e2e.fault("stall", category="linear", topic=topic)
    eventually(lambda: e2e.state(BTC) == "stale", timeout=20)
    e2e.http("DELETE", "/sim/fault?name=stall")
    eventually(lambda: e2e.state(BTC) == "live", timeout=20)
    e2e.assert_matches_sim(BTC)


def test_feed_restarted_under_running_book(e2e: E2E) -> None:
    e2e.start_sim()
    e2e.start_feed()
    e2e.start_book()
    eventually(lambda: e2e.state(BTC) == "live", timeout=30)
    assert e2e.client is not None
    e2e.procs["feed"].stop()
    eventually(lambda: e2e.client.status()["feed"]["connected"] is False, timeout=20)  # type: ignore[union-attr]
    eventually(lambda: e2e.state(BTC) == "stale", timeout=20)
    e2e.start_feed()
    eventually(lambda: e2e.state(BTC) == "live" and e2e.state(ETH) == "live", timeout=30)
    e2e.assert_matches_sim(BTC)
    e2e.assert_matches_sim(ETH)


def test_book_started_after_feed(e2e: E2E) -> None:
    e2e.start_sim()
    e2e.start_feed()
    # wait until the feed publishes books before the book service exists
    probe = Subscriber(e2e.ctx, [tcp(e2e.ports["pub"])], ["md.book."])
    eventually(lambda: any(isinstance(m, BookUpdate) for _, m in probe.drain()), timeout=30)
    probe.close()
    e2e.start_book()
    eventually(lambda: e2e.state(BTC) == "live" and e2e.state(ETH) == "live", timeout=30)
    e2e.assert_matches_sim(BTC)
    e2e.assert_matches_sim(ETH)
