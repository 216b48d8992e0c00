"""Integration tests of the simulator's trading side over real HTTP and WebSocket sockets.

The simulator runs as a real process (``sim`` fixture); requests are signed here with a small
helper (not the executor's code). Unit tests of the pure core: tests/unit/bybit_sim_trading/.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import requests
import websockets

pytestmark = pytest.mark.integration

KEY, SECRET = "sim-key", "sim-secret"
KEY2, SECRET2 = "sim-key-2", "sim-secret-2"


class Client:
    """A minimal signed Bybit v5 REST client for the tests."""

    def __init__(self, base: str, key: str = KEY, secret: str = SECRET, offset_ms: int = 0) -> None:
        self.base = base
        self.key = key
        self.secret = secret
        self.offset_ms = offset_ms
        self.http = requests.Session()

    def _headers(self, payload: str, recv_window: str = "5000", ts: int | None = None) -> dict[str, str]:
        stamp = str(ts if ts is not None else time.time_ns() // 1_000_000 + self.offset_ms)
        sign = hmac.new(
            self.secret.encode(), f"{stamp}{self.key}{recv_window}{payload}".encode(), hashlib.sha256
        )
        return {
            "X-BAPI-API-KEY": self.key,
            "X-BAPI-TIMESTAMP": stamp,
            "X-BAPI-RECV-WINDOW": recv_window,
            "X-BAPI-SIGN": sign.hexdigest(),
            "Content-Type": "application/json",
        }

    def get(self, path: str, query: str = "", **kw: Any) -> requests.Response:
        url = f"{self.base}{path}?{query}" if query else f"{self.base}{path}"
        return self.http.get(url, headers=self._headers(query, **kw), timeout=10)

    def post(self, path: str, body: dict[str, Any], timeout: float = 10, **kw: Any) -> requests.Response:
        raw = json.dumps(body)
        return self.http.post(
            f"{self.base}{path}", data=raw, headers=self._headers(raw, **kw), timeout=timeout
        )


def order(link: str, **kw: Any) -> dict[str, Any]:
    body = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.001",
        "price": "10000",
        "orderLinkId": link,
    }
    body.update(kw)
    return body


@pytest.fixture
def api(sim: Any) -> Client:
    return Client(sim.http_url)


def fault(sim: Any, name: str, **params: Any) -> None:
    sim.control.fault(name, **params)


def sim_orders(sim: Any, key: str = KEY) -> list[dict[str, Any]]:
    r = requests.get(f"{sim.http_url}/sim/orders", params={"apiKey": key}, timeout=10)
    assert r.status_code == 200
    return list(r.json()["orders"])


def uniq(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns() % 10**12}"


# --- market endpoints ----------------------------------------------------------------------------


def test_market_time_and_instruments_and_orderbook(api: Client) -> None:
    """Public endpoints answer in Bybit's envelope; instruments paginate; the book is sorted."""
    t = requests.get(f"{api.base}/v5/market/time", timeout=10).json()
    page = requests.get(f"{api.base}/v5/market/instruments-info?category=linear&limit=1", timeout=10).json()
    nxt = page["result"]["nextPageCursor"]
    page2 = requests.get(
        f"{api.base}/v5/market/instruments-info?category=linear&limit=1&cursor={nxt}", timeout=10
    ).json()
    book = requests.get(
        f"{api.base}/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=5", timeout=10
    ).json()

    assert t["retCode"] == 0 and abs(int(t["result"]["timeSecond"]) - time.time()) < 5
    assert set(t) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    assert len(page["result"]["list"]) == 1 and nxt
    assert page2["result"]["list"][0]["symbol"] != page["result"]["list"][0]["symbol"]
    bids = [float(p) for p, _ in book["result"]["b"]]
    asks = [float(p) for p, _ in book["result"]["a"]]
    assert (
        len(bids) == 5 and bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    )


# --- authentication ------------------------------------------------------------------------------


def test_auth_errors(api: Client) -> None:
    """Unknown key 10003, bad signature 10004 with origin_string, stale/future timestamps 10002."""
    bad_key = Client(api.base, key="nope").get("/v5/order/realtime", "category=linear&symbol=BTCUSDT").json()
    bad_sig = (
        Client(api.base, secret="wrong").get("/v5/order/realtime", "category=linear&symbol=BTCUSDT").json()
    )
    now = time.time_ns() // 1_000_000
    old = api.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT", ts=now - 6000).json()
    ahead = api.get(
        "/v5/order/realtime", "category=linear&symbol=BTCUSDT", ts=now + 2500, recv_window="60000"
    )

    assert bad_key["retCode"] == 10003
    assert bad_sig["retCode"] == 10004
    assert "origin_string[" in bad_sig["retMsg"] and "category=linear&symbol=BTCUSDT]" in bad_sig["retMsg"]
    assert old["retCode"] == 10002 and "recv_window[5000]" in old["retMsg"]
    assert ahead.status_code == 200 and ahead.json()["retCode"] == 10002


