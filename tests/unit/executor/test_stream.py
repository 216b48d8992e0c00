"""Private-stream frames (real samples) into records and report data."""

from __future__ import annotations

import pytest

from services.common.errors import ProtocolError
from services.executor.core.stream import Control, Record, as_strings, parse_frame, signed_position
from tests.helpers import SAMPLES


def records(name: str) -> list[Record]:
    out: list[Record] = []
    for line in (
        (SAMPLES / name).read_text().splitlines()
        if name.endswith(".jsonl")
        else [(SAMPLES / name).read_text()]
    ):
        if line.strip():
            parsed = parse_frame(line)
            assert isinstance(parsed, list)
            out += parsed
    return out


def test_control_frames() -> None:
    auth = parse_frame((SAMPLES / "ws_private_auth_ok_2023.json").read_text())
    assert auth == Control("auth", True, "")
    pong = parse_frame((SAMPLES / "ws_private_pong_2023.json").read_text())
    assert isinstance(pong, Control) and pong.op == "pong" and pong.success
    assert parse_frame('{"success":false,"ret_msg":"Params Error","op":"auth"}') == Control(
        "auth", False, "Params Error"
    )


def test_order_samples() -> None:
    recs = records("ws_private_order_spot_market_2msgs_2023.jsonl")
    assert [r.kind for r in recs] == ["order", "order"]
    assert {r.fields["orderStatus"] for r in recs} <= {"PartiallyFilledCanceled", "Filled"}
    [linear] = records("ws_private_order_linear_market_filled_2024.json")
    assert linear.fields["orderStatus"] == "Filled"


def test_execution_position_wallet_samples() -> None:
    [ex] = records("ws_private_execution_linear_market.json")
    assert ex.kind == "execution" and ex.fields["execQty"] == "0.001"
    [pos] = records("ws_private_position_linear_nautilus_fixture.json")
    assert pos.kind == "position" and signed_position(pos.fields) == "-" + pos.fields["size"]
    wallets = records("ws_private_wallet_unified_5msgs.jsonl")
    assert len(wallets) == 5 and all(w.kind == "wallet" for w in wallets)
    data = as_strings(wallets[0].fields)
    assert data["coin"].startswith("[") and all(isinstance(v, str) for v in data.values())


def test_as_strings_and_bad_frames() -> None:
    assert as_strings({"a": True, "b": 1, "c": None, "d": "x"}) == {"a": "true", "b": "1", "c": "", "d": "x"}
    assert parse_frame('{"topic":"greeks","data":[]}') is None
    with pytest.raises(ProtocolError):
        parse_frame("{nope")
    with pytest.raises(ProtocolError):
        parse_frame("[1]")
