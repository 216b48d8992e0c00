"""The trading core stays pure: no I/O, no asyncio, no clock reads, no environment access."""

from __future__ import annotations

import ast
from pathlib import Path

import services.bybit_sim.trading.core as core_pkg

FORBIDDEN_MODULES = {
    "asyncio",
    "socket",
    "aiohttp",
    "websockets",
    "zmq",
    "requests",
    "prometheus_client",
    "os",
    "time",
    "datetime",
    "subprocess",
    "threading",
}


def test_core_imports_nothing_with_io() -> None:
    """Every module under trading/core imports only pure modules."""
    offenders = []
    for path in Path(core_pkg.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES]
    assert offenders == []
