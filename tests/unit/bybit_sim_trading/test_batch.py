"""Unit tests of batch order semantics (core/batch.py): index-aligned per-item results."""

from __future__ import annotations

from typing import Any

import pytest

from services.bybit_sim.core.book import SimBook
from services.bybit_sim.trading.core.batch import batch_size, create_batch
from services.bybit_sim.trading.core.engine import Engine
from services.bybit_sim.trading.core.errors import ApiError
from tests.unit.bybit_sim_trading.conftest import UID

NOW = 1_700_000_000_000


def item(link: str, **kw: Any) -> dict[str, Any]:
    it = {
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.01",
        "price": "60000",
        "orderLinkId": link,
    }
    it.update(kw)
    return it


def test_items_are_index_aligned(engine: Engine, linear_book: SimBook) -> None:
    """Good and bad items: retExtInfo.list[i] matches result.list[i]; failures have orderId ""."""
    req = {
        "category": "linear",
        "request": [item("b1"), item("b1"), item("b2", price="1.05"), "junk", item("b3")],
    }
    result, ext, pushes = create_batch(engine, UID, req, {("linear", "BTCUSDT"): linear_book}, 99, NOW)
    codes = [c["code"] for c in ext["list"]]
    rows = result["list"]
    assert codes == [0, 110072, 10001, 10001, 0]
    assert [bool(r["orderId"]) for r in rows] == [True, False, False, False, True]
    assert [r["orderLinkId"] for r in rows] == ["b1", "b1", "b2", "", "b3"]
    assert rows[0]["createAt"] == str(NOW) and rows[1]["createAt"] == ""
    assert ext["list"][0] == {"code": 0, "msg": "OK"}
    assert {p.topic for p in pushes} == {"order", "position"}


def test_items_beyond_grant_get_10006(engine: Engine, linear_book: SimBook) -> None:
    """When the rate-limit budget covers only k items, the rest fail individually with 10006."""
    req = {"category": "linear", "request": [item(f"g{i}") for i in range(4)]}
    _, ext, _ = create_batch(engine, UID, req, {("linear", "BTCUSDT"): linear_book}, 2, NOW)
    assert [c["code"] for c in ext["list"]] == [0, 0, 10006, 10006]
    assert ext["list"][2]["msg"] == "Too many visits!"
    assert batch_size(req) == 4


@pytest.mark.parametrize(("category", "n"), [("linear", 21), ("spot", 11)])
def test_batch_size_caps(engine: Engine, category: str, n: int) -> None:
    """More than 20 (derivatives) or 10 (spot) items refuse the whole request."""
    with pytest.raises(ApiError) as exc:
        create_batch(
            engine, UID, {"category": category, "request": [item(f"c{i}") for i in range(n)]}, {}, 99, NOW
        )
    assert exc.value.ret_code == 10001


def test_spot_batch(engine: Engine, spot_book: SimBook) -> None:
    """Spot batches take up to 10 items; duplicates are 170141."""
    req = {"category": "spot", "request": [item("s1"), item("s1")]}
    _, ext, _ = create_batch(engine, UID, req, {("spot", "BTCUSDT"): spot_book}, 99, NOW)
    assert [c["code"] for c in ext["list"]] == [0, 170141]
