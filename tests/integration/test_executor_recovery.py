"""Crash recovery: ``kill -9`` of the executor mid-batch, then a restart on the same journal.

After the restart the exchange must hold each intended order exactly once and the journal must
agree with it (status and orderId).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from services.executor.adapters.journal import Journal
from services.executor.core.intents import CreateIntent, decode_intent, to_json
from tests.helpers import eventually
from tests.integration import executor_support
from tests.integration.executor_support import (
    Launcher,
    clear_faults,
    fault,
    limit,
    sim_links,
    sim_orders,
    statuses,
)

pytestmark = pytest.mark.integration

# fixtures shared by the executor's integration tests
exsim = executor_support.exsim
launcher = executor_support.launcher


def test_kill_9_mid_batch_then_restart(launcher: Launcher, exsim: Any, tmp_path: Path) -> None:
    journal = tmp_path / "crash.sqlite3"
    first = launcher.start(journal=journal, executor_http_timeout="30")
    # the sim executes the batch, then holds the response back: the executor is mid-batch
    fault(exsim, "order_timeout", count=1, path="/v5/order/create-batch", delay_ms=20000)
    first.proc.proc.send_signal(signal.SIGSTOP)
    try:
        links = [first.client.send(limit(f"r-kill-{i}", price=f"2000{i}.0")) for i in range(6)]
        time.sleep(0.3)  # let the client's I/O thread flush them (no observable condition for that)
    finally:
        first.proc.proc.send_signal(signal.SIGCONT)
    eventually(lambda: sorted(sim_links(exsim)) == sorted(links), timeout=20, message="batch not executed")
    first.proc.kill()  # kill -9 while waiting for the batch response
    pending = Journal(str(journal))
    assert {r.order_link_id: r.status for r in pending.orders()} == dict.fromkeys(links, "pending")
    pending.close()
    clear_faults(exsim)

    second = launcher.start(journal=journal)
    eventually(lambda: all(second.journal_orders()[link][0] == "new" for link in links))
    on_exchange = {o["orderLinkId"]: o for o in sim_orders(exsim)}
    assert sorted(sim_links(exsim)) == sorted(links)  # each exactly once
    for link, (status, order_id) in second.journal_orders().items():
        assert status == "new" and order_id == on_exchange[link]["orderId"]
    assert second.metric("tickwire_executor_retries_total", cause="resend_after_lookup") == 0
    assert "adopted" in second.proc.log_text()
    # the recovered orders are live: they can be cancelled through the new instance
    second.client.send(
        {"action": "cancel", "category": "linear", "symbol": "BTCUSDT", "orderLinkId": links[0]}
    )
    assert "cancelled" in statuses(second.client.wait(links[0], until={"cancelled"}))


def test_journaled_but_never_sent_is_sent_once_on_restart(
    launcher: Launcher, exsim: Any, tmp_path: Path
) -> None:
    path = tmp_path / "unsent.sqlite3"
    journal = Journal(str(path))
    intent = decode_intent(msgspec.json.encode(limit("r-unsent-1")))
    assert isinstance(intent, CreateIntent)
    with journal.tx():  # what a crash right after the journal commit leaves behind
        iid = journal.add_intent("create", "linear", "BTCUSDT", "r-unsent-1", to_json(intent), "pending")
        journal.add_order("r-unsent-1", iid, "linear", "BTCUSDT", "Buy", "0.010", "20000.0", "pending")
    journal.close()
    ex = launcher.start(journal=path)
    eventually(lambda: ex.journal_orders()["r-unsent-1"][0] == "new")
    assert sim_links(exsim) == ["r-unsent-1"]
    # a restart changes nothing more
    ex.proc.stop()
    again = launcher.start(journal=path)
    eventually(lambda: "reconciled" in again.proc.log_text())
    assert sim_links(exsim) == ["r-unsent-1"]
    assert again.journal_orders()["r-unsent-1"][0] == "new"


def test_orders_finished_while_down_are_reconciled(launcher: Launcher, exsim: Any, tmp_path: Path) -> None:
    path = tmp_path / "down.sqlite3"
    ex = launcher.start(journal=path)
    link = ex.client.send(limit("r-down-1"))
    ex.client.wait(link, until={"new"})
    ex.proc.stop()
    other = launcher.start()  # another executor (same account) cancels everything meanwhile
    other.client.send({"action": "cancel_all", "category": "linear", "symbol": "BTCUSDT"})
    eventually(lambda: all(o["orderStatus"] == "Cancelled" for o in sim_orders(exsim)))
    back = launcher.start(journal=path)
    eventually(lambda: back.journal_orders()[link][0] == "cancelled")
