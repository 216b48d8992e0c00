"""Helpers for the end-to-end tests: every PromQL query of the deploy/ files, a real Prometheus.

* :func:`dashboard_queries` — every panel target ``expr`` of deploy/grafana/dashboards/*.json.
* :func:`rule_queries` — every recording rule expression, and every alert's quantity (the alert
  expression without its final ``<op> <number>``), from deploy/prometheus/rules.yml.
* :class:`LocalPrometheus` — Debian's ``prometheus`` binary on 127.0.0.1 scraping given targets
  with the project's rules (used by the demo test; the compose test uses the stack's own).
* :func:`check_queries` — evaluate queries; return the ones that error or return no data.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tests.helpers import ROOT, free_port

DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
_COMPARISON = re.compile(r"^(?P<lhs>.+?)\s*(?P<op>==|!=|>=|<=|>|<)\s*(?P<num>-?[0-9.]+(?:e-?[0-9]+)?)\s*$")


def dashboard_queries() -> list[tuple[str, str]]:
    """``(where, expr)`` for every panel target of every dashboard."""
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']} [{target['refId']}]", target["expr"]))
    return out


def parse_rules(text: str) -> list[dict[str, str]]:
    """Rules of a rules.yml as ``{"kind": "record"|"alert", "name": ..., "expr": ...}`` (one-line exprs)."""
    rules: list[dict[str, str]] = []
    for line in text.splitlines():
        m = re.match(r"^\s*-\s*(record|alert):\s*(\S+)\s*$", line)
        if m:
            rules.append({"kind": m.group(1), "name": m.group(2)})
            continue
        m = re.match(r"^\s*expr:\s*(.+?)\s*$", line)
        if m and rules and "expr" not in rules[-1]:
            rules[-1]["expr"] = m.group(1)
    return rules


def alert_quantity(expr: str) -> str:
    """The alert expression without its final comparison: what must return data."""
    m = _COMPARISON.match(expr)
    if not m:
        raise ValueError(f"alert expression is not '<quantity> <op> <number>': {expr}")
    return m.group("lhs")


def rule_queries() -> list[tuple[str, str]]:
    out = []
    for rule in parse_rules(RULES.read_text()):
        expr = rule["expr"] if rule["kind"] == "record" else alert_quantity(rule["expr"])
        out.append((f"rules.yml: {rule['kind']} {rule['name']}", expr))
    return out


def all_queries() -> list[tuple[str, str]]:
    return dashboard_queries() + rule_queries()


def query(base: str, expr: str, timeout: float = 5.0) -> dict[str, Any]:
    """Instant query; returns Prometheus' JSON answer (``status`` ``error`` on a bad query)."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return dict(json.load(resp))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read() or b"{}") or {"status": "error", "error": str(exc)})


def check_queries(base: str, queries: Iterable[tuple[str, str]]) -> list[str]:
    """Problems (``where: expr -> reason``) of queries that error or return no data."""
    problems = []
    for where, expr in queries:
        answer = query(base, expr)
        if answer.get("status") != "success":
            problems.append(f"{where}: {expr} -> error {answer.get('error')}")
        elif not answer["data"]["result"]:
            problems.append(f"{where}: {expr} -> no data")
    return problems


def targets_health(base: str) -> dict[str, str]:
    """``{job: health}`` of the active scrape targets."""
    with urllib.request.urlopen(f"{base}/api/v1/targets", timeout=5) as resp:
        data = json.load(resp)
    return {t["labels"]["job"]: t["health"] for t in data["data"]["activeTargets"]}


def rules_health(base: str) -> list[str]:
    """Problems of rules whose last evaluation failed."""
    with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=5) as resp:
        data = json.load(resp)
    return [
        f"{r['name']}: {r.get('lastError')}"
        for g in data["data"]["groups"]
        for r in g["rules"]
        if r.get("health") != "ok"
    ]


def render_config(jobs: Mapping[str, str], rules: Path, interval: str = "1s") -> str:
    """A prometheus.yml scraping ``{job: "127.0.0.1:port"}`` every ``interval`` with ``rules``."""
    lines = [
        "global:",
        f"  scrape_interval: {interval}",
        f"  evaluation_interval: {interval}",
        "rule_files:",
        f"  - {rules}",
        "scrape_configs:",
    ]
    for job, target in jobs.items():
        lines += [f"  - job_name: {job}", "    static_configs:", f'      - targets: ["{target}"]']
    return "\n".join(lines) + "\n"


class LocalPrometheus:
    """Debian's prometheus on 127.0.0.1:<free port> with a rendered config; :meth:`stop` always."""

    def __init__(self, workdir: Path, jobs: Mapping[str, str]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise FileNotFoundError("prometheus not installed (apt-get install prometheus)")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text(render_config(jobs, RULES))
        self.log_path = workdir / "prometheus.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base}/-/ready", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
