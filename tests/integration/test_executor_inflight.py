"""Several REST calls in flight against bybit_sim: overlap, per-order ordering, barriers, clean stop.

bybit_sim's ``order_timeout`` fault (mode ``delay``) applies an order operation at once and holds its
response back for ``delay_ms``: a create held that way is "in flight" for that long, which makes
overlap and ordering observable without timing thresholds.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import eventually
from tests.integration import executor_support
from tests.integration.executor_support import Launcher, fault, limit, sim_links, sim_orders, statuses

pytestmark = pytest.mark.integration

# fixtures shared by the executor's integration tests
exsim = executor_support.exsim
launcher = executor_support.launcher

DELAY_MS = 1500


def _cancel(link: str) -> dict[str, Any]:
    return {"action": "cancel", "category": "linear", "symbol": "BTCUSDT", "orderLinkId": link}


def test_creates_overlap_and_each_order_exists_once(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start(executor_http_timeout="10")
    oc = ex.client
    n = 3
    fault(exsim, "order_timeout", count=n, path="/v5/order/create", delay_ms=DELAY_MS)
    links = []
    for i in range(n):
        links.append(oc.send(limit(f"fl-overlap-{i}", price=f"2000{i}.0")))
        # the next goes once this one is on the exchange: a call of its own, not part of a batch
        eventually(lambda: links[-1] in sim_links(exsim), message="create not executed")
    # every create reached the exchange while the first one's response was still held back
    oc.poll(0.0)
    assert [r for r in oc.reports if r.status == "accepted"] == [], "creates were sent one at a time"
    for link in links:
        got = oc.wait(link, until={"new"}, timeout=20)
        assert statuses(got)[:2] == ["accepted", "new"], got
    assert sorted(sim_links(exsim)) == sorted(links)  # each exactly once
    assert ex.metric("tickwire_executor_rest_latency_seconds_count", endpoint="/v5/order/create") == n
    assert ex.metric("tickwire_executor_retries_total", cause="resend_after_lookup") == 0
    eventually(lambda: all(ex.journal_orders()[link][0] == "new" for link in links))


def test_cancel_behind_its_create_waits_for_it(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start(executor_http_timeout="10")
    oc = ex.client
    fault(exsim, "order_timeout", count=1, path="/v5/order/create", delay_ms=DELAY_MS)
    link = oc.send(limit("fl-cancel-1"))
    oc.send(_cancel(link))  # right behind: held until the create's outcome is in
    got = oc.wait(link, until={"cancelled"}, timeout=20)
    assert not [r for r in got if r.status == "rejected"], got  # never "order not exists"
    seq = [(r.status, r.action) for r in got]
    assert seq.index(("accepted", "create")) < seq.index(("accepted", "cancel")), seq
    assert seq[-1] == ("cancelled", "create"), seq
    assert [o["orderStatus"] for o in sim_orders(exsim)] == ["Cancelled"]
    eventually(lambda: ex.journal_orders()[link][0] == "cancelled")


def test_cancel_all_waits_for_creates_in_flight(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start(executor_http_timeout="10")
    oc = ex.client
    fault(exsim, "order_timeout", count=2, path="/v5/order/create", delay_ms=DELAY_MS)
    first = oc.send(limit("fl-ca-0"))
    eventually(lambda: first in sim_links(exsim))
    second = oc.send(limit("fl-ca-1", price="20001.0"))
    eventually(lambda: second in sim_links(exsim))
    oc.send({"action": "cancel_all", "category": "linear", "symbol": "BTCUSDT"})
    for link in (first, second):
        assert oc.wait(link, until={"cancelled"}, timeout=20)[-1].status == "cancelled"
    order = [(r.status, r.action) for r in oc.reports if r.status == "accepted"]
    assert order.index(("accepted", "cancel_all")) == 2, order  # after both creates' outcomes
    assert all(o["orderStatus"] == "Cancelled" for o in sim_orders(exsim))


def test_stop_waits_for_calls_in_flight(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start(executor_http_timeout="10")
    fault(exsim, "order_timeout", count=1, path="/v5/order/create", delay_ms=DELAY_MS)
    link = ex.client.send(limit("fl-stop-1"))
    eventually(lambda: link in sim_links(exsim))
    assert ex.proc.stop() == 0  # SIGTERM while the create's response is held back
    assert ex.journal_orders()[link][0] in ("accepted", "new")  # its outcome was journaled
    log = ex.proc.log_path.read_text(errors="replace")
    assert "stopping with calls in flight" not in log and '"stopped"' in log
