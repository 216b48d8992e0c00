"""Risk limits: kill switch, notional, position, open orders, order rate, price band."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from services.executor.core.intents import CreateIntent, decode_intent
from services.executor.core.risk import Exposure, RiskGate, RiskLimits
from services.executor.core.validation import Checked, Refusal

LIMITS = RiskLimits(Decimal(1000), Decimal(1), 3, 2.0, Decimal(5))


def create(side: str = "Buy", reduce: bool | None = None) -> CreateIntent:
    body = {
        "action": "create",
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": side,
        "orderType": "Limit",
        "qty": "0.010",
        "price": "100",
    }
    if reduce is not None:
        body["reduceOnly"] = reduce
    intent = decode_intent(msgspec.json.encode(body))
    assert isinstance(intent, CreateIntent)
    return intent


def checked(qty: str = "0.5", price: str = "100", notional: str | None = None) -> Checked:
    q, p = Decimal(qty), Decimal(price)
    return Checked(q, p, q, Decimal(notional) if notional else q * p)


def code_of(
    gate: RiskGate,
    intent: CreateIntent,
    c: Checked,
    exp: Exposure | None = None,
    open_orders: int = 0,
    mid: Decimal | None = Decimal(100),
    now: float = 0.0,
) -> str | None:
    try:
        gate.check_create(intent, c, exp or Exposure(), open_orders, mid, "live", now)
    except Refusal as exc:
        return exc.code
    return None


def test_passes() -> None:
    assert code_of(RiskGate(LIMITS, kill_switch=False, now_ms=0), create(), checked()) is None


def test_kill_switch() -> None:
    assert code_of(RiskGate(LIMITS, kill_switch=True, now_ms=0), create(), checked()) == "kill_switch"


def test_notional() -> None:
    gate = RiskGate(LIMITS, kill_switch=False, now_ms=0)
    assert code_of(gate, create(), checked(notional="1000.01")) == "risk_notional"
    assert code_of(gate, create(), Checked(Decimal(1), None, Decimal(1), None)) == "no_reference_price"


def test_position_counts_resting_orders_same_side() -> None:
    gate = RiskGate(LIMITS, kill_switch=False, now_ms=0)
    assert code_of(gate, create(), checked("0.5"), Exposure(Decimal("0.6"))) == "risk_position"
    assert (
        code_of(gate, create(), checked("0.5"), Exposure(Decimal(0), open_buy=Decimal("0.6")))
        == "risk_position"
    )
    assert (
        code_of(gate, create("Sell"), checked("0.5"), Exposure(Decimal("0.6"), open_buy=Decimal(1))) is None
    )
    assert code_of(gate, create(reduce=True), checked("0.5"), Exposure(Decimal("0.9"))) is None


def test_open_orders() -> None:
    gate = RiskGate(LIMITS, kill_switch=False, now_ms=0)
    assert code_of(gate, create(), checked(), open_orders=3) == "risk_open_orders"


def test_rate() -> None:
    gate = RiskGate(LIMITS, kill_switch=False, now_ms=0)
    assert code_of(gate, create(), checked(), now=0) is None
    assert code_of(gate, create(), checked(), now=0) is None
    assert code_of(gate, create(), checked(), now=0) == "risk_rate"
    assert code_of(gate, create(), checked(), now=600) is None  # 2/s refills one token in 500 ms


@pytest.mark.parametrize(("price", "ok"), [("105", True), ("95", True), ("105.01", False), ("94.99", False)])
def test_price_band(price: str, ok: bool) -> None:
    gate = RiskGate(LIMITS, kill_switch=False, now_ms=0)
    code = code_of(gate, create(), checked("0.01", price))
    assert (code is None) == ok and (ok or code == "price_band")


def test_band_needs_live_book() -> None:
    gate = RiskGate(LIMITS, kill_switch=False, now_ms=0)
    assert code_of(gate, create(), checked("0.01"), mid=None) == "no_reference_price"
    off = RiskGate(RiskLimits(Decimal(0), Decimal(0), 3, 0, Decimal(0)), kill_switch=False, now_ms=0)
    assert code_of(off, create(), checked("100"), mid=None) is None
