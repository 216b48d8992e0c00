"""End to end in Docker: `make up` with bybit_sim, then the host talks to the stack as a user would.

Needs a Docker engine and compose (deploy/ci-docker.sh sets one up). Skipped without one,
except when TICKWIRE_TEST_REQUIRE_DOCKER=1 (CI), where a missing engine FAILS the test.
The same checks run against local processes in tests/e2e/test_demo.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.e2e.stack_checks import live_book, order_round_trip, prometheus_sees_everything, scrape_all
from tests.helpers import ROOT, free_port

pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.timeout(900)]

PORT_VARS = (
    "BOOK_REP_PORT",
    "BOOK_PUB_PORT",
    "FEED_PUB_PORT",
    "EXECUTOR_PULL_PORT",
    "EXECUTOR_PUB_PORT",
    "MONITOR_PORT",
    "FEED_METRICS_PORT",
    "BOOK_METRICS_PORT",
    "EXECUTOR_METRICS_PORT",
    "SIM_METRICS_PORT",
    "PROMETHEUS_PORT",
    "GRAFANA_PORT",
    "SIM_HTTP_PORT",
    "SIM_WS_PORT",
)


def docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "docker client not installed"
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        return "docker engine not reachable (run deploy/ci-docker.sh as root)"
    has_v2 = subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    if not has_v2 and shutil.which("docker-compose") is None:
        return "neither `docker compose` nor docker-compose installed"
    return None


def make(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run a make target of the project's Makefile."""
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def container_logs(project: str, lines: int = 40) -> str:
    """The last log lines of every container of ``project`` (for failure messages)."""
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    out = []
    for cid in ids:
        name = subprocess.run(["docker", "inspect", "-f", "{{.Name}}", cid], capture_output=True, text=True)
        logs = subprocess.run(["docker", "logs", "--tail", str(lines), cid], capture_output=True, text=True)
        out.append(f"---- {name.stdout.strip()}\n{logs.stdout}{logs.stderr}")
    return "\n".join(out)


def project_leftovers(project: str) -> list[str]:
    label = f"label=com.docker.compose.project={project}"
    out = []
    for kind in ("ps -aq", "network ls -q", "volume ls -q"):
        res = subprocess.run(["docker", *kind.split(), "--filter", label], capture_output=True, text=True)
        out += [f"{kind.split()[0]}:{x}" for x in res.stdout.split()]
    return out


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A running compose stack on free 127.0.0.1 ports; always torn down with volumes."""
    problem = docker_problem()
    if problem:
        if os.environ.get("TICKWIRE_TEST_REQUIRE_DOCKER") == "1":
            pytest.fail(f"TICKWIRE_TEST_REQUIRE_DOCKER=1 but {problem}")
        pytest.skip(problem)
    project = f"twe2e{os.getpid()}"
    ports = {var: str(free_port()) for var in PORT_VARS}
    lines = []
    for line in (ROOT / "deploy" / "example.env").read_text().splitlines():
        key = line.split("=", 1)[0]
        if key in ports:
            line = f"{key}={ports[key]}"
        elif key == "COMPOSE_PROJECT_NAME":
            line = f"{key}={project}"
        lines.append(line)
    env_file = tmp_path / "e2e.env"
    env_file.write_text("\n".join(lines) + "\n")
    args = (f"ENV_FILE={env_file}", f"PROJECT={project}")
    try:
        up = make("up", *args, "UP_TIMEOUT=240")
        if up.returncode != 0:
            ps = subprocess.run(
                ["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={project}"],
                capture_output=True,
                text=True,
            )
            pytest.fail(
                f"make up failed:\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}\n{ps.stdout}\n"
                + container_logs(project)
            )
        yield {**ports, "PROJECT": project}
    finally:
        down = make("down", *args, "DOWN_FLAGS=-v", timeout=120)
        leftovers = project_leftovers(project)
        assert down.returncode == 0, down.stdout + down.stderr
        assert leftovers == [], f"make down left {leftovers}"


def test_stack_in_docker_end_to_end(stack: dict[str, str]) -> None:
    """Book over REQ, an order and a reject through the executor, metrics, Prometheus queries."""
    try:
        check_stack(stack)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{container_logs(stack['PROJECT'])}") from None


def check_stack(stack: dict[str, str]) -> None:
    host = "tcp://127.0.0.1:"
    book = live_book(host + stack["BOOK_REP_PORT"])
    mid = (Decimal(book["bids"][0][0]) + Decimal(book["asks"][0][0])) / 2  # type: ignore[index]

    outcomes = order_round_trip(host + stack["EXECUTOR_PULL_PORT"], host + stack["EXECUTOR_PUB_PORT"], mid)
    assert set(outcomes["ok"]) & {"new", "filled", "partially_filled"}, outcomes
    assert "rejected" in outcomes["bad"], outcomes

    urls = {
        name: f"http://127.0.0.1:{stack[var]}/metrics"
        for name, var in (
            ("monitor", "MONITOR_PORT"),
            ("feed", "FEED_METRICS_PORT"),
            ("book", "BOOK_METRICS_PORT"),
            ("executor", "EXECUTOR_METRICS_PORT"),
            ("sim", "SIM_METRICS_PORT"),
        )
    }
    bodies = scrape_all(urls)
    assert 'tickwire_monitor_service_up{service="book"} 1.0' in bodies["monitor"]
    for name in ("feed", "book", "executor"):
        assert f"tickwire_{name}_" in bodies[name]

    prometheus_sees_everything(f"http://127.0.0.1:{stack['PROMETHEUS_PORT']}", jobs=6)
