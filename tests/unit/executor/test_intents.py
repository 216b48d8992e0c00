"""Intent schema and orderLinkId derivation."""

from __future__ import annotations

import re

import msgspec
import pytest

from services.common.order_client import derive_order_link_id
from services.executor.core.intents import (
    AmendIntent,
    CancelAllIntent,
    CancelIntent,
    CreateIntent,
    IntentError,
    KillSwitchIntent,
    decode_intent,
    peek_fields,
    to_json,
)

CREATE = {
    "action": "create",
    "category": "linear",
    "symbol": "BTCUSDT",
    "side": "Buy",
    "orderType": "Limit",
    "qty": "0.010",
    "price": "65000.5",
    "timeInForce": "GTC",
}


def enc(obj: object) -> bytes:
    return msgspec.json.encode(obj)


def test_create_with_link_id_keeps_it() -> None:
    intent = decode_intent(enc({**CREATE, "orderLinkId": "strat1-000123"}))
    assert isinstance(intent, CreateIntent)
    assert intent.orderLinkId == "strat1-000123" and intent.qty == "0.010" and intent.price == "65000.5"


def test_derived_link_id_is_deterministic_and_valid() -> None:
    a = decode_intent(enc(CREATE))
    b = decode_intent(enc(dict(reversed(list(CREATE.items())))))  # key order does not matter
    assert isinstance(a, CreateIntent) and isinstance(b, CreateIntent)
    assert a.orderLinkId == b.orderLinkId == derive_order_link_id(CREATE)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,36}", str(a.orderLinkId))
    other = decode_intent(enc({**CREATE, "qty": "0.011"}))
    assert isinstance(other, CreateIntent) and other.orderLinkId != a.orderLinkId
    # "0.010" and "0.01" are different intents (values are taken exactly as given)
    assert derive_order_link_id({**CREATE, "qty": "0.01"}) != derive_order_link_id(CREATE)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"not json", "not a JSON intent"),
        (b"[1,2]", "Expected"),
        ({**CREATE, "foo": 1}, "unknown field"),
        ({**CREATE, "action": "explode"}, "Invalid value 'explode'"),
        ({**CREATE, "qty": 0.01}, "Expected `str`"),
        ({**CREATE, "qty": "1e-3"}, "regex"),
        ({**CREATE, "price": "-1"}, "regex"),
        ({**CREATE, "side": "buy"}, "Invalid enum value"),
        ({**CREATE, "category": "option"}, "Invalid enum value"),
        ({**CREATE, "orderLinkId": "x" * 37}, "regex"),
        ({**CREATE, "orderLinkId": "bad id!"}, "regex"),
        ({k: v for k, v in CREATE.items() if k != "price"}, "needs `price`"),
        ({"action": "cancel", "category": "linear", "symbol": "BTCUSDT"}, "orderLinkId"),
        ({"action": "amend", "category": "linear", "symbol": "BTCUSDT", "orderLinkId": "a"}, "at least one"),
        ({"action": "cancel_all", "category": "linear"}, "needs symbol"),
        ({"action": "kill_switch"}, "missing required field"),
    ],
)
def test_malformed_intents_are_refused(payload: object, fragment: str) -> None:
    raw = payload if isinstance(payload, bytes) else enc(payload)
    with pytest.raises(IntentError) as info:
        decode_intent(raw)
    assert fragment in info.value.message
    assert info.value.code == "schema"


def test_other_actions() -> None:
    assert isinstance(decode_intent(enc({"action": "kill_switch", "on": True})), KillSwitchIntent)
    c = decode_intent(enc({"action": "cancel", "category": "spot", "symbol": "BTCUSDT", "orderId": "123"}))
    assert isinstance(c, CancelIntent) and c.orderId == "123"
    a = decode_intent(
        enc(
            {"action": "amend", "category": "linear", "symbol": "BTCUSDT", "orderLinkId": "a", "price": "1.5"}
        )
    )
    assert isinstance(a, AmendIntent)
    ca = decode_intent(enc({"action": "cancel_all", "category": "spot"}))
    assert isinstance(ca, CancelAllIntent)


def test_journal_form_round_trips_and_omits_unset() -> None:
    intent = decode_intent(enc(CREATE))
    body = msgspec.json.decode(to_json(intent))
    assert "reduceOnly" not in body and body["action"] == "create" and body["orderLinkId"].startswith("tw-")


def test_peek_fields_of_refused() -> None:
    assert peek_fields(enc({**CREATE, "foo": 1, "orderLinkId": "x1"}))["orderLinkId"] == "x1"
    assert peek_fields(b"\xff") == {}