# --- orders --------------------------------------------------------------------------------------


def test_create_query_amend_cancel(api: Client, sim: Any) -> None:
    """A resting limit order is created, found by orderLinkId, amended, cancelled; then 110001."""
    link = uniq("life")
    created = api.post("/v5/order/create", order(link))
    found = api.get("/v5/order/realtime", f"category=linear&orderLinkId={link}").json()
    amended = api.post(
        "/v5/order/amend",
        {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": link, "price": "10000.5"},
    ).json()
    cancelled = api.post(
        "/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": link}
    ).json()
    again = api.post(
        "/v5/order/cancel", {"category": "linear", "symbol": "BTCUSDT", "orderLinkId": link}
    ).json()
    closed = api.get(
        "/v5/order/realtime", f"category=linear&symbol=BTCUSDT&openOnly=1&orderLinkId={link}"
    ).json()

    assert created.status_code == 200 and created.json()["retCode"] == 0
    assert created.headers["X-Bapi-Limit"] == "10" and "X-Bapi-Limit-Status" in created.headers
    assert int(created.headers["X-Bapi-Limit-Reset-Timestamp"]) > 0
    order_id = created.json()["result"]["orderId"]
    assert found["result"]["list"][0]["orderId"] == order_id
    assert found["result"]["list"][0]["orderStatus"] == "New"
    assert amended["retCode"] == 0 and cancelled["retCode"] == 0
    assert again["retCode"] == 110001
    assert closed["result"]["list"][0]["orderStatus"] == "Cancelled"
    assert closed["result"]["list"][0]["price"] == "10000.5"
    mine = [o for o in sim_orders(sim) if o["orderLinkId"] == link]
    assert len(mine) == 1


def test_duplicate_order_link_id(api: Client) -> None:
    """A reused orderLinkId is refused: 110072 on derivatives, 170141 on spot."""
    link = uniq("dup")
    first = api.post("/v5/order/create", order(link)).json()
    second = api.post("/v5/order/create", order(link)).json()
    spot = {
        "category": "spot",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.001",
        "price": "10000",
        "orderLinkId": uniq("sdup"),
    }
    s1 = api.post("/v5/order/create", spot).json()
    s2 = api.post("/v5/order/create", spot).json()

    assert first["retCode"] == 0
    assert second["retCode"] == 110072
    assert s1["retCode"] == 0
    assert s2["retCode"] == 170141


def test_validation_errors(api: Client) -> None:
    """Tick, lot and notional violations use Bybit's codes per category."""
    tick = api.post("/v5/order/create", order(uniq("v"), price="10000.05")).json()
    notional = api.post("/v5/order/create", order(uniq("v"), price="100")).json()
    spot_dec = api.post(
        "/v5/order/create",
        {
            "category": "spot",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.0010001",
            "price": "10000",
        },
    ).json()

    assert tick["retCode"] == 10001
    assert notional["retCode"] == 110094
    assert spot_dec["retCode"] == 170137


def test_batch_partial_failure(api: Client, sim: Any) -> None:
    """Batch results are index-aligned; a failed item has orderId "" and its own code."""
    link = uniq("b")
    body = {
        "category": "linear",
        "request": [
            {
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "qty": "0.001",
                "price": "10000",
                "orderLinkId": link,
            },
            {
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "qty": "0.001",
                "price": "10000",
                "orderLinkId": link,
            },
        ],
    }
    r = api.post("/v5/order/create-batch", body).json()

    assert r["retCode"] == 0
    assert [x["code"] for x in r["retExtInfo"]["list"]] == [0, 110072]
    assert r["result"]["list"][0]["orderId"] and r["result"]["list"][1]["orderId"] == ""
    assert len([o for o in sim_orders(sim) if o["orderLinkId"] == link]) == 1


