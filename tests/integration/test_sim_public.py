"""The Bybit simulator's public WebSocket as a real process: dialects, books, faults, replay."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from services.bybit_sim.control import SimControl
from tests.helpers import FACTOR, SAMPLES, ServiceProcess, base_env, free_port
from tests.integration.conftest import SIM_TEST_DEFAULTS, SimHandle
from tests.unit.bybit_sim.client import ClientBook

pytestmark = pytest.mark.integration

T50 = "orderbook.50.BTCUSDT"
XRP = SAMPLES / "ws_public_orderbook_linear_ob500_XRPUSDT_sequence_50msgs.jsonl"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHandle]:
    """One simulator for the tests that only need defaults (faults cleared after each test)."""
    ws_port, http_port, mport = free_port(), free_port(), free_port()
    settings = {
        **SIM_TEST_DEFAULTS,
        "sim_ws_port": ws_port,
        "sim_http_port": http_port,
        "sim_metrics_port": mport,
    }
    proc = ServiceProcess("services.bybit_sim", base_env(**settings), tmp_path_factory.mktemp("sim"))
    control = SimControl(f"http://127.0.0.1:{http_port}")
    try:
        control.wait_ready(20 * FACTOR)
        yield SimHandle(
            f"ws://127.0.0.1:{ws_port}/v5/public/{{category}}",
            f"ws://127.0.0.1:{ws_port}/v5/private",
            f"http://127.0.0.1:{http_port}",
            f"http://127.0.0.1:{mport}/metrics",
            control,
            proc,
            settings,
        )
    finally:
        control.close()
        proc.stop()


@pytest.fixture
def sim1(shared: SimHandle) -> Iterator[SimHandle]:
    yield shared
    shared.control.clear_faults()


def arun(coro_fn: Callable[[], Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro_fn(), 30 * FACTOR))


async def recv_json(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), timeout * FACTOR)))


async def recv_until(
    ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Receive until ``pred(msg)``; return that message and everything received before it."""
    before: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout * FACTOR
    while True:
        msg = await recv_json(ws, max(0.01, deadline - time.monotonic()))
        if pred(msg):
            return msg, before
        before.append(msg)


async def request(ws: ClientConnection, req: dict[str, Any]) -> dict[str, Any]:
    """Send a control request and return its answer (data frames in between are skipped)."""
    await ws.send(json.dumps(req))
    msg, _ = await recv_until(ws, lambda m: "topic" not in m)
    return msg


def test_ack_dialects_limits_and_errors(sim1: SimHandle) -> None:
    async def go() -> None:
        async with connect(sim1.ws_url("spot")) as spot, connect(sim1.ws_url("linear")) as lin:
            ack = await request(spot, {"op": "subscribe", "args": ["publicTrade.BTCUSDT"]})
            assert list(ack) == ["success", "ret_msg", "conn_id", "op"] and ack["ret_msg"] == "subscribe"
            eleven = [f"orderbook.{d}.{s}" for d in (1, 50, 200, 1000) for s in ("BTCUSDT", "ETHUSDT")]
            eleven += ["tickers.BTCUSDT", "tickers.ETHUSDT", "publicTrade.ETHUSDT"]
            refused = await request(spot, {"req_id": "big", "op": "subscribe", "args": eleven})
            assert (refused["success"], refused["ret_msg"], refused["req_id"]) == (
                False,
                "args size >10",
                "big",
            )
            ok10 = await request(spot, {"req_id": "ten", "op": "subscribe", "args": eleven[:10]})
            assert ok10["success"] and ok10["req_id"] == "ten"

            ack = await request(lin, {"op": "subscribe", "args": [T50]})
            assert ack == {
                "success": True,
                "ret_msg": "",
                "conn_id": ack["conn_id"],
                "req_id": "",
                "op": "subscribe",
            }
            for topic in (
                "orderbook.50.NOPEUSDT",
                "orderbook.500.BTCUSDT",
                "orderbook.50.BTCUSD",
                "kline.1.X",
            ):
                err = await request(lin, {"req_id": "e1", "op": "subscribe", "args": [topic]})
                assert err["ret_msg"] == f"error:handler not found,topic:{topic}" and not err["success"]
            dup = await request(lin, {"req_id": "e6", "op": "subscribe", "args": [T50]})
            assert dup["ret_msg"] == f"error:already subscribed,topic:{T50}"
            assert (await request(lin, {"op": "nope"}))["ret_msg"] == "error:invalid op"
            await lin.send("hello")
            bad, _ = await recv_until(lin, lambda m: "topic" not in m)
            assert bad["ret_msg"].startswith("Failed to decode incoming data:") and not bad["success"]
            pong = await request(lin, {"req_id": "p1", "op": "ping"})  # the socket stays open
            assert pong == {
                "success": True,
                "ret_msg": "pong",
                "conn_id": ack["conn_id"],
                "req_id": "p1",
                "op": "ping",
            }
            spong = await request(spot, {"op": "ping"})
            assert list(spong) == ["success", "ret_msg", "conn_id", "op"] and spong["ret_msg"] == "pong"
            unsub = await request(lin, {"op": "unsubscribe", "args": [T50]})
            assert unsub["op"] == "unsubscribe" and unsub["success"]

    arun(go)


