"""The records the engine pushes carry every field of the real Bybit samples (order, execution,
position, wallet, realtime item) with the same JSON types."""

from __future__ import annotations

import json
from typing import Any

from services.bybit_sim.core.book import SimBook
from services.bybit_sim.trading.core.engine import Engine, Push
from services.bybit_sim.trading.core.queries import open_orders, positions, wallet_balance
from tests.helpers import SAMPLES
from tests.unit.bybit_sim_trading.conftest import UID

NOW = 1_700_000_000_000


def first_record(name: str) -> dict[str, Any]:
    text = (SAMPLES / name).read_text()
    msg = json.loads(text.splitlines()[0]) if name.endswith(".jsonl") else json.loads(text)
    return dict(msg["data"][0])


def check(ours: dict[str, Any], real: dict[str, Any], skip: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    missing = set(real) - set(ours) - skip
    assert not missing, f"missing fields {sorted(missing)}"
    for key in set(real) - skip:
        if real[key] is None:
            continue
        assert type(ours[key]) is type(real[key]), f"{key}: {type(ours[key])} vs {type(real[key])}"


def of(pushes: list[Push], topic: str) -> dict[str, Any]:
    return next(rec for p in pushes if p.topic == topic for rec in p.data)


def test_linear_records_match_samples(engine: Engine, linear_book: SimBook) -> None:
    """order / execution / position / wallet records vs real linear captures."""
    _, pushes = engine.create(
        UID,
        {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.1"},
        linear_book,
        NOW,
    )
    check(of(pushes, "order"), first_record("ws_private_order_linear_market_filled_2024.json"))
    check(of(pushes, "execution"), first_record("ws_private_execution_linear_market.json"))
    check(of(pushes, "position"), first_record("ws_private_position_linear_nautilus_fixture.json"))
    wallet = of(pushes, "wallet")
    real_wallet = first_record("ws_private_wallet_unified_5msgs.jsonl")
    check(wallet, real_wallet, skip={"coin"})
    check(wallet["coin"][0], real_wallet["coin"][0])


def test_spot_records_match_samples(engine: Engine, spot_book: SimBook) -> None:
    """Spot order and execution records vs the real 2023 spot market-order capture."""
    _, pushes = engine.create(
        UID,
        {"category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "100"},
        spot_book,
        NOW,
    )
    check(of(pushes, "order"), first_record("ws_private_order_spot_market_2msgs_2023.jsonl"))
    check(of(pushes, "execution"), first_record("ws_private_execution_spot_2023.json"))


def test_rest_records_match_samples(engine: Engine, linear_book: SimBook) -> None:
    """/v5/order/realtime items, /v5/account/wallet-balance vs the real REST captures."""
    engine.create(
        UID,
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.001",
            "price": "40000",
        },
        linear_book,
        NOW,
    )
    real = json.loads((SAMPLES / "rest_order_realtime_linear_open_orders.json").read_text())["result"]
    ours = open_orders(engine, UID, {"category": "linear", "symbol": "BTCUSDT"})
    check(ours, real, skip={"list"})
    check(ours["list"][0], real["list"][0])
    real_w = json.loads((SAMPLES / "rest_account_wallet_balance_unified.json").read_text())["result"]["list"][
        0
    ]
    ours_w = wallet_balance(engine, UID, {"accountType": "UNIFIED"})["list"][0]
    check(ours_w, real_w, skip={"coin"})
    check(ours_w["coin"][0], real_w["coin"][0])
    pos = positions(engine, UID, {"category": "linear", "symbol": "BTCUSDT"})["list"][0]
    assert pos["avgPrice"] == "0" and pos["side"] == "" and "entryPrice" not in pos
