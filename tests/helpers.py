"""Test helpers shared by all suites: free ports, wait-for conditions, service processes.

No sleeps where a condition fits: use :func:`eventually`. Timeouts scale with
``TICKWIRE_TEST_TIMEOUT_FACTOR`` (default 1) for slow machines.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from services.common.localnet import free_port, tcp  # noqa: F401 (re-exported)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "bybit" / "samples"
FACTOR = float(os.environ.get("TICKWIRE_TEST_TIMEOUT_FACTOR", "1"))

T = TypeVar("T")


def eventually(
    condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, message: str = ""
) -> T:
    """Poll ``condition`` until it returns a truthy value; return it, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout * FACTOR
    last_exc: BaseException | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except AssertionError as exc:
            last_exc = exc
        if time.monotonic() > deadline:
            detail = f": {last_exc}" if last_exc else ""
            raise AssertionError(f"condition not met within {timeout * FACTOR:.1f}s {message}{detail}")
        time.sleep(interval)


def base_env(**settings: Any) -> dict[str, str]:
    """Environment for a service process: this process's env without TICKWIRE_*, plus settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKWIRE_", "BYBIT_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env["TICKWIRE_LOG_FORMAT"] = "json"
    for key, value in settings.items():
        env[key if key.isupper() else f"TICKWIRE_{key.upper()}"] = str(value)
    return env


class ServiceProcess:
    """A service started as ``python -m <module>`` with its stderr captured to a file."""

    def __init__(self, module: str, env: Mapping[str, str], log_dir: Path, name: str | None = None) -> None:
        self.module = module
        self.name = name or module.rsplit(".", 1)[-1]
        self.log_path = log_dir / f"{self.name}-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module],
            env=dict(env),
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout``; return the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout * FACTOR)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)

    def kill(self) -> None:
        """SIGKILL now (crash simulation)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