def test_rate_limit_10006_and_headers(api: Client) -> None:
    """A 20-order batch gets 10 orders through (10/s budget) and 10006 per item for the rest;
    a request right after it is refused as a whole with 10006 and X-Bapi-Limit-Status 0."""
    key2 = Client(api.base, KEY2, SECRET2)

    def batch(n: int) -> requests.Response:
        items = [
            {
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "qty": "0.001",
                "price": "10000",
                "orderLinkId": uniq(f"rl{i}"),
            }
            for i in range(n)
        ]
        return key2.post("/v5/order/create-batch", {"category": "linear", "request": items})

    for _ in range(3):  # a stalled machine may let the 1-s window roll between the two requests
        first = batch(20)
        second = batch(1)
        if second.json()["retCode"] == 10006:
            break
    codes = [x["code"] for x in first.json()["retExtInfo"]["list"]]

    assert first.json()["retCode"] == 0
    assert codes == [0] * 10 + [10006] * 10
    assert first.headers["X-Bapi-Limit"] == "10" and first.headers["X-Bapi-Limit-Status"] == "0"
    assert second.json() | {"time": 0} == {
        "retCode": 10006,
        "retMsg": "Too many visits!",
        "result": {},
        "retExtInfo": {},
        "time": 0,
    }
    assert second.headers["X-Bapi-Limit-Status"] == "0"
    assert int(second.headers["X-Bapi-Limit-Reset-Timestamp"]) >= second.json()["time"]


def test_cancel_all_positions_wallet(api: Client) -> None:
    """cancel-all by symbol, position list and wallet balance over signed HTTP."""
    key2 = Client(api.base, KEY2, SECRET2)
    links = [uniq("ca"), uniq("ca")]
    for link in links:
        assert (
            key2.post("/v5/order/create", order(link, category="spot", price="10000")).json()["retCode"] == 0
        )
    cancelled = key2.post("/v5/order/cancel-all", {"category": "spot", "symbol": "BTCUSDT"}).json()
    pos = key2.get("/v5/position/list", "category=linear&symbol=ETHUSDT").json()
    wallet = key2.get("/v5/account/wallet-balance", "accountType=UNIFIED").json()

    assert cancelled["retCode"] == 0 and cancelled["result"]["success"] == "1"
    assert set(links) <= {x["orderLinkId"] for x in cancelled["result"]["list"]}
    assert pos["retCode"] == 0 and pos["result"]["list"][0]["symbol"] == "ETHUSDT"
    coins = {c["coin"]: c for c in wallet["result"]["list"][0]["coin"]}
    assert wallet["result"]["list"][0]["accountType"] == "UNIFIED" and "USDT" in coins


def test_bad_input_is_refused_not_crashing(api: Client) -> None:
    """Garbage bodies get retCode 10001 with HTTP 200; the server keeps serving."""
    raws = ["not json", "[1, 2]", '{"category": [], "symbol": {}}', '{"category": "linear", "qty": {"a": 1}}']
    codes = []
    for raw in raws:
        r = api.http.post(f"{api.base}/v5/order/create", data=raw, headers=api._headers(raw), timeout=10)
        codes.append((r.status_code, r.json()["retCode"]))
    assert codes == [(200, 10001)] * 4
    assert api.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT").json()["retCode"] == 0


# --- private WebSocket ---------------------------------------------------------------------------


def ws_sign(secret: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()


async def _auth(ws: Any, key: str = KEY, secret: str = SECRET, expires: int | None = None) -> dict[str, Any]:
    exp = expires if expires is not None else time.time_ns() // 1_000_000 + 10_000
    await ws.send(json.dumps({"req_id": "a1", "op": "auth", "args": [key, exp, ws_sign(secret, exp)]}))
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 10)))


