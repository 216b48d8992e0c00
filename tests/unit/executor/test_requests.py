"""Building REST calls and grouping creates into batches within Bybit's per-category limits."""

from __future__ import annotations

import msgspec

from services.executor.core.intents import CreateIntent, decode_intent
from services.executor.core.requests import (
    CREATE,
    CREATE_BATCH,
    build_query_order,
    group_creates,
    query_string,
)


def create(category: str, n: int) -> CreateIntent:
    intent = decode_intent(
        msgspec.json.encode(
            {
                "action": "create",
                "category": category,
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "qty": "0.010",
                "price": "65000.5",
                "orderLinkId": f"{category}-{n}",
            }
        )
    )
    assert isinstance(intent, CreateIntent)
    return intent


def test_single_create_body() -> None:
    [call] = group_creates([create("linear", 1)])
    assert call.path == CREATE and call.method == "POST" and call.links == ("linear-1",)
    body = msgspec.json.decode(call.payload)
    assert "action" not in body and body["qty"] == "0.010" and body["orderLinkId"] == "linear-1"


def test_batches_per_category_within_limits() -> None:
    intents = [create("linear", i) for i in range(45)] + [create("spot", i) for i in range(21)]
    calls = group_creates(intents)
    sizes = [(c.category, c.path, len(c.links)) for c in calls]
    assert sizes == [
        ("linear", CREATE_BATCH, 20),
        ("linear", CREATE_BATCH, 20),
        ("linear", CREATE_BATCH, 5),
        ("spot", CREATE_BATCH, 10),
        ("spot", CREATE_BATCH, 10),
        ("spot", CREATE, 1),
    ]
    body = msgspec.json.decode(calls[0].payload)
    assert body["category"] == "linear" and len(body["request"]) == 20
    assert "category" not in body["request"][0] and body["request"][3]["orderLinkId"] == "linear-3"
    assert calls[0].weight == 20
    assert calls[0].links == tuple(f"linear-{i}" for i in range(20))  # order kept: item i ↔ result i


def test_query_string_sorted_and_exact() -> None:
    assert (
        query_string({"symbol": "BTCUSDT", "category": "linear", "cursor": ""})
        == b"category=linear&symbol=BTCUSDT"
    )
    call = build_query_order("linear", "BTCUSDT", "tw-1")
    assert call.target == "/v5/order/realtime?category=linear&openOnly=0&orderLinkId=tw-1&symbol=BTCUSDT"
