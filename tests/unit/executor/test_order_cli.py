"""``tickwire order``/``cancel``: arguments to intents."""

from __future__ import annotations

import pytest

from services.order_cli import build_intent, cli, parser


def intent(*argv: str) -> dict[str, object]:
    return build_intent(parser().parse_args(list(argv)))


def test_create_limit_and_market() -> None:
    assert intent("order", "create", "linear", "BTCUSDT", "Buy", "0.010", "--price", "65000.5") == {
        "action": "create",
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": "0.010",
        "price": "65000.5",
    }
    m = intent(
        "order", "create", "spot", "BTCUSDT", "Sell", "0.1", "--market", "--link-id", "x-1", "--tif", "IOC"
    )
    assert m["orderType"] == "Market" and m["orderLinkId"] == "x-1" and "price" not in m
    assert intent("order", "create", "linear", "BTCUSDT", "Sell", "1", "--market", "--reduce-only")[
        "reduceOnly"
    ]


def test_amend_cancel_kill_json() -> None:
    assert intent("order", "amend", "linear", "BTCUSDT", "--link-id", "a", "--price", "1") == {
        "action": "amend",
        "category": "linear",
        "symbol": "BTCUSDT",
        "orderLinkId": "a",
        "price": "1",
    }
    with pytest.raises(ValueError):
        intent("order", "amend", "linear", "BTCUSDT", "--link-id", "a")
    assert intent("cancel", "linear", "BTCUSDT", "--order-id", "9") == {
        "action": "cancel",
        "category": "linear",
        "symbol": "BTCUSDT",
        "orderId": "9",
    }
    assert intent("cancel", "spot", "--all") == {"action": "cancel_all", "category": "spot"}
    assert intent("cancel", "linear", "BTCUSDT", "--all")["symbol"] == "BTCUSDT"
    assert intent("order", "kill-switch", "on") == {"action": "kill_switch", "on": True}
    assert intent("order", "json", '{"action":"kill_switch","on":false}') == {
        "action": "kill_switch",
        "on": False,
    }


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["order", "create", "linear", "BTCUSDT", "Buy", "1"]) == 2  # neither --price nor --market
    assert cli(["cancel", "linear", "BTCUSDT", "--link-id", "a", "--all"]) == 2
    assert cli(["order", "json", "[1]", "--wait", "0"]) == 2
    capsys.readouterr()
