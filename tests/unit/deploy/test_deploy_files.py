"""Static checks of deploy/: Prometheus config and rules (promtool), dashboards, compose, env.

The running-stack half is tests/e2e (every query evaluated against a real Prometheus).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.promcheck import DASHBOARDS, DEPLOY, RULES, alert_quantity, dashboard_queries, parse_rules

PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
COMPOSE = DEPLOY / "docker-compose.yml"


def tool(name: str) -> str:
    """Path of ``name``; CI (CI=true) must have it, a developer may skip."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI (apt-get install prometheus docker-compose)")
        pytest.skip(f"{name} not installed")
    return path


def test_promtool_checks_rules() -> None:
    """rules.yml is valid for promtool."""
    out = subprocess.run([tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_checks_config(tmp_path: Path) -> None:
    """prometheus.yml (with its rule file path pointed at the repo's rules.yml) is valid."""
    config = tmp_path / "prometheus.yml"
    config.write_text(PROMETHEUS_YML.read_text().replace("/etc/prometheus/rules.yml", str(RULES)))
    out = subprocess.run([tool("promtool"), "check", "config", str(config)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_prometheus_scrapes_every_service() -> None:
    """Every service's metrics port is a scrape target, by compose service name."""
    text = PROMETHEUS_YML.read_text()
    for target in ("monitor:9100", "feed:9101", "book:9102", "executor:9103", "bybit-sim:9104"):
        assert f'"{target}"' in text


def test_every_alert_is_quantity_compared_to_a_number() -> None:
    """Alerts have the ``<quantity> <op> <number>`` shape the e2e data check relies on."""
    rules = parse_rules(RULES.read_text())
    alerts = [r for r in rules if r["kind"] == "alert"]
    assert len(alerts) >= 10
    for rule in rules:
        assert "expr" in rule, rule
    for alert in alerts:
        assert alert_quantity(alert["expr"])
    names = {a["name"] for a in alerts}
    for wanted in (
        "TickwireFeedDisconnected",
        "TickwireBookStale",
        "TickwireBookResyncingOften",
        "TickwireEndToEndLatencyHigh",
        "TickwireExecutorRejects",
        "TickwireRateLimitPressure",
        "TickwireTargetDown",
    ):
        assert wanted in names


def test_dashboards_are_wellformed() -> None:
    """Four dashboards, unique uids and panel ids, every target on the provisioned datasource."""
    boards = [json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))]
    assert {b["uid"] for b in boards} == {
        "tickwire-market-data",
        "tickwire-books",
        "tickwire-latency",
        "tickwire-execution",
    }
    provisioned = (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    assert "uid: prometheus" in provisioned
    for board in boards:
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        for panel in board["panels"]:
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "prometheus"
                assert target["expr"].strip()
    assert len(dashboard_queries()) >= 25


def test_example_env_defines_every_compose_variable() -> None:
    """Every ${VAR} the compose file uses is documented in example.env."""
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    defined = set(re.findall(r"^([A-Z0-9_]+)=", (DEPLOY / "example.env").read_text(), re.M))
    assert used - defined == set()


def test_compose_file_is_valid_for_docker_compose(tmp_path: Path) -> None:
    """docker-compose (Debian's 1.29) accepts the file with the example env."""
    out = subprocess.run(
        [
            tool("docker-compose"),
            "--env-file",
            str(DEPLOY / "example.env"),
            "-f",
            str(COMPOSE),
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_tickwire_containers_are_hardened(tmp_path: Path) -> None:
    """Every tickwire container: non-root image user, read-only root, no capabilities, 127.0.0.1 ports."""
    out = subprocess.run(
        [tool("docker-compose"), "--env-file", str(DEPLOY / "example.env"), "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load(out.stdout)
    ours = {name: svc for name, svc in config["services"].items() if "tickwire" in str(svc.get("image", ""))}
    assert {"feed", "book", "executor", "monitor"} <= set(ours)
    for name, svc in ours.items():
        assert svc.get("read_only") is True, name
        assert svc.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in svc.get("security_opt", []), name
        assert "user" not in svc, f"{name} must run as the image's non-root user"
    for name, svc in config["services"].items():
        for port in svc.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    assert "USER tickwire" in (DEPLOY / "Dockerfile").read_text()
