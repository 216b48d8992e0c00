"""Peers on the same stream: pybit, ccxt (pro) and cryptofeed order-book handling, driven offline.

The peers (and matplotlib, for the plot) live in the bench's own venv ``bench/.peers-venv``
(ignored by git), created here on first use with exact pins, so the project's dependencies stay
clean. :file:`bench/peers_runner.py` runs inside that venv and imports nothing from tickwire.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

from bench import corebench, prep
from bench.context import Ctx
from bench.stats import Figure

VENV = Path(__file__).resolve().parent / ".peers-venv"
#: Exact pins. cryptofeed 2.4.1 is the last release that supports Python 3.11.
PINS = ["pybit==5.17.0", "ccxt==4.5.90", "cryptofeed==2.4.1", "matplotlib==3.11.2"]


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> Path:
    """Create bench/.peers-venv and install the pins if missing; return its interpreter."""
    py = venv_python()
    marker = VENV / ".pins"
    if py.exists() and marker.exists() and marker.read_text() == "\n".join(PINS):
        return py
    if not py.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    proc = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", *PINS], capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0:
        raise RuntimeError(f"cannot install {PINS} into {VENV}: {proc.stderr[-800:]}")
    marker.write_text("\n".join(PINS))
    return py


def run(ctx: Ctx) -> dict[str, Any]:
    n_frames = ctx.n(20_000, 2_000)
    p = prep.stream("peers", n_frames, 20, depths=(50, 200, 1000), book_share=1.0, trade_share=0.0)
    truth = {s: b.as_strings() for s, b in p.stream.gen.books.items()}
    truth_path = ctx.work / "peers-truth.json"
    truth_path.write_text(json.dumps(truth))
    out_path = ctx.work / "peers-out.json"
    ours = corebench.parse_apply(p.stream.frames, p.stream.symbols, p.stream.depths)
    ours_ok = all(
        [tuple(x) for x in ours["books"][s][0]] == [tuple(x) for x in truth[s][0]]
        and [tuple(x) for x in ours["books"][s][1]] == [tuple(x) for x in truth[s][1]]
        for s in truth
    )
    ctx.rates["tickwire parse+apply (in-process)"] = ours["rate"]
    ctx.add(
        Figure(
            "tickwire_parse_apply",
            "tickwire feed core + book core, one process",
            ours["rate"],
            "msg/s",
            note=f"peers stream (depth 50/200/1000, 20 symbols); book == true book: {ours_ok}",
        )
    )
    try:
        py = ensure_venv()
    except RuntimeError as exc:
        ctx.notes["peers"] = str(exc)
        return {}
    proc = subprocess.run(
        [
            str(py),
            str(Path(__file__).with_name("peers_runner.py")),
            str(p.frames_path),
            str(truth_path),
            str(out_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0 or not out_path.exists():
        ctx.notes["peers"] = f"peer runner failed: {proc.stderr[-800:]}"
        return {}
    res: dict[str, Any] = json.loads(out_path.read_text())
    for name, r in res.items():
        if "error" in r:
            ctx.notes[f"peer {name}"] = r["error"]
            continue
        ctx.rates[f"{name} (in-process)"] = r["rate"]
        ctx.add(
            Figure(
                f"peer_{name}",
                f"peer {name}: parse+book on the same stream",
                r["rate"],
                "msg/s",
                ours["rate"],
                "tickwire",
                note=f"book == true book: {r['equal']}; {r.get('note', '')}".strip("; "),
                extra=r,
            )
        )
    return res


if __name__ == "__main__":
    print(ensure_venv(), file=sys.stderr)
