"""The generic fault registry and the stream faults applied by the hub."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest

from services.bybit_sim.context import fault_params
from services.bybit_sim.core.faults import FaultError, Faults, parse_fault_specs
from services.bybit_sim.core.hub import PublicHub
from tests.unit.bybit_sim.conftest import FakeClock
from tests.unit.bybit_sim.test_streams import CONN, run

T = "orderbook.50.BTCUSDT"


def test_registry_set_get_take_count_clear() -> None:
    f = Faults()
    assert not f and f.get("x") is None and f.take("x") is None
    f.set("rest_error", code=10016, count=2)
    assert f.get("rest_error") == {"code": 10016}
    assert f.take("rest_error") == {"code": 10016}
    assert f.take("rest_error") == {"code": 10016}
    assert f.take("rest_error") is None
    assert f.injected["rest_error"] == 2
    f.set("persistent", ms=5)
    for _ in range(3):
        assert f.take("persistent") == {"ms": 5}
    f.clear("persistent")
    assert f.get("persistent") is None
    f.set("a")
    f.set("b")
    f.clear()
    assert f.active() == {}


def test_match_filters_and_wildcards() -> None:
    f = Faults()
    f.set("skip_delta", topic=T, count=1)
    assert f.take("skip_delta", topic="orderbook.50.ETHUSDT") is None
    assert f.take("skip_delta", topic=T, category="linear") == {"topic": T}
    f.set("stall")  # no topic: matches every topic
    assert f.get("stall", topic="anything") == {}


def test_ttl_expiry(fclock: FakeClock) -> None:
    f = Faults(fclock)
    f.set("stall", **fault_params("stall", {"topic": T, "seconds": 2}))
    assert f.get("stall", topic=T) is not None
    fclock.t += 2.1
    assert f.get("stall", topic=T) is None and f.active() == {}


def test_bad_specs() -> None:
    with pytest.raises(FaultError):
        Faults().set("x", count=0)
    with pytest.raises(FaultError):
        parse_fault_specs("[1]")
    assert parse_fault_specs('[{"name":"pong_delay","ms":50}]') == [("pong_delay", {"ms": 50})]
    assert parse_fault_specs("snapshot_before_ack, x") == [("snapshot_before_ack", {}), ("x", {})]
    assert fault_params("skip_delta", {}) == {"count": 1}


def _sub(hub: PublicHub) -> None:
    hub.subscribe(CONN, "linear", [T], 0)


def _book_msgs(hub: PublicHub, ticks: int) -> list[dict]:
    return [m for m in run(hub, ticks) if m["topic"] == T]


def test_skip_delta_makes_one_u_gap(hub: PublicHub) -> None:
    _sub(hub)
    before = _book_msgs(hub, 6)
    hub.faults.set("skip_delta", **fault_params("skip_delta", {"topic": T}))
    after = _book_msgs(hub, 10)
    us = [m["data"]["u"] for m in before + after]
    gaps = [b - a for a, b in pairwise(us) if b - a != 1]
    assert gaps == [2]
    assert hub.faults.get("skip_delta") is None


@pytest.mark.parametrize("mode", ["snapshot", "delta"])
def test_restart_sends_u_1(hub: PublicHub, mode: str) -> None:
    _sub(hub)
    _book_msgs(hub, 6)
    hub.faults.set("restart", **fault_params("restart", {"topic": T, "mode": mode}))
    msgs = _book_msgs(hub, 10)
    assert msgs[0]["data"]["u"] == 1 and msgs[0]["type"] == mode
    assert [m["data"]["u"] for m in msgs[1:4]] == [2, 3, 4]
    if mode == "snapshot":
        assert len(msgs[0]["data"]["b"]) == 50


def test_resend_snapshot(hub: PublicHub) -> None:
    _sub(hub)
    last = _book_msgs(hub, 6)[-1]["data"]["u"]
    hub.faults.set("resend_snapshot", **fault_params("resend_snapshot", {"topic": T}))
    msgs = _book_msgs(hub, 6)
    assert msgs[0]["type"] == "snapshot" and msgs[0]["data"]["u"] == last + 1
    assert len(msgs[0]["data"]["a"]) == 50 and msgs[1]["type"] == "delta"


def test_stall_then_resume_without_gap(hub: PublicHub, fclock: FakeClock) -> None:
    _sub(hub)
    last = _book_msgs(hub, 6)[-1]
    hub.faults.set("stall", **fault_params("stall", {"topic": T, "seconds": 1}))
    assert _book_msgs(hub, 30) == []
    state = hub.book_state("linear", "BTCUSDT", 50)
    assert state["u"] == last["data"]["u"]  # the book as of the last message sent
    assert hub.book_state("linear", "BTCUSDT", 50, truth=True) != state
    fclock.t += 1.5
    resumed = _book_msgs(hub, 4)
    assert resumed[0]["data"]["u"] == last["data"]["u"] + 1
    assert json.dumps(resumed)  # well-formed
