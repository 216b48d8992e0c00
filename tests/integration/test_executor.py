"""The executor against bybit_sim: happy paths, batches, duplicates, malformed intents, the stream.

Each test runs the simulator and the executor as real processes (``exsim``/``launcher``) and talks
to the executor only through its sockets (:class:`~services.common.order_client.OrderClient`).
"""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from services.common.config import EXECUTOR_WS_CLIENTS
from tests.helpers import eventually
from tests.integration import executor_support
from tests.integration.executor_support import (
    Launcher,
    limit,
    sim_links,
    sim_orders,
    statuses,
)

pytestmark = pytest.mark.integration

# fixtures shared by the executor's integration tests
exsim = executor_support.exsim
launcher = executor_support.launcher


def test_create_amend_cancel_and_journal(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start()
    oc = ex.client
    link = oc.send(limit("it-basic-1"))
    got = oc.wait(link, until={"new"})
    assert statuses(got)[:2] == ["accepted", "new"], got
    order_id = got[0].order_id
    assert order_id and got[1].data["orderStatus"] == "New" and got[1].data["price"] == "20000.0"

    oc.send(
        {
            "action": "amend",
            "category": "linear",
            "symbol": "BTCUSDT",
            "orderLinkId": link,
            "price": "20000.5",
        }
    )
    assert "amended" in statuses(oc.wait(link, until={"amended"}))
    eventually(lambda: [o["price"] for o in sim_orders(exsim) if o["orderLinkId"] == link] == ["20000.5"])

    oc.send({"action": "cancel", "category": "linear", "symbol": "BTCUSDT", "orderLinkId": link})
    got = oc.wait(link, until={"cancelled"})
    assert [r.action for r in got if r.status == "accepted"] == ["create", "cancel"]
    assert got[-1].status == "cancelled"
    eventually(lambda: ex.journal_orders()[link] == ("cancelled", order_id))
    assert sim_links(exsim).count(link) == 1
    assert ex.metric("tickwire_executor_intents_total", outcome="accepted") == 3
    assert ex.proc.stop() == 0  # SIGTERM: a clean, prompt exit


def test_batch_with_mixed_item_results(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start()
    oc = ex.client
    # pushed while the executor is paused: they arrive together and leave as one create-batch
    ex.proc.proc.send_signal(signal.SIGSTOP)
    try:
        links = [oc.send(limit(f"it-batch-{i}")) for i in range(4)]
        bad = oc.send(
            limit("it-batch-bad", positionIdx=1)
        )  # the sim's account is one-way: 10001 for this item
        time.sleep(0.3)  # let the client's I/O thread flush them (no observable condition for that)
    finally:
        ex.proc.proc.send_signal(signal.SIGCONT)
    for link in links:
        got = oc.wait(link, until={"new"}, timeout=30)
        assert statuses(got)[:2] == ["accepted", "new"], ex.proc.log_text()[-3000:]
    got = oc.wait(bad, until={"rejected"})
    assert got[-1].status == "rejected" and got[-1].code == "10001", got
    assert "position idx" in got[-1].reason
    batches = ex.metric("tickwire_executor_rest_latency_seconds_count", endpoint="/v5/order/create-batch")
    singles = ex.metric("tickwire_executor_rest_latency_seconds_count", endpoint="/v5/order/create")
    assert batches >= 1 and batches + singles < 5  # grouped (normally a single batch of 5)
    assert sorted(sim_links(exsim)) == sorted(links)
    journal = ex.journal_orders()
    assert journal[bad][0] == "rejected" and all(journal[link][0] == "new" for link in links)


def test_duplicate_intents_are_sent_once(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start()
    oc = ex.client
    intent = limit(price="20001.0")  # no orderLinkId: derived from the content
    first = oc.send(intent)
    assert statuses(oc.wait(first, until={"new"}))[:2] == ["accepted", "new"]
    second = oc.send(intent)
    assert second == first
    got = oc.wait(first, until={"rejected"})
    assert got[-1].code == "duplicate"
    explicit = oc.send(limit("it-dup-explicit"))
    oc.wait(explicit, until={"new"})
    oc.send(limit("it-dup-explicit", price="20002.0"))  # same id, other content: refused too
    assert oc.wait(explicit, until={"rejected"})[-1].code == "duplicate"
    assert sim_links(exsim).count(first) == 1 and sim_links(exsim).count(explicit) == 1


def test_malformed_and_invalid_intents_send_nothing(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start()
    oc = ex.client
    oc.send_raw(b"\x00not json")
    oc.send_raw(
        b'{"action":"create","category":"linear","symbol":"BTCUSDT","bogus":1,"orderLinkId":"it-m-1"}'
    )
    cases = {
        "it-m-tick": (limit("it-m-tick", price="20000.05"), "bad_tick"),
        "it-m-lot": (limit("it-m-lot", qty="0.0105"), "bad_lot"),
        "it-m-sym": (limit("it-m-sym", symbol="NOPEUSDT"), "unknown_symbol"),
        "it-m-min": (limit("it-m-min", qty="0.001", price="1000.0"), "notional_below_min"),
        "it-m-max": (limit("it-m-max", qty="5000"), "qty_above_max"),
    }
    for intent, _code in cases.values():
        oc.send(intent)
    assert oc.wait("it-m-1", until={"rejected"})[-1].code == "schema"
    for link, (_intent, code) in cases.items():
        assert oc.wait(link, until={"rejected"})[-1].code == code
    eventually(lambda: any(r.code == "schema" and r.order_link_id == "" for r in oc.reports))
    assert sim_orders(exsim) == []
    assert ex.metric("tickwire_executor_bad_input_total", kind="intent") == 2
    assert ex.proc.alive


def test_kill_switch_runtime_toggle(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start()
    oc = ex.client
    oc.send({"action": "kill_switch", "on": True})
    eventually(lambda: any(r.action == "kill_switch" for r in oc.poll(0.1) + oc.reports))
    oc.send(limit("it-kill-1"))
    assert oc.wait("it-kill-1", until={"rejected"})[-1].code == "kill_switch"
    oc.send({"action": "kill_switch", "on": False})
    oc.send(limit("it-kill-2"))
    assert "new" in statuses(oc.wait("it-kill-2", until={"new"}))
    assert sim_links(exsim) == ["it-kill-2"]


def test_kill_switch_setting_and_cancel_all(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start()
    oc = ex.client
    for i in range(3):
        oc.send(limit(f"it-ca-{i}"))
    for i in range(3):
        oc.wait(f"it-ca-{i}", until={"new"})
    oc.send({"action": "cancel_all", "category": "linear", "symbol": "BTCUSDT"})
    for i in range(3):
        assert oc.wait(f"it-ca-{i}", until={"cancelled"})[-1].status == "cancelled"
    eventually(lambda: all(s == "cancelled" for s, _ in ex.journal_orders().values()))
    killed = launcher.start(executor_kill_switch="true")
    killed.client.send(limit("it-ca-killed"))
    assert killed.client.wait("it-ca-killed", until={"rejected"})[-1].code == "kill_switch"


@pytest.mark.parametrize("stream_client", EXECUTOR_WS_CLIENTS)
def test_fill_reports_execution_and_position(launcher: Launcher, exsim: Any, stream_client: str) -> None:
    ex = launcher.start(executor_max_order_notional="0", executor_ws_client=stream_client)
    oc = ex.client
    link = oc.send(
        {
            "action": "create",
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Market",
            "qty": "0.001",
            "orderLinkId": "it-fill-1",
        }
    )
    oc.wait(link, until={"filled"})
    got = oc.wait(link, until={"execution"})
    assert "filled" in statuses(got) and "execution" in statuses(got), got
    fill = next(r for r in got if r.status == "execution")
    assert fill.data["execQty"] == "0.001" and fill.data["orderLinkId"] == link
    eventually(
        lambda: any(
            r.status == "position" and r.symbol == "BTCUSDT" and r.data.get("size") == "0.001"
            for r in oc.poll(0.1) + oc.reports
        )
    )
    eventually(lambda: ex.journal_orders()[link][0] == "filled")


def test_command_line(launcher: Launcher, exsim: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from services.order_cli import cli

    ex = launcher.start()
    ends = ["--pull", ex.pull, "--pub", ex.pub]
    assert (
        cli(
            [
                "order",
                "create",
                "linear",
                "BTCUSDT",
                "Buy",
                "0.010",
                "--price",
                "20000.0",
                "--link-id",
                "cli-1",
                *ends,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "accepted create linear:BTCUSDT cli-1" in out and "\nnew create" in out
    assert cli(["order", "create", "linear", "BTCUSDT", "Buy", "0.010", "--price", "20000.05", *ends]) == 1
    assert "code=bad_tick" in capsys.readouterr().out
    assert (
        cli(["order", "amend", "linear", "BTCUSDT", "--link-id", "cli-1", "--price", "20000.5", *ends]) == 0
    )
    assert cli(["cancel", "linear", "BTCUSDT", "--link-id", "cli-1", *ends]) == 0
    assert "cancelled create" in capsys.readouterr().out
    assert cli(["cancel", "linear", "BTCUSDT", "--all", *ends]) == 0
    assert cli(["order", "kill-switch", "on", *ends]) == 0
    assert "accepted kill_switch" in capsys.readouterr().out
    assert sim_links(exsim) == ["cli-1"]


def test_position_and_open_order_limits(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start(executor_max_position="0.025", executor_max_open_orders="3")
    oc = ex.client
    for i in range(2):
        assert "new" in statuses(oc.wait(oc.send(limit(f"lim-{i}")), until={"new"}))
    # resting buys 0.020 + 0.010 would reach 0.030 > 0.025
    assert oc.wait(oc.send(limit("lim-2")), until={"rejected"})[-1].code == "risk_position"
    assert "new" in statuses(oc.wait(oc.send(limit("lim-3", qty="0.005")), until={"new"}))
    sell = limit("lim-4", side="Sell", price="90000.0", qty="0.001")
    assert oc.wait(oc.send(sell), until={"rejected"})[-1].code == "risk_open_orders"
    oc.send({"action": "cancel", "category": "linear", "symbol": "BTCUSDT", "orderLinkId": "lim-0"})
    oc.wait("lim-0", until={"cancelled"})
    assert "new" in statuses(oc.wait(oc.send(limit("lim-5")), until={"new"}))  # room again
    assert sorted(sim_links(exsim)) == ["lim-0", "lim-1", "lim-3", "lim-5"]
