"""Safety: live opt-in, missing keys, secrets never in logs or reports, the price band, paper mode."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import zmq

from services.common.rpc import recv_request, router_socket, send_reply
from tests.helpers import ServiceProcess, eventually, free_port, tcp
from tests.integration import executor_support
from tests.integration.executor_support import (
    KEY,
    SECRET,
    Launcher,
    limit,
    sim_links,
    statuses,
)

pytestmark = pytest.mark.integration

# fixtures shared by the executor's integration tests
exsim = executor_support.exsim
launcher = executor_support.launcher


class FakeBook:
    """A ROUTER answering ``{"op":"top"}`` like the book service, from a dict of tops."""

    def __init__(self, tops: dict[str, dict[str, Any]]) -> None:
        self.tops = tops
        self.endpoint = tcp(free_port())
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.sock = router_socket(self.ctx, self.endpoint)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            if not self.sock.poll(50):
                continue
            got = recv_request(self.sock)
            if got is None:
                continue
            envelope, body = got
            req = msgspec.json.decode(body)
            top = self.tops.get(req.get("symbol", ""))
            reply = {"ok": True, **top} if top else {"ok": False, "error": {"code": "unknown_symbol"}}
            send_reply(self.sock, envelope, msgspec.json.encode(reply))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close(0)
        self.ctx.term()


@pytest.fixture
def book() -> Iterator[FakeBook]:
    fb = FakeBook(
        {
            "BTCUSDT": {"state": "live", "bid": "19999.0", "ask": "20001.0", "mid": "20000.0"},
            "ETHUSDT": {"state": "syncing", "bid": "", "ask": "", "mid": ""},
        }
    )
    yield fb
    fb.close()


def test_live_mode_needs_explicit_opt_in(spawn: Callable[..., ServiceProcess], tmp_path: Path) -> None:
    proc = spawn(
        "services.executor",
        executor_mode="live",
        executor_journal=tmp_path / "j.sqlite3",
        executor_metrics_port=free_port(),
        BYBIT_API_KEY="k",
        BYBIT_API_SECRET="s",
    )
    eventually(lambda: not proc.alive, timeout=20)
    assert proc.proc.returncode == 2
    assert "EXECUTOR_LIVE_CONFIRM" in proc.log_text()


def test_non_paper_mode_needs_keys(spawn: Callable[..., ServiceProcess], tmp_path: Path) -> None:
    proc = spawn("services.executor", executor_mode="testnet", executor_journal=tmp_path / "j.sqlite3")
    eventually(lambda: not proc.alive, timeout=20)
    assert proc.proc.returncode == 2 and "BYBIT_API_KEY" in proc.log_text()


def test_secrets_never_in_logs_or_reports(launcher: Launcher, exsim: Any, tmp_path: Path) -> None:
    key_file, secret_file = tmp_path / "key", tmp_path / "secret"
    key_file.write_text(KEY + "\n")
    secret_file.write_text(SECRET + "\n")
    ex = launcher.start(
        BYBIT_API_KEY="",
        BYBIT_API_SECRET="",
        BYBIT_API_KEY_FILE=key_file,
        BYBIT_API_SECRET_FILE=secret_file,
        log_level="debug",
    )
    oc = ex.client
    link = oc.send(limit("s-secret-1"))
    oc.wait(link, until={"new"})
    oc.send({"action": "cancel", "category": "linear", "symbol": "BTCUSDT", "orderLinkId": "s-nope"})
    oc.wait("s-nope", until={"rejected"})
    oc.send_raw(b'{"action":"create","secret":"x"}')
    # a second executor with a wrong secret: every private call fails with 10004, whose text
    # quotes the signed pre-image (with the API key)
    wrong = "WrongSecret-0123456789abcdef"
    bad = launcher.start(BYBIT_API_SECRET=wrong, wait_ready=False)
    eventually(lambda: "cannot list open orders" in bad.proc.log_text(), timeout=20)
    eventually(lambda: "private stream down" in bad.proc.log_text(), timeout=20)
    oc.poll(0.5)
    texts = [ex.proc.log_text(), bad.proc.log_text()]
    texts += [msgspec.json.encode(r).decode() for r in oc.reports]
    for text in texts:
        assert SECRET not in text and wrong not in text
    assert any(r.status == "rejected" and r.order_link_id == "s-nope" for r in oc.reports)


def test_price_band_against_the_book_service(launcher: Launcher, exsim: Any, book: FakeBook) -> None:
    ex = launcher.start(executor_price_band_pct="5", book_rep=book.endpoint)
    oc = ex.client
    inside = oc.send(limit("s-band-in", price="19000.0"))
    assert "new" in statuses(oc.wait(inside, until={"new", "rejected"}))
    outside = oc.send(limit("s-band-out", price="18999.9"))
    got = oc.wait(outside, until={"rejected"})
    assert got[-1].code == "price_band" and "20000" in got[-1].reason
    not_live = oc.send({**limit("s-band-eth"), "symbol": "ETHUSDT", "price": "2000.00", "qty": "0.10"})
    got = oc.wait(not_live, until={"rejected"})
    assert got[-1].code == "no_reference_price" and "syncing" in got[-1].reason
    assert sim_links(exsim) == [inside]


def test_price_band_without_book_service(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start(executor_price_band_pct="5")  # book_rep points at nothing
    link = ex.client.send(limit("s-nobook"))
    got = ex.client.wait(link, until={"rejected"})
    assert got[-1].code == "no_reference_price" and "unreachable" in got[-1].reason
    assert sim_links(exsim) == []


def test_paper_mode_fills_against_the_book(launcher: Launcher, exsim: Any, book: FakeBook) -> None:
    ex = launcher.start(executor_mode="paper", BYBIT_API_KEY="", BYBIT_API_SECRET="", book_rep=book.endpoint)
    oc = ex.client
    taker = oc.send(limit("p-taker", price="20002.0"))
    got = oc.wait(taker, until={"filled"})
    assert statuses(got)[:2] == ["accepted", "new"] and "execution" in statuses(got), got
    filled = next(r for r in got if r.status == "filled")
    assert filled.data["avgPrice"] == "20001.0"  # taker: at the best ask
    resting = oc.send(limit("p-rest", price="19000.0"))
    assert "new" in statuses(oc.wait(resting, until={"new"}))
    oc.send({"action": "cancel", "category": "linear", "symbol": "BTCUSDT", "orderLinkId": resting})
    assert "cancelled" in statuses(oc.wait(resting, until={"cancelled"}))
    assert sim_links(exsim) == []  # nothing reached the exchange
    assert "PAPER" in ex.proc.log_text()
