"""End to end without Docker: `python -m services.demo` runs the system as local processes, and
the same checks as tests/e2e/test_compose.py run against it, with Debian's Prometheus scraping
it on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.promcheck import LocalPrometheus
from tests.e2e.stack_checks import live_book, order_round_trip, prometheus_sees_everything, scrape_all
from tests.helpers import ROOT, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def start_demo(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKWIRE_", "BYBIT_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "services.demo", "--free-ports", "--log-dir", str(tmp_path / "logs"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    info_file = tmp_path / "info.json"
    proc = start_demo(tmp_path, "--no-ladder", "--duration", "600", "--info-file", str(info_file))
    try:
        eventually(
            lambda: info_file.exists() or proc.poll() is not None,
            timeout=120,
            interval=0.2,
            message="demo up",
        )
        assert proc.poll() is None, proc.communicate()[0]
        yield proc, json.loads(info_file.read_text())
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_demo_system_end_to_end(tmp_path: Path, demo: tuple[subprocess.Popen[str], dict[str, Any]]) -> None:
    """Book over REQ, orders, every /metrics, every dashboard and alert query with data; Ctrl-C exits 0."""
    if shutil.which("prometheus") is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is required in CI (apt-get install prometheus)")
        pytest.skip("prometheus not installed (apt-get install prometheus)")
    proc, info = demo
    ports = info["ports"]
    book = live_book(f"tcp://127.0.0.1:{ports['book_rep']}")
    mid = (Decimal(book["bids"][0][0]) + Decimal(book["asks"][0][0])) / 2  # type: ignore[index]
    outcomes = order_round_trip(
        f"tcp://127.0.0.1:{ports['executor_pull']}", f"tcp://127.0.0.1:{ports['executor_pub']}", mid
    )
    assert set(outcomes["ok"]) & {"new", "filled", "partially_filled"}, outcomes
    assert "rejected" in outcomes["bad"], outcomes

    metrics = {name: url.replace("/health", "/metrics") for name, url in info["metrics"].items()}
    bodies = scrape_all(metrics)
    assert "tickwire_monitor_latency_seconds_bucket" in bodies["monitor"]

    jobs = {f"tickwire-{'sim' if n == 'bybit_sim' else n}": u.split("/")[2] for n, u in metrics.items()}
    prom = LocalPrometheus(tmp_path, jobs)
    try:
        eventually(prom.ready, timeout=60, interval=0.5, message="prometheus ready")
        prometheus_sees_everything(prom.base, jobs=len(jobs))
    finally:
        prom.stop()

    proc.send_signal(signal.SIGINT)  # what Ctrl-C does
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "demo order intent" in out and "report: create" in out, out
    assert "stopped cleanly" in out


def test_demo_duration_exits_zero(tmp_path: Path) -> None:
    """`--duration N` runs N seconds once up, shows the ladder, then stops everything and exits 0."""
    proc = start_demo(tmp_path, "--duration", "2", "--no-order")
    try:
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "http://127.0.0.1:" in out and "/metrics" in out
    assert " bid" in out and " ask" in out  # the ladder
    assert "stopped cleanly" in out
