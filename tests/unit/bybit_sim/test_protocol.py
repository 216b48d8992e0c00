"""Public session dialects checked against the real samples."""

from __future__ import annotations

import json

from services.bybit_sim.core.protocol import PublicSession, parse_topic
from tests.helpers import SAMPLES

VALID = {"orderbook.50.BTCUSDT", "orderbook.1.ETHUSDT", "publicTrade.BTCUSDT"} | {
    f"tickers.S{i}USDT" for i in range(12)
}


def ok(category: str, topic: str) -> bool:
    return topic in VALID


def frames(session: PublicSession, req: object) -> list[dict]:
    out = session.handle(json.dumps(req))
    return [json.loads(f) for f in out.frames]


def test_parse_topic() -> None:
    assert parse_topic("orderbook.50.BTCUSDT") == ("orderbook", 50, "BTCUSDT")
    assert parse_topic("publicTrade.X") == ("publicTrade", 0, "X")
    assert parse_topic("orderbook.x.BTC") is None and parse_topic("kline.1.BTC") is None


def test_spot_ack_dialect_matches_real_sample() -> None:
    s = PublicSession("spot", "6c642bd0-3fa2-408e-8617-3d62cb898d4c", ok)
    ack = s.handle('{"op":"subscribe","args":["publicTrade.BTCUSDT"]}').frames[0]
    real = (SAMPLES / "ws_public_publicTrade_spot_BTCUSDT_ack_and_trades.jsonl").read_text().splitlines()[0]
    assert ack.decode() == real
    (with_id,) = frames(s, {"req_id": "10001", "op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})
    assert list(with_id) == ["success", "ret_msg", "conn_id", "req_id", "op"]
    assert with_id["req_id"] == "10001" and with_id["ret_msg"] == "subscribe"


def test_linear_ack_dialect_and_errors_match_probe() -> None:
    s = PublicSession("linear", "da7tou12ob6fpjtusqi0-8f1rr", ok)
    probe = (SAMPLES / "ws_public_linear_live_probe_frames_2026_trimmed.jsonl").read_text().splitlines()
    out = s.handle('{"req_id":"probe-pp","op":"subscribe","args":["orderbook.50.BTCUSDT"]}')
    assert out.frames[0].decode() == probe[1] and out.topics == ["orderbook.50.BTCUSDT"]
    assert s.handle('{"req_id":"ping-pp","op":"ping"}').frames[0].decode() == probe[5]
    (no_id,) = frames(s, {"op": "subscribe", "args": ["publicTrade.BTCUSDT"]})
    assert no_id == {"success": True, "ret_msg": "", "conn_id": s.conn_id, "req_id": "", "op": "subscribe"}
    (dup,) = frames(s, {"req_id": "e6", "op": "subscribe", "args": ["orderbook.50.BTCUSDT"]})
    assert dup["ret_msg"] == "error:already subscribed,topic:orderbook.50.BTCUSDT" and not dup["success"]
    (bad,) = frames(s, {"req_id": "e1", "op": "subscribe", "args": ["orderbook.50.NOPEUSDT"]})
    assert bad["ret_msg"] == "error:handler not found,topic:orderbook.50.NOPEUSDT"
    (op,) = frames(s, {"op": "dance"})
    assert op["ret_msg"] == "error:invalid op" and not op["success"]
    out = s.handle("hello")
    assert out.kind == "error"
    assert json.loads(out.frames[0])["ret_msg"].startswith(
        "Failed to decode incoming data:readObjectStart: expect { or n, but found h"
    )
    (unsub,) = frames(s, {"op": "unsubscribe", "args": ["publicTrade.BTCUSDT"]})
    assert unsub["op"] == "unsubscribe" and unsub["success"] and "publicTrade.BTCUSDT" not in s.topics


def test_pong_shapes() -> None:
    spot = PublicSession("spot", "8c207ac5-8a20-40d8-963e-03e6b9cfe080", ok)
    real = (SAMPLES / "ws_public_spot_pong_2023.json").read_text().strip()
    assert json.loads(spot.handle('{"op":"ping"}').frames[0]) == json.loads(real)
    lin = PublicSession("inverse", "x", ok)
    assert json.loads(lin.handle('{"op":"ping"}').frames[0]) == {
        "success": True, "ret_msg": "pong", "conn_id": "x", "req_id": "", "op": "ping",
    }  # fmt: skip


def test_spot_args_limit_refuses_whole_request() -> None:
    s = PublicSession("spot", "c", ok)
    args = [f"tickers.S{i}USDT" for i in range(11)]
    out = s.handle(json.dumps({"op": "subscribe", "args": args}))
    assert json.loads(out.frames[0])["ret_msg"] == "args size >10" and out.kind == "error"
    assert s.topics == set()
    assert s.handle(json.dumps({"op": "subscribe", "args": args[:10]})).kind == "subscribe"
    lin = PublicSession("linear", "c", ok)
    assert (
        lin.handle(json.dumps({"op": "subscribe", "args": [*args, "publicTrade.BTCUSDT"]})).kind
        == "subscribe"
    )


def test_bad_topic_refuses_whole_request() -> None:
    s = PublicSession("linear", "c", ok)
    out = s.handle(json.dumps({"op": "subscribe", "args": ["orderbook.50.BTCUSDT", "orderbook.30.BTCUSDT"]}))
    assert out.kind == "error" and s.topics == set()