def test_unknown_path_is_rejected(sim1: SimHandle) -> None:
    async def go() -> None:
        with pytest.raises(InvalidStatus):
            async with connect(sim1.ws_url("option")):
                pass

    arun(go)


@pytest.mark.parametrize(
    ("category", "topic", "depth"), [("linear", T50, 50), ("spot", "orderbook.200.ETHUSDT", 200)]
)
def test_applied_stream_equals_sim_book(sim1: SimHandle, category: str, topic: str, depth: int) -> None:
    async def go() -> ClientBook:
        client = ClientBook()
        async with connect(sim1.ws_url(category)) as ws:
            await ws.send(json.dumps({"op": "subscribe", "args": [topic]}))
            end = time.monotonic() + 1.5
            n = 0
            while time.monotonic() < end or n < 5:
                m = await recv_json(ws)
                if m.get("topic") == topic:
                    client.apply(m)
                    n += 1
                    assert len(client.b) == depth and len(client.a) == depth
            await ws.send(json.dumps({"op": "unsubscribe", "args": [topic]}))
            _, rest = await recv_until(ws, lambda m: m.get("op") == "unsubscribe")
            for m in rest:
                if m.get("topic") == topic:
                    client.apply(m)
        return client

    client = arun(go)
    symbol = topic.rsplit(".", 1)[1]
    state = sim1.control.book(category, symbol, depth)
    assert client.as_sim_book() == {k: state[k] for k in ("bids", "asks", "u", "seq")}


def test_trades_and_tickers(sim1: SimHandle) -> None:
    async def go() -> None:
        async with connect(sim1.ws_url("linear")) as lin, connect(sim1.ws_url("spot")) as spot:
            await request(lin, {"op": "subscribe", "args": ["tickers.BTCUSDT", "publicTrade.BTCUSDT"]})
            await request(spot, {"op": "subscribe", "args": ["tickers.BTCUSDT", "publicTrade.BTCUSDT"]})
            snap, _ = await recv_until(lin, lambda m: m.get("topic") == "tickers.BTCUSDT")
            assert snap["type"] == "snapshot" and list(snap) == ["topic", "type", "data", "cs", "ts"]
            assert {"bid1Price", "ask1Size", "markPrice", "fundingRate"} <= set(snap["data"])
            delta, _ = await recv_until(lin, lambda m: m.get("topic") == "tickers.BTCUSDT")
            assert (
                delta["type"] == "delta"
                and len(delta["data"]) < len(snap["data"])
                and delta["cs"] >= snap["cs"]
            )
            trade, _ = await recv_until(lin, lambda m: m.get("topic") == "publicTrade.BTCUSDT")
            t = trade["data"][0]
            assert len(t["i"]) == 36 and t["L"].endswith("Tick") and t["S"] in ("Buy", "Sell") and "seq" in t
            st, _ = await recv_until(spot, lambda m: m.get("topic") == "tickers.BTCUSDT")
            st2, _ = await recv_until(spot, lambda m: m.get("topic") == "tickers.BTCUSDT")
            assert st["type"] == st2["type"] == "snapshot" and "bid1Price" not in st2["data"]
            assert list(st2) == ["topic", "ts", "type", "cs", "data"] and "usdIndexPrice" in st2["data"]
            strade, _ = await recv_until(spot, lambda m: m.get("topic") == "publicTrade.BTCUSDT")
            assert strade["data"][0]["i"].isdigit() and "L" not in strade["data"][0]

    arun(go)


