"""The executor under bybit_sim's injected faults: 5xx, timeout after accept, 10006 bursts, clock skew,
a dropped private connection. In every case each intended order must exist exactly once."""

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
    fault,
    limit,
    sim_links,
    statuses,
)

pytestmark = pytest.mark.integration

# fixtures shared by the executor's integration tests
exsim = executor_support.exsim
launcher = executor_support.launcher


def test_5xx_on_create_is_looked_up_then_resent_once(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start()
    fault(exsim, "http_5xx", count=1, path="/v5/order/create", status=503)
    link = ex.client.send(limit("f-5xx-1"))
    got = ex.client.wait(link, until={"new"})
    assert statuses(got)[:3] == ["unknown_pending_check", "accepted", "new"], got
    assert got[0].code == "http_5xx"
    assert sim_links(exsim) == [link]
    assert ex.metric("tickwire_executor_retries_total", cause="resend_after_lookup") == 1
    eventually(lambda: ex.journal_orders()[link][0] == "new")


@pytest.mark.parametrize("mode", ["delay", "drop"])
def test_timeout_after_accept_is_adopted_not_resent(launcher: Launcher, exsim: Any, mode: str) -> None:
    ex = launcher.start(executor_http_timeout="1")
    fault(exsim, "order_timeout", count=1, path="/v5/order/create", delay_ms=3000, mode=mode)
    link = ex.client.send(limit(f"f-timeout-{mode}"))
    got = ex.client.wait(link, until={"new"}, timeout=20)
    assert "unknown_pending_check" in statuses(got) and "accepted" in statuses(got), got
    assert got[0].status == "unknown_pending_check" and got[0].code in ("timeout", "connection")
    assert sim_links(exsim) == [link]
    assert ex.metric("tickwire_executor_retries_total", cause="resend_after_lookup") == 0


def test_batch_timeout_after_accept(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start(executor_http_timeout="1")
    fault(exsim, "order_timeout", count=1, path="/v5/order/create-batch", delay_ms=3000)
    ex.proc.proc.send_signal(signal.SIGSTOP)
    try:
        links = [ex.client.send(limit(f"f-btimeout-{i}")) for i in range(3)]
        time.sleep(0.3)  # let the client's I/O thread flush them (no observable condition for that)
    finally:
        ex.proc.proc.send_signal(signal.SIGCONT)
    for link in links:
        assert "accepted" in statuses(ex.client.wait(link, until={"new"}, timeout=20))
    assert sorted(sim_links(exsim)) == sorted(links)


def test_rate_limit_burst_waits_and_retries(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start()
    fault(exsim, "rate_limit_burst", count=2, path="/v5/order/create")
    link = ex.client.send(limit("f-10006-1"))
    got = ex.client.wait(link, until={"new"}, timeout=20)
    assert statuses(got)[:2] == ["accepted", "new"], got
    assert ex.metric("tickwire_executor_retries_total", cause="rate_limit") == 2
    assert sim_links(exsim) == [link]
    assert ex.metric("tickwire_executor_ratelimit_headroom", endpoint="/v5/order/create") >= 0


def test_clock_skew_resyncs_and_retries(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start()
    fault(exsim, "clock_skew", offset_ms=-3000)  # the exchange runs 3 s behind: our timestamps are "ahead"
    link = ex.client.send(limit("f-skew-1"))
    got = ex.client.wait(link, until={"new"}, timeout=20)
    assert statuses(got)[:2] == ["accepted", "new"], got
    assert ex.metric("tickwire_executor_retries_total", cause="clock") >= 1
    assert ex.metric("tickwire_executor_clock_offset_ms") < -2000
    assert sim_links(exsim) == [link]


@pytest.mark.parametrize("stream_client", EXECUTOR_WS_CLIENTS)
def test_dropped_private_connection_reconnects(launcher: Launcher, exsim: Any, stream_client: str) -> None:
    ex = launcher.start(executor_ws_client=stream_client)
    first = ex.client.send(limit("f-drop-1"))
    ex.client.wait(first, until={"new"})
    fault(exsim, "drop_private")
    eventually(
        lambda: ex.proc.log_text().count("private stream connected") >= 2,
        timeout=20,
        message="private stream did not reconnect",
    )
    eventually(lambda: ex.metric("tickwire_executor_private_ws_connected") == 1)
    second = ex.client.send(limit("f-drop-2"))
    assert "new" in statuses(ex.client.wait(second, until={"new"}))
    eventually(lambda: "reconciled" in ex.proc.log_text().split("private stream down", 1)[-1])
