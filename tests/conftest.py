"""Fixtures for every suite: service processes that are always stopped, a scratch log dir."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import ServiceProcess, base_env

#: Scans every test's output and every service log for registered secrets (tests/secret_scan.py).
pytest_plugins = ["tests.secret_scan"]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start ``python -m module`` with TICKWIRE_* settings; every process is stopped at teardown.

    Usage: ``proc = spawn("services.feed", feed_pub=..., symbols=...)``.
    """
    procs: list[ServiceProcess] = []

    def start(module: str, *, name: str | None = None, **settings: Any) -> ServiceProcess:
        proc = ServiceProcess(module, base_env(**settings), tmp_path, name=name)
        procs.append(proc)
        return proc

    yield start
    for proc in reversed(procs):
        proc.stop()
