"""Renders docs/bench.png (latency distributions and throughput) with matplotlib.

matplotlib lives in the bench's own venv (bench/.peers-venv, see :mod:`bench.peers`), not in the
project's dependencies: this module runs ``bench/plot_render.py`` with that interpreter.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bench.peers import ensure_venv

ROOT = Path(__file__).resolve().parents[1]
PNG = ROOT / "docs" / "bench.png"


def render(data: dict[str, Any], out: Path = PNG) -> str:
    try:
        py = ensure_venv()
    except RuntimeError as exc:
        return f"plot skipped: {exc}"
    src = out.with_suffix(".json.tmp")
    src.write_text(json.dumps(data, default=str))
    try:
        proc = subprocess.run(
            [str(py), str(Path(__file__).with_name("plot_render.py")), str(src), str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        src.unlink(missing_ok=True)
    if proc.returncode != 0:
        return f"plot failed: {proc.stderr[-500:]}"
    return f"plot written to {out}"
