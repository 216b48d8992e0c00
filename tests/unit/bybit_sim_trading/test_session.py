"""Unit tests of the sans-I/O private WebSocket session (core/session.py), checked against the
real private samples (auth ack, subscribe ack, pong)."""

from __future__ import annotations

import json

from services.bybit_sim.trading.core.engine import Push
from services.bybit_sim.trading.core.session import PrivateSession
from services.bybit_sim.trading.core.signing import ApiKey, sign_ws_auth
from tests.helpers import SAMPLES

NOW = 1_700_000_000_000
KEYS = {"k": ApiKey("k", "s", 1001)}


def sample(name: str) -> dict[str, object]:
    return dict(json.loads((SAMPLES / name).read_text()))


def authed() -> PrivateSession:
    s = PrivateSession("cid-1", KEYS)
    s.handle(json.dumps({"op": "auth", "args": ["k", NOW + 5000, sign_ws_auth("s", NOW + 5000)]}), NOW)
    return s


def test_auth_ack_matches_sample() -> None:
    """Auth success has the real ack's keys and values; req_id is echoed first when sent."""
    s = PrivateSession("cid-1", KEYS)
    exp = NOW + 5000
    [ok] = s.handle(json.dumps({"op": "auth", "args": ["k", exp, sign_ws_auth("s", exp)]}), NOW)
    real = sample("ws_private_auth_ok_2023.json")
    assert list(ok) == list(real)
    assert {k: v for k, v in ok.items() if k != "conn_id"} == {
        k: v for k, v in real.items() if k != "conn_id"
    }
    s2 = PrivateSession("cid-2", KEYS)
    [with_req] = s2.handle(
        json.dumps({"req_id": "r", "op": "auth", "args": ["k", exp, sign_ws_auth("s", exp)]}), NOW
    )
    assert list(with_req) == ["req_id", "success", "ret_msg", "op", "conn_id"]
    [again] = s2.handle(json.dumps({"op": "auth", "args": ["k", exp, sign_ws_auth("s", exp)]}), NOW)
    assert again["success"] is False


def test_auth_refused() -> None:
    """Bad signature: success false, op auth, session stays unauthenticated."""
    s = PrivateSession("cid", KEYS)
    [r] = s.handle(json.dumps({"op": "auth", "args": ["k", NOW + 5000, "00"]}), NOW)
    assert (r["success"], r["op"], s.uid) == (False, "auth", None)


def test_pong_matches_sample() -> None:
    """Pong is {"op":"pong","args":["<ms>"],"conn_id":..}, with req_id when sent."""
    s = PrivateSession("cid", KEYS)
    [pong] = s.handle('{"op":"ping"}', NOW)
    [pong_req] = s.handle('{"req_id":"x","op":"ping"}', NOW)
    assert list(pong) == list(sample("ws_private_pong_2023.json"))
    assert pong["args"] == [str(NOW)]
    assert list(pong_req) == ["req_id", "op", "args", "conn_id"]


def test_subscribe_rules() -> None:
    """Needs auth; unknown topics, duplicates and all-in-one + categorised mixes are refused."""
    fresh = PrivateSession("cid", KEYS)
    [unauth] = fresh.handle('{"op":"subscribe","args":["order"]}', NOW)
    s = authed()
    [ack] = s.handle('{"op":"subscribe","args":["order","execution.linear","wallet"]}', NOW)
    [dup] = s.handle('{"op":"subscribe","args":["order"]}', NOW)
    [bad] = s.handle('{"op":"subscribe","args":["position.spot"]}', NOW)
    [mix] = s.handle('{"op":"subscribe","args":["position","position.linear"]}', NOW)
    [unsub] = s.handle('{"op":"unsubscribe","args":["wallet"]}', NOW)
    assert unauth["success"] is False and unauth["ret_msg"] == "Request not authorized"
    assert list(ack) == list(sample("ws_private_subscribe_ack_2023.json")) and ack["success"] is True
    assert dup["ret_msg"] == "error:already subscribed,topic:order"
    assert bad["ret_msg"] == "error:handler not found,topic:position.spot"
    assert mix["success"] is False
    assert unsub["success"] is True and s.topics == {"order", "execution.linear"}


def test_bad_frames_are_answered_and_counted() -> None:
    """Non-JSON and unknown ops get an error frame, never an exception."""
    s = PrivateSession("cid", KEYS)
    [r1] = s.handle("hello", NOW)
    [r2] = s.handle('{"op":"dance"}', NOW)
    [r3] = s.handle("[1]", NOW)
    assert r1["ret_msg"].startswith("Failed to decode incoming data")
    assert r2["ret_msg"] == "error:invalid op"
    assert r3["success"] is False and s.bad_frames == 3


def test_deliveries_by_topic_and_account() -> None:
    """Pushes go to the account's subscribed topics, all-in-one or categorised, plus execution.fast."""
    s = authed()
    s.handle('{"op":"subscribe","args":["order.linear","execution","execution.fast"]}', NOW)
    rec = {
        "category": "linear",
        "symbol": "BTCUSDT",
        "execId": "e",
        "execPrice": "1",
        "execQty": "1",
        "orderId": "o",
        "isMaker": False,
        "orderLinkId": "",
        "side": "Buy",
        "execTime": "1",
        "seq": 1,
        "execFee": "0",
    }
    assert [t for t, _ in s.deliveries(Push(1001, "order", "linear", [{}]))] == ["order.linear"]
    assert s.deliveries(Push(1001, "order", "spot", [{}])) == []
    assert s.deliveries(Push(1002, "order", "linear", [{}])) == []
    got = s.deliveries(Push(1001, "execution", "linear", [rec]))
    assert [t for t, _ in got] == ["execution", "execution.fast"]
    assert "execFee" not in got[1][1][0] and got[1][1][0]["execId"] == "e"