def _book_msgs(topic: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("topic") == topic


def test_book_faults_on_the_wire(sim1: SimHandle) -> None:
    ctl = sim1.control

    async def go() -> None:
        async with connect(sim1.ws_url("linear")) as ws:
            await ws.send(json.dumps({"op": "subscribe", "args": [T50]}))
            snap, _ = await recv_until(ws, _book_msgs(T50))
            assert snap["type"] == "snapshot"
            last, _ = await recv_until(ws, _book_msgs(T50))

            ctl.fault("skip_delta", topic=T50)
            prev = last["data"]["u"]
            while True:  # consecutive deltas until exactly one u is missing
                m, _ = await recv_until(ws, _book_msgs(T50))
                if m["data"]["u"] != prev + 1:
                    assert m["data"]["u"] == prev + 2 and m["type"] == "delta"
                    break
                prev = m["data"]["u"]

            for mode in ("snapshot", "delta"):
                ctl.fault("restart", topic=T50, mode=mode)
                m, _ = await recv_until(ws, lambda m: m.get("topic") == T50 and m["data"]["u"] == 1)
                assert m["type"] == mode
                nxt, _ = await recv_until(ws, _book_msgs(T50))
                assert nxt["data"]["u"] == 2 and nxt["type"] == "delta"

            ctl.fault("resend_snapshot", topic=T50)
            m, _ = await recv_until(ws, lambda m: m.get("topic") == T50 and m["type"] == "snapshot")
            assert len(m["data"]["b"]) == 50

            client = ClientBook()
            client.apply(m)
            ctl.fault("stall", topic=T50, seconds=1.0)
            t0 = time.monotonic()
            # drain what was sent before the stall took effect, then check silence
            while True:
                try:
                    m = await recv_json(ws, 0.3)
                except TimeoutError:
                    break
                if m.get("topic") == T50:
                    client.apply(m)
            state = ctl.book("linear", "BTCUSDT", 50)
            assert client.as_sim_book() == {k: state[k] for k in ("bids", "asks", "u", "seq")}
            m, _ = await recv_until(ws, _book_msgs(T50))
            assert time.monotonic() - t0 >= 0.5
            client.apply(m)  # resumes with u + 1: no gap

    arun(go)
    assert sim1.control.stats()["faults_injected"]["skip_delta"] == 1


def test_connection_faults_on_the_wire(sim1: SimHandle) -> None:
    ctl = sim1.control

    async def go() -> None:
        async with connect(sim1.ws_url("linear")) as lin, connect(sim1.ws_url("inverse")) as inv:
            await request(lin, {"op": "subscribe", "args": [T50]})
            await request(inv, {"op": "subscribe", "args": ["orderbook.50.BTCUSD"]})

            ctl.fault("malformed", category="linear", topic=T50, kind="text")
            raw = await asyncio.wait_for(_first_non_json(lin), 5 * FACTOR)
            assert raw.startswith('{"topic":"orderbook.50.BTCUSDT"')
            ctl.fault("malformed", category="linear", topic=T50, kind="types")
            m, _ = await recv_until(lin, lambda m: m.get("topic") == T50 and not isinstance(m.get("ts"), int))
            assert isinstance(m["data"]["b"], str)

            ctl.fault("pong_delay", category="linear", ms=400)
            t0 = time.monotonic()
            pong = await request(lin, {"op": "ping"})
            assert pong["ret_msg"] == "pong" and time.monotonic() - t0 >= 0.35
            ctl.clear_faults("pong_delay")

            ctl.fault("snapshot_before_ack", category="linear")
            await lin.send(json.dumps({"req_id": "s", "op": "subscribe", "args": ["orderbook.200.ETHUSDT"]}))
            first, _ = await recv_until(lin, lambda m: m.get("topic") == "orderbook.200.ETHUSDT" or "op" in m)
            assert first.get("type") == "snapshot"
            ack, _ = await recv_until(lin, lambda m: "op" in m)
            assert ack["req_id"] == "s" and ack["success"]

            ctl.fault("drop_connections", category="linear")
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await recv_json(lin)
            assert info.value.rcvd is None  # abnormal closure (1006), like Bybit
            pong = await request(inv, {"op": "ping"})  # the other category is untouched
            assert pong["ret_msg"] == "pong"

    arun(go)


async def _first_non_json(ws: ClientConnection) -> str:
    while True:
        raw = await ws.recv()
        assert isinstance(raw, str)
        try:
            json.loads(raw)
        except ValueError:
            return raw


def test_idle_disconnect_without_ping(sim_factory: Callable[..., SimHandle]) -> None:
    sim = sim_factory(sim_idle_timeout=1.0)

    async def go() -> None:
        async with connect(sim.ws_url("linear")) as quiet, connect(sim.ws_url("spot")) as chatty:
            await request(quiet, {"op": "subscribe", "args": [T50]})
            t0 = time.monotonic()
            with pytest.raises(ConnectionClosed):
                while True:
                    await recv_json(quiet)
                    if time.monotonic() - t0 < 1.8:
                        await request(chatty, {"op": "ping"})
            assert 0.7 <= time.monotonic() - t0 <= 4 * FACTOR
            assert (await request(chatty, {"op": "ping"}))["ret_msg"] == "pong"

    arun(go)


def test_replay_is_byte_exact_and_snapshot_before_ack_at_start(sim_factory: Callable[..., SimHandle]) -> None:
    sim = sim_factory(sim_replay=str(XRP), sim_replay_speed=0, sim_faults="snapshot_before_ack")
    lines = XRP.read_text().splitlines()

    async def go() -> None:
        async with connect(sim.ws_url("linear")) as ws:
            await ws.send(json.dumps({"op": "subscribe", "args": ["orderbook.500.XRPUSDT"]}))
            ack = json.loads(await ws.recv())
            assert ack["success"] and ack["op"] == "subscribe"
            got = [await asyncio.wait_for(ws.recv(), 5 * FACTOR) for _ in lines]
            assert got == lines
            # generated topics still work beside the replay; the start-up fault is active
            await ws.send(json.dumps({"op": "subscribe", "args": [T50]}))
            first = json.loads(await ws.recv())
            assert first["type"] == "snapshot"

    arun(go)
    err = requests.get(sim.http_url + "/v5/market/instruments-info", params={"category": "linear"}, timeout=5)
    symbols = {i["symbol"] for i in err.json()["result"]["list"]}
    assert {"BTCUSDT", "ETHUSDT", "XRPUSDT", "SOLUSDT"} <= symbols


def test_default_sim_fixture_extra_symbols_and_metrics(sim_factory: Callable[..., SimHandle]) -> None:
    sim = sim_factory(sim_symbols="linear:FOOUSDT,spot:BARUSDT")

    async def go() -> None:
        async with connect(sim.ws_url("linear")) as ws:
            ack = await request(ws, {"op": "subscribe", "args": ["orderbook.1000.FOOUSDT"]})
            assert ack["success"]
            snap, _ = await recv_until(ws, _book_msgs("orderbook.1000.FOOUSDT"))
            assert len(snap["data"]["b"]) == 1000 == len(snap["data"]["a"])

    arun(go)
    text = requests.get(sim.metrics_url, timeout=5).text
    assert 'tickwire_sim_messages_sent_total{kind="snapshot"}' in text
    assert sim.control.stats()["symbols"] == 10


def test_sim_fixture_and_market_rest(sim: SimHandle) -> None:
    assert sim.control.health()["status"] == "ok"
    r = requests.get(
        sim.http_url + "/v5/market/orderbook",
        params={"category": "linear", "symbol": "XRPUSDT", "limit": 5},
        timeout=5,
    )
    body = r.json()
    assert body["retCode"] == 0 and len(body["result"]["b"]) == 5
    assert all(len(p.split(".")[1]) == 4 for p, _ in body["result"]["a"])
    t = requests.get(sim.http_url + "/v5/market/time", timeout=5).json()
    assert t["retCode"] == 0 and t["result"]["timeSecond"].isdigit()
    truth = sim.control.book("spot", "BTCUSDT", 1, truth=True)
    assert len(truth["bids"]) == 1 and Decimal(truth["bids"][0][0]) < Decimal(truth["asks"][0][0])
    assert sim.control.freeze("linear", "XRPUSDT")["frozen"] == ["linear:XRPUSDT"]
    bad = requests.post(sim.http_url + "/sim/fault", json={"name": "x", "count": 0}, timeout=5)
    assert bad.status_code == 400
