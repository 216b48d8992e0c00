"""The system under test as real processes on free ports: bybit_sim, feed, book, executor, monitor.

Every service is ``python -m services.<name>`` with TICKWIRE_* settings in its environment and its
output in ``<workdir>/<name>-<n>.log``. :meth:`Stack.kill` sends SIGKILL (and remembers that the
exit was wanted); :meth:`Stack.unexpected_exits` lists every process that died by itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from services.bybit_sim.control import SimControl
from services.common.localnet import free_port, tcp

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("feed", "book", "executor", "monitor")
SYMBOLS = (("linear", "BTCUSDT"), ("linear", "ETHUSDT"), ("spot", "BTCUSDT"))
API_KEY, API_SECRET = "sim-key", "sim-secret"


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    started: float
    killed: bool = False

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Stack:
    workdir: Path
    seed: int
    speed: float
    settings: dict[str, Any] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    dead: list[Proc] = field(default_factory=list)
    starts: dict[str, int] = field(default_factory=dict)
    #: module to run per service name instead of ``services.<name>`` (the self-test's mutant)
    modules: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        p = {k: free_port() for k in (
            "sim_ws", "sim_http", "sim_metrics", "feed_pub", "feed_ctl", "feed_metrics", "book_rep",
            "book_pub", "book_metrics", "ex_pull", "ex_pub", "ex_metrics", "monitor")}  # fmt: skip
        self.ports = p
        self.sim_http = f"http://127.0.0.1:{p['sim_http']}"
        self.settings = {
            "log_format": "json",
            "log_level": "info",
            "symbols": ",".join(f"{c}:{s}" for c, s in SYMBOLS),
            "orderbook_depth": 50,
            "metrics_host": "127.0.0.1",
            "shutdown_grace": 3,
            "sim_ws_port": p["sim_ws"],
            "sim_http_port": p["sim_http"],
            "sim_metrics_port": p["sim_metrics"],
            "sim_seed": self.seed,
            "sim_speed": self.speed,
            "feed_pub": tcp(p["feed_pub"]),
            "feed_ctl": tcp(p["feed_ctl"]),
            "feed_metrics_port": p["feed_metrics"],
            "feed_ping_interval": 1,
            "feed_pong_timeout": 2,
            "feed_backoff_initial": 0.2,
            "feed_backoff_max": 2,
            "bybit_public_ws_url": f"ws://127.0.0.1:{p['sim_ws']}/v5/public/{{category}}",
            "book_rep": tcp(p["book_rep"]),
            "book_pub": tcp(p["book_pub"]),
            "book_metrics_port": p["book_metrics"],
            "book_resync_timeout": 2,
            "book_stale_after": 10,
            "executor_mode": "sim",
            "bybit_rest_url": self.sim_http,
            "bybit_private_ws_url": f"ws://127.0.0.1:{p['sim_ws']}/v5/private",
            "executor_pull": tcp(p["ex_pull"]),
            "executor_pub": tcp(p["ex_pub"]),
            "executor_metrics_port": p["ex_metrics"],
            "executor_journal": str(self.workdir / "executor.sqlite3"),
            "executor_http_timeout": 2,
            "executor_max_position": "5",
            "executor_max_open_orders": 200,
            "monitor_port": p["monitor"],
            "monitor_probe_interval": 1,
            "BYBIT_API_KEY": API_KEY,
            "BYBIT_API_SECRET": API_SECRET,
        }
        self.control = SimControl(self.sim_http)

    # --- processes --------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKWIRE_", "BYBIT_"))}
        env["PYTHONUNBUFFERED"] = "1"
        for key, value in self.settings.items():
            env[key if key.isupper() else f"TICKWIRE_{key.upper()}"] = str(value)
        return env

    def start(self, name: str) -> Proc:
        module = self.modules.get(name) or ("services.bybit_sim" if name == "sim" else f"services.{name}")
        n = self.starts.get(name, 0) + 1
        self.starts[name] = n
        log_path = self.workdir / f"{name}-{n}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [sys.executable, "-m", module],
                env=self._env(),
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc = Proc(name, popen, log_path, time.monotonic())
        self.procs[name] = proc
        return proc

    def start_all(self, timeout: float = 60.0) -> None:
        self.start("sim")
        self.control.wait_ready(timeout)
        for name in SERVICES:
            self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL ``name`` (a crash) and wait for it to be gone."""
        proc = self.procs[name]
        proc.killed = True
        if proc.alive:
            proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait(10)
        self.dead.append(proc)

    def restart(self, name: str) -> Proc:
        return self.start(name)

    def unexpected_exits(self) -> list[str]:
        out = []
        for proc in [*self.dead, *self.procs.values()]:
            code = proc.popen.poll()
            if code is not None and not proc.killed:
                tail = proc.log_path.read_text(errors="replace")[-800:]
                out.append(f"{proc.name} exited by itself with {code}; log tail:\n{tail}")
        return out

    def stop_all(self) -> dict[str, int | None]:
        """SIGTERM every service (sim last); return their exit codes."""
        codes: dict[str, int | None] = {}
        for name in [*SERVICES, "sim"]:
            proc = self.procs.get(name)
            if proc is None:
                continue
            if proc.alive:
                proc.killed = True  # a requested stop is not a crash
                proc.popen.send_signal(signal.SIGTERM)
                try:
                    proc.popen.wait(15)
                except subprocess.TimeoutExpired:
                    proc.popen.kill()
                    proc.popen.wait()
            codes[name] = proc.popen.returncode
        self.control.close()
        return codes

    # --- probes -----------------------------------------------------------------------------
    def monitor_up(self) -> bool:
        try:
            r = requests.get(f"http://127.0.0.1:{self.ports['monitor']}/health", timeout=1)
        except requests.RequestException:
            return False
        return r.status_code == 200

    def sim_orders(self) -> list[dict[str, Any]]:
        r = requests.get(f"{self.sim_http}/sim/orders", params={"apiKey": API_KEY}, timeout=10)
        r.raise_for_status()
        return list(r.json()["orders"])
