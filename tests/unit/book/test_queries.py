"""The query handler: every op, every error code, exact Decimal results."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest

from services.book.core import queries
from services.book.core.sync import BookRegistry
from tests.unit.book.conftest import snap

BIDS = [("65000.5", "1.234"), ("65000.0", "0.5"), ("64999.9", "10")]
ASKS = [("65000.6", "0.100"), ("65001.0", "2"), ("65002.5", "0.001")]


@pytest.fixture
def reg() -> BookRegistry:
    r = BookRegistry([("linear", "BTCUSDT"), ("spot", "ETHUSDT")], 0.0)
    r.on_book(snap(42, BIDS, ASKS, seq=777), 1.0)
    return r


def ask(reg: BookRegistry, req: Any, now: float = 1.5, **kw: Any) -> dict[str, Any]:
    body = req if isinstance(req, bytes) else msgspec.json.encode(req)
    _op, reply, code = queries.handle(body, reg, now, **kw)
    out = msgspec.json.decode(reply)
    assert (code is None) == out["ok"]
    if code is not None:
        assert out["error"]["code"] == code
    return out  # type: ignore[no-any-return]


def test_book(reg: BookRegistry) -> None:
    r = ask(reg, {"op": "book", "category": "linear", "symbol": "BTCUSDT", "depth": 2})
    assert r == {
        "ok": True, "category": "linear", "symbol": "BTCUSDT", "state": "live", "u": 42, "seq": 777,
        "ts": 1042, "cts": 1041, "age_ms": 500,
        "bids": [["65000.5", "1.234"], ["65000.0", "0.5"]],
        "asks": [["65000.6", "0.100"], ["65001.0", "2"]],
    }  # fmt: skip
    full = ask(reg, {"op": "book", "category": "linear", "symbol": "BTCUSDT"})
    assert len(full["bids"]) == 3 and len(full["asks"]) == 3
    syncing = ask(reg, {"op": "book", "category": "spot", "symbol": "ETHUSDT", "depth": 5})
    assert syncing["state"] == "syncing" and syncing["bids"] == [] and syncing["asks"] == []


def test_top_exact(reg: BookRegistry) -> None:
    r = ask(reg, {"op": "top", "category": "linear", "symbol": "BTCUSDT"})
    assert (r["bid"], r["bid_size"], r["ask"], r["ask_size"]) == ("65000.5", "1.234", "65000.6", "0.100")
    assert r["mid"] == "65000.55"
    assert r["spread"] == "0.1"
    empty = ask(reg, {"op": "top", "category": "spot", "symbol": "ETHUSDT"})
    assert empty["bid"] is None and empty["mid"] is None and empty["spread"] is None


def test_top_exact_where_float_is_not() -> None:
    r = BookRegistry([], 0.0)
    r.on_book(snap(1, [("0.1", "1")], [("0.3", "1")]), 0.0)
    out = ask(r, {"op": "top", "category": "linear", "symbol": "BTCUSDT"})
    assert out["mid"] == "0.2" and out["spread"] == "0.2"  # float: 0.30000000000000004 - 0.1 ...
    r.on_book(snap(2, [("1.9531", "1")], [("1.9534", "1")]), 0.0)
    out = ask(r, {"op": "top", "category": "linear", "symbol": "BTCUSDT"})
    assert out["mid"] == "1.95325" and out["spread"] == "0.0003"


def test_impact_buy_walks_asks(reg: BookRegistry) -> None:
    r = ask(reg, {"op": "impact", "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "qty": "1.1"})
    # 0.100 @ 65000.6 + 1.0 @ 65001.0 = 6500.06 + 65001.0 = 71501.06
    assert r["cost"] == "71501.06"
    assert r["filled"] == "1.1"
    assert r["enough"] is True
    assert r["worst_price"] == "65001.0"
    assert r["levels"] == 2
    assert Decimal(r["avg_price"]) == (Decimal("71501.06") / Decimal("1.1")).quantize(Decimal("1e-18"))
    assert r["avg_price"] == "65000.963636363636363636"


def test_impact_sell_not_enough(reg: BookRegistry) -> None:
    r = ask(reg, {"op": "impact", "category": "linear", "symbol": "BTCUSDT", "side": "Sell", "qty": "100"})
    assert r["enough"] is False
    assert r["filled"] == "11.734"
    assert r["worst_price"] == "64999.9"
    cost = (
        Decimal("65000.5") * Decimal("1.234") + Decimal("65000.0") * Decimal("0.5") + Decimal("64999.9") * 10
    )
    assert Decimal(r["cost"]) == cost
    exact = ask(
        reg, {"op": "impact", "category": "linear", "symbol": "BTCUSDT", "side": "Sell", "qty": "0.5"}
    )
    assert exact["avg_price"] == "65000.5" and exact["enough"] is True and exact["levels"] == 1


def test_impact_on_empty_book(reg: BookRegistry) -> None:
    r = ask(reg, {"op": "impact", "category": "spot", "symbol": "ETHUSDT", "side": "Buy", "qty": "1"})
    assert r["enough"] is False and r["avg_price"] is None and r["worst_price"] is None and r["filled"] == "0"


def test_symbols_ping_status(reg: BookRegistry) -> None:
    r = ask(reg, {"op": "symbols"})
    states = {(b["category"], b["symbol"]): b["state"] for b in r["books"]}
    assert states == {("linear", "BTCUSDT"): "live", ("spot", "ETHUSDT"): "syncing"}
    assert ask(reg, {"op": "ping"}) == {"ok": True, "pong": True}
    assert ask(reg, {"op": "status"}, status=lambda: {"uptime_s": 3}) == {"ok": True, "uptime_s": 3}


BTC = {"category": "linear", "symbol": "BTCUSDT"}


@pytest.mark.parametrize(
    ("req", "code"),
    [
        (b"", "bad_json"),
        (b"{not json", "bad_json"),
        (b"\xff\xfe", "bad_json"),
        (b"[1,2]", "not_object"),
        (b'"book"', "not_object"),
        (b"null", "not_object"),
        ({}, "missing_param"),
        ({"op": "nope"}, "unknown_op"),
        ({"op": 5}, "unknown_op"),
        ({"op": "book"}, "missing_param"),
        ({"op": "book", "category": "linear"}, "missing_param"),
        ({"op": "book", "category": "linear", "symbol": "NOPEUSDT"}, "unknown_symbol"),
        ({"op": "top", "category": "option", "symbol": "BTCUSDT"}, "unknown_symbol"),
        ({"op": "book", "category": 1, "symbol": "BTCUSDT"}, "bad_param"),
        ({"op": "book", "category": "linear", "symbol": ["BTCUSDT"]}, "bad_param"),
        ({"op": "book", "category": "linear", "symbol": "X" * 65}, "bad_param"),
        ({"op": "book", **BTC, "depth": 0}, "bad_param"),
        ({"op": "book", **BTC, "depth": -1}, "bad_param"),
        ({"op": "book", **BTC, "depth": 1001}, "bad_param"),
        ({"op": "book", **BTC, "depth": 10**30}, "bad_param"),
        ({"op": "book", **BTC, "depth": 2.0}, "bad_param"),
        ({"op": "book", **BTC, "depth": "10"}, "bad_param"),
        ({"op": "book", **BTC, "depth": True}, "bad_param"),
        ({"op": "impact", **BTC, "qty": "1"}, "missing_param"),
        ({"op": "impact", **BTC, "side": "Buy"}, "missing_param"),
        ({"op": "impact", **BTC, "side": "buy", "qty": "1"}, "bad_param"),
        ({"op": "impact", **BTC, "side": "Buy", "qty": 1}, "bad_param"),
        ({"op": "impact", **BTC, "side": "Buy", "qty": "-1"}, "bad_param"),
        ({"op": "impact", **BTC, "side": "Buy", "qty": "0"}, "bad_param"),
        ({"op": "impact", **BTC, "side": "Buy", "qty": "0.000"}, "bad_param"),
        ({"op": "impact", **BTC, "side": "Buy", "qty": "1e5"}, "bad_param"),
        ({"op": "impact", **BTC, "side": "Buy", "qty": "NaN"}, "bad_param"),
        ({"op": "impact", **BTC, "side": "Buy", "qty": "Infinity"}, "bad_param"),
        ({"op": "impact", **BTC, "side": "Buy", "qty": "9" * 21}, "bad_param"),
        ({"op": "impact", **BTC, "side": "Buy", "qty": "1." + "1" * 21}, "bad_param"),
    ],
)
def test_error_codes(reg: BookRegistry, req: Any, code: str) -> None:
    r = ask(reg, req)
    assert r["ok"] is False
    assert r["error"]["code"] == code
    assert r["error"]["message"]


def test_too_large(reg: BookRegistry) -> None:
    body = msgspec.json.encode({"op": "ping", "pad": "x" * 200})
    r = ask(reg, body, max_bytes=100)
    assert r["error"]["code"] == "too_large"


def test_deeply_nested_json(reg: BookRegistry) -> None:
    r = ask(reg, b"[" * 100_000 + b"]" * 100_000, max_bytes=1 << 20)
    assert r["error"]["code"] in ("bad_json", "not_object")


def test_internal_error_is_reported_not_raised(reg: BookRegistry) -> None:
    def boom() -> dict[str, Any]:
        raise RuntimeError("bug")

    r = ask(reg, {"op": "status"}, status=boom)
    assert r["error"]["code"] == "internal"


def test_op_label_is_bounded(reg: BookRegistry) -> None:
    op, _, code = queries.handle(b'{"op":"' + b"z" * 50 + b'"}', reg, 0.0)
    assert op == "invalid" and code == "unknown_op"
    op, _, code = queries.handle(b'{"op":"top"}', reg, 0.0)
    assert op == "top" and code == "missing_param"


def test_every_error_code_is_covered() -> None:
    assert set(queries.ERROR_CODES) == {
        "bad_json", "not_object", "too_large", "missing_param",
        "bad_param", "unknown_op", "unknown_symbol", "internal",
    }  # fmt: skip
