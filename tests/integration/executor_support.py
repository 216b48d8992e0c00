"""Helpers for the executor's integration tests: start it against bybit_sim, read the sim's orders."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from services.common.order_client import OrderClient
from services.common.wire import ExecReport
from tests.helpers import ServiceProcess, eventually, free_port, tcp
from tests.secret_scan import register_secret

#: Canary credentials, random per session and registered with the secret scan (tests/secret_scan.py):
#: every log a service writes in these tests is searched for them at the end of the session.
KEY = "canary-key-" + secrets.token_hex(8)
SECRET = "canary-secret-" + secrets.token_hex(16)


@pytest.fixture
def exsim(sim_factory: Callable[..., Any]) -> Any:
    """The simulator the executor trades on: a fresh one per test that knows the canary key."""
    register_secret(SECRET, "executor API secret")
    register_secret(KEY, "executor API key")
    return sim_factory(sim_api_keys=f"{KEY}:{SECRET}")


@dataclass
class Executor:
    proc: ServiceProcess
    pull: str
    pub: str
    metrics_port: int
    journal: Path
    client: OrderClient

    def metric(self, name: str, **labels: str) -> float:
        text = requests.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def journal_orders(self) -> dict[str, tuple[str, str]]:
        """orderLinkId -> (status, orderId) as the journal holds them."""
        with sqlite3.connect(self.journal) as db:
            rows = db.execute("SELECT order_link_id, status, order_id FROM orders").fetchall()
        return {r[0]: (r[1], r[2]) for r in rows}


class Launcher:
    """Starts executors on free ports against one simulator; they are stopped by ``spawn``."""

    def __init__(self, spawn: Callable[..., ServiceProcess], sim: Any, tmp_path: Path) -> None:
        self.spawn = spawn
        self.sim = sim
        self.tmp_path = tmp_path
        self.clients: list[OrderClient] = []

    def start(self, *, journal: Path | None = None, wait_ready: bool = True, **settings: Any) -> Executor:
        """Start one executor; retried on another port set if a free port was taken meanwhile."""
        for _ in range(3):
            ex = self._start(journal=journal, wait_ready=wait_ready, **settings)
            if ex.proc.alive or "Address already in use" not in ex.proc.log_text():
                break
        if wait_ready:
            assert ex.proc.alive, ex.proc.log_text()
            assert ex.client.wait_ready(10), "no executor heartbeat"
        return ex

    def _start(self, *, journal: Path | None, wait_ready: bool, **settings: Any) -> Executor:
        pull, pub, mport = tcp(free_port()), tcp(free_port()), free_port()
        journal = journal or self.tmp_path / f"journal-{free_port()}.sqlite3"
        env: dict[str, Any] = {
            "executor_mode": "sim",
            "bybit_rest_url": self.sim.http_url,
            "bybit_private_ws_url": self.sim.ws_private_url,
            "BYBIT_API_KEY": KEY,
            "BYBIT_API_SECRET": SECRET,
            "executor_pull": pull,
            "executor_pub": pub,
            "executor_metrics_port": mport,
            "executor_journal": journal,
            "executor_price_band_pct": "0",
            "executor_max_order_notional": "10000000",
            "executor_max_position": "100000",
            "executor_max_orders_per_second": "1000",
            "executor_http_timeout": "2",
            "book_rep": tcp(free_port()),
            "symbols": "linear:BTCUSDT,spot:BTCUSDT",
        }
        env.update(settings)
        proc = self.spawn("services.executor", name=f"executor-{mport}", **env)
        client = OrderClient(pull, pub)
        self.clients.append(client)
        ex = Executor(proc, pull, pub, mport, journal, client)
        if wait_ready:
            eventually(
                lambda: "executor ready" in proc.log_text() or not proc.alive,
                timeout=30,
                message="executor did not become ready",
            )
        return ex

    def close(self) -> None:
        for c in self.clients:
            c.close()


@pytest.fixture
def launcher(spawn: Callable[..., ServiceProcess], exsim: Any, tmp_path: Path) -> Iterator[Launcher]:
    lau = Launcher(spawn, exsim, tmp_path)
    yield lau
    lau.close()


def fault(sim: Any, name: str, **params: Any) -> None:
    sim.control.fault(name, **params)


def clear_faults(sim: Any) -> None:
    sim.control.clear_faults()


def sim_orders(sim: Any) -> list[dict[str, Any]]:
    r = requests.get(f"{sim.http_url}/sim/orders", params={"apiKey": KEY}, timeout=10)
    assert r.status_code == 200
    return list(r.json()["orders"])


def sim_links(sim: Any) -> list[str]:
    return [o["orderLinkId"] for o in sim_orders(sim)]


def limit(
    link: str | None = None, *, price: str = "20000.0", qty: str = "0.010", **kw: Any
) -> dict[str, Any]:
    """A resting linear limit buy (far below the sim's market, so it stays open)."""
    body: dict[str, Any] = {
        "action": "create",
        "category": "linear",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "orderType": "Limit",
        "qty": qty,
        "price": price,
        "timeInForce": "GTC",
    }
    if link is not None:
        body["orderLinkId"] = link
    body.update(kw)
    return body


def statuses(reports: list[ExecReport]) -> list[str]:
    return [r.status for r in reports]
