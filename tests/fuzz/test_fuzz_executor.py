"""Fuzz the executor's intent endpoint: decoding, validation and risk (pure), then a real executor.

Only :class:`IntentError` / :class:`Refusal` may come out of the core. Over the PULL socket, 20k
garbage intents are refused and counted, the journal holds only refusals, nothing reaches the
exchange (bybit_sim's orders and request counters) and the executor's RSS stays flat.
"""

from __future__ import annotations

import json
import random
import sqlite3
from decimal import Decimal
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.executor.core.intents import IntentError, decode_intent, peek_fields
from services.executor.core.validation import Refusal, validate_create
from tests.fuzz.corpus import INSTRUMENTS, INTENTS, check_intent, intent_seeds, mutated
from tests.fuzz.rss import rss_kib
from tests.helpers import eventually
from tests.integration.executor_support import limit, sim_orders

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = intent_seeds()
decimals = st.from_regex(r"\A[0-9]{1,20}(\.[0-9]{1,20})?\Z") | st.text(max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(raw: bytes) -> None:
    check_intent(raw)


@FUZZ
@given(st.randoms(use_true_random=False))
def test_mutated_valid_intents(rnd: random.Random) -> None:
    check_intent(mutated(SEEDS, rnd))


@FUZZ
@given(
    st.sampled_from(INTENTS),
    st.dictionaries(st.sampled_from(["qty", "price", "takeProfit", "stopLoss"]), decimals, max_size=3),
    st.sampled_from(sorted({s for _, s in INSTRUMENTS})),
    st.sampled_from([None, Decimal("0.0000012"), Decimal("65000"), Decimal("1E+20")]),
)
def test_random_numbers_against_every_grid(
    base: dict[str, Any], numbers: dict[str, str], symbol: str, mid: Decimal | None
) -> None:
    intent = {**base, **numbers}
    if "symbol" in intent:
        intent["symbol"] = symbol
    check_intent(json.dumps(intent).encode(), mid)


@FUZZ
@given(st.sampled_from(INTENTS), st.sampled_from([k for i in INTENTS for k in i]), json_values)
def test_random_field_values(base: dict[str, Any], key: str, value: Any) -> None:
    check_intent(json.dumps({**base, key: value}).encode())


# ---------------------------------------------------------------- regressions (found by fuzzing)
@pytest.mark.parametrize(
    "raw",
    [
        # invalid UTF-8 in a string: msgspec raised UnicodeDecodeError (not an IntentError), which
        # escaped the engine inside the batch's journal transaction
        b'{"action":"cancel","category":"linear","symbol":"BTCUSDT","orderId":"\xed\xa0\x80"}',
        b'{"action":"cancel","category":"linear","symbol":"BTCUSDT","orderLinkId":"\xff"}',
        # deep nesting: RecursionError, same path (and from peek_fields for the refusal report)
        b'{"x":' + b"[" * 5000 + b"]" * 5000 + b',"action":"create"}',
        b'{"action":"create","smpType":' + b"[" * 5000,
        b"[" * 5000,
    ],
)
def test_undecodable_intents_are_refused(raw: bytes) -> None:
    with pytest.raises(IntentError):
        decode_intent(raw)
    assert isinstance(peek_fields(raw), dict)
    assert check_intent(raw) == "refused:schema"


def test_oversized_intent_is_refused_before_decoding() -> None:
    body = json.dumps({**INTENTS[0], "smpType": "x" * 70_000}).encode()
    with pytest.raises(IntentError, match="larger than 65536 bytes"):
        decode_intent(body, 65536)


@pytest.mark.parametrize(
    ("price", "qty", "code"),
    [
        # 20-digit price on a 1e-10 tick: ``price % tick`` needs 31 digits; the default 28-digit
        # context raised decimal.InvalidOperation out of validate_create
        ("99999999999999999999.1", "1", None),
        ("99999999999999999999.00000000001", "1", "bad_tick"),
        ("0.0000012345", "99999999999999999999.1", None),
    ],
)
def test_fine_grids_need_exact_remainders(price: str, qty: str, code: str | None) -> None:
    intent = decode_intent(
        json.dumps(
            {
                "action": "create",
                "category": "spot",
                "symbol": "MEMEUSDT",
                "side": "Sell",
                "orderType": "Limit",
                "qty": qty,
                "price": price,
            }
        ).encode()
    )
    inst = INSTRUMENTS[("spot", "MEMEUSDT")]
    if code is None:
        assert validate_create(intent, inst, None).price == Decimal(price)  # type: ignore[arg-type]
    else:
        with pytest.raises(Refusal) as exc:
            validate_create(intent, inst, None)  # type: ignore[arg-type]
        assert exc.value.code == code


# ---------------------------------------------------------------- over the real socket
N_SOCKET = 20_000
ORDER_ENDPOINTS = ("/v5/order/create", "/v5/order/create-batch", "/v5/order/amend", "/v5/order/cancel",
                   "/v5/order/cancel-all")  # fmt: skip


def order_requests(sim: Any) -> float:
    """REST requests that could change orders, as bybit_sim counted them."""
    text = requests.get(sim.metrics_url, timeout=5).text
    total = 0.0
    for line in text.splitlines():
        ours = line.startswith("tickwire_sim_trading_requests_total{")
        if ours and any(f'endpoint="{e}"' in line for e in ORDER_ENDPOINTS):
            total += float(line.rsplit(" ", 1)[1])
    return total


def garbage_intents(n: int, unique: int = 2000, seed: int = 3) -> list[bytes]:
    """``n`` intents (``unique`` distinct mutated ones, repeated) the decoder refuses."""
    rnd = random.Random(seed)
    out: list[bytes] = []
    while len(out) < unique:
        raw = mutated(SEEDS, rnd)
        try:
            decode_intent(raw, 65536)
        except IntentError:
            out.append(raw)
    return (out * (n // unique + 1))[:n]


def journal_states(path: Any) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return dict(db.execute("SELECT state, count(*) FROM intents GROUP BY state").fetchall())


@pytest.mark.integration
def test_20k_garbage_intents_over_the_socket(launcher: Any, exsim: Any) -> None:
    ex = launcher.start()
    warm = 10_000  # first fills the SQLite page cache, ZMQ buffers and the allocator's arenas
    bodies = garbage_intents(warm + N_SOCKET)
    bad = "tickwire_executor_bad_input_total"
    reports = 0

    def send(chunk: list[bytes], upto: int) -> None:
        nonlocal reports
        for raw in chunk:
            ex.client.send_raw(raw)
        eventually(lambda: ex.metric(bad, kind="intent") >= upto, timeout=60)
        reports += len(ex.client.poll(0.05))  # read the refusal reports as a strategy would

    send(bodies[:warm], warm)
    rss0 = rss_kib(ex.proc.proc.pid)
    for start in range(warm, warm + N_SOCKET, 2000):
        send(bodies[start : start + 2000], start + 2000)
    rss1 = rss_kib(ex.proc.proc.pid)
    print(f"executor RSS {rss0} KiB -> {rss1} KiB after {N_SOCKET} garbage intents")
    total = warm + N_SOCKET
    assert ex.metric(bad, kind="intent") == total and ex.metric(bad, kind="internal_error") == 0
    assert ex.metric("tickwire_executor_intents_total", outcome="refused") == total
    assert journal_states(ex.journal) == {"refused": total} and ex.journal_orders() == {}
    assert reports > 0
    assert sim_orders(exsim) == [] and order_requests(exsim) == 0
    assert rss1 - rss0 < 12 * 1024, (rss0, rss1)  # a leak of even 600 B per intent would exceed it
    assert ex.proc.alive


@pytest.mark.integration
def test_a_bad_intent_does_not_cost_its_batch(launcher: Any, exsim: Any) -> None:
    """Before the fix, an undecodable intent raised inside the batch's journal transaction: the
    valid intents drained with it were rolled back (tracked in memory, never journaled)."""
    ex = launcher.start()
    bad = b'{"action":"cancel","category":"linear","symbol":"BTCUSDT","orderId":"\xed\xa0\x80"}'
    ex.client.send(limit("fz-a"))
    ex.client.send_raw(bad)
    ex.client.send_raw(b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}")
    ex.client.send(limit("fz-b"))
    for link in ("fz-a", "fz-b"):
        assert "new" in [r.status for r in ex.client.wait(link, until={"new", "rejected"}, timeout=15)]
    eventually(lambda: ex.metric("tickwire_executor_bad_input_total", kind="intent") == 2, timeout=10)
    assert ex.metric("tickwire_executor_bad_input_total", kind="internal_error") == 0
    assert sorted(o["orderLinkId"] for o in sim_orders(exsim)) == ["fz-a", "fz-b"]
    states = journal_states(ex.journal)
    assert states.pop("refused") == 2 and sum(states.values()) == 2, states
    assert set(ex.journal_orders()) == {"fz-a", "fz-b"}