async def _until(ws: Any, pred: Any, timeout: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            msg = json.loads(await ws.recv())
            if pred(msg):
                return dict(msg)


def test_private_auth_ping_subscribe(sim: Any) -> None:
    """Auth ok / bad signature / expired; pong and subscribe ack shapes as on Bybit."""

    async def run() -> None:
        async with websockets.connect(sim.ws_private_url) as ws:
            bad = await _auth(ws, secret="wrong")
            expired = await _auth(ws, expires=time.time_ns() // 1_000_000 - 1000)
            await ws.send(json.dumps({"op": "subscribe", "args": ["order"]}))
            unauth = json.loads(await ws.recv())
            ok = await _auth(ws)
            await ws.send(json.dumps({"req_id": "p", "op": "ping"}))
            pong = json.loads(await ws.recv())
            await ws.send(
                json.dumps({"op": "subscribe", "args": ["order", "execution", "position", "wallet"]})
            )
            ack = json.loads(await ws.recv())

        assert bad["success"] is False and bad["op"] == "auth"
        assert expired["success"] is False
        assert unauth["success"] is False
        assert ok == {"req_id": "a1", "success": True, "ret_msg": "", "op": "auth", "conn_id": ok["conn_id"]}
        assert pong["op"] == "pong" and pong["req_id"] == "p" and pong["args"][0].isdigit()
        assert list(ack) == ["success", "ret_msg", "op", "conn_id"] and ack["success"] is True

    asyncio.run(run())


def test_private_order_execution_position_wallet(sim: Any) -> None:
    """A market order yields order Filled, execution(s), position and wallet pushes."""
    api = Client(sim.http_url)
    link = uniq("mkt")

    async def run() -> list[dict[str, Any]]:
        async with websockets.connect(sim.ws_private_url) as ws:
            assert (await _auth(ws))["success"]
            await ws.send(
                json.dumps({"op": "subscribe", "args": ["order", "execution", "position", "wallet"]})
            )
            await _until(ws, lambda m: m.get("op") == "subscribe")
            r = await asyncio.to_thread(
                api.post, "/v5/order/create", order(link, orderType="Market", qty="0.01", price=None)
            )
            assert r.json()["retCode"] == 0, r.text
            got: list[dict[str, Any]] = []
            topics: set[str] = set()
            async with asyncio.timeout(10):
                while not {"order", "execution", "position", "wallet"} <= topics:
                    msg = json.loads(await ws.recv())
                    if "topic" in msg:
                        got.append(msg)
                        topics.add(msg["topic"])
            return got

    msgs = asyncio.run(run())
    orders = [d for m in msgs if m["topic"] == "order" for d in m["data"] if d["orderLinkId"] == link]
    execs = [d for m in msgs if m["topic"] == "execution" for d in m["data"] if d["orderLinkId"] == link]

    assert orders[-1]["orderStatus"] == "Filled" and orders[-1]["cumExecQty"] == "0.01"
    assert sum(float(x["execQty"]) for x in execs) == pytest.approx(0.01)
    assert all(set(m) == {"id", "topic", "creationTime", "data"} for m in msgs)


# --- faults --------------------------------------------------------------------------------------


def test_fault_http_5xx(api: Client, sim: Any) -> None:
    """http_5xx answers the next N requests on a path with the HTTP status."""
    fault(sim, "http_5xx", count=2, status=502, path="/v5/order/realtime")
    codes = [api.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT").status_code for _ in range(3)]
    assert codes == [502, 502, 200]


def test_fault_rate_limit_burst(api: Client, sim: Any) -> None:
    """rate_limit_burst answers the next N private requests with 10006."""
    fault(sim, "rate_limit_burst", count=1)
    first = api.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT")
    second = api.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT")
    assert first.json()["retCode"] == 10006 and first.json()["retMsg"] == "Too many visits!"
    assert first.headers["X-Bapi-Limit-Status"] == "0"
    assert second.json()["retCode"] == 0


def test_fault_clock_skew(api: Client, sim: Any) -> None:
    """With the server clock 10 s behind, requests fail with 10002 until the client resyncs."""
    fault(sim, "clock_skew", offset_ms=-10_000)
    try:
        before = api.get("/v5/order/realtime", "category=linear&symbol=BTCUSDT").json()
        server = int(requests.get(f"{api.base}/v5/market/time", timeout=10).json()["time"])
        offset = server - time.time_ns() // 1_000_000
        synced = Client(api.base, offset_ms=offset).get(
            "/v5/order/realtime", "category=linear&symbol=BTCUSDT"
        )
    finally:
        sim.control.clear_faults("clock_skew")
    assert before["retCode"] == 10002
    assert -11_000 < offset < -9_000
    assert synced.json()["retCode"] == 0


@pytest.mark.parametrize("mode", ["delay", "drop"])
def test_fault_order_timeout(api: Client, sim: Any, mode: str) -> None:
    """order_timeout: the order is created, but the client sees a timeout / dropped connection."""
    fault(sim, "order_timeout", count=1, mode=mode, delay_ms=20_000, path="/v5/order/create")
    link = uniq(f"to-{mode}")
    with pytest.raises(requests.RequestException):
        api.post("/v5/order/create", order(link), timeout=1)
    retry = api.post("/v5/order/create", order(link)).json()
    found = api.get("/v5/order/realtime", f"category=linear&orderLinkId={link}").json()

    assert retry["retCode"] == 110072
    assert len(found["result"]["list"]) == 1
    assert len([o for o in sim_orders(sim) if o["orderLinkId"] == link]) == 1


def test_fault_drop_private(sim: Any) -> None:
    """drop_private closes every private connection."""

    async def run() -> None:
        async with websockets.connect(sim.ws_private_url) as ws:
            assert (await _auth(ws))["success"]
            await asyncio.to_thread(fault, sim, "drop_private")
            with pytest.raises(websockets.ConnectionClosed):
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()

    asyncio.run(run())
