"""Machine description, results JSON (bench/results/latest.json) and the docs/benchmarks.md table."""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from bench.context import Ctx
from bench.stats import format_markdown, histogram, summarize

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cflags = sysconfig.get_config_var("CONFIG_ARGS") or ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "python_build": platform.python_build(),
        "python_executable": sys.executable,
        "pgo": "--enable-optimizations" in cflags,
        "lto": "--with-lto" in cflags,
        "platform": platform.platform(),
    }


def python_label(m: dict[str, Any]) -> str:
    opt = "PGO+LTO" if m["pgo"] and m["lto"] else ("PGO" if m["pgo"] else "no PGO/LTO")
    return f"CPython {m['python']} ({opt}, {m['python_build'][1]})"


def write_json(ctx: Ctx, started: float, path: Path | None = None) -> dict[str, Any]:
    m = machine()
    data = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration_s": round(time.time() - started, 1),
        "quick": ctx.quick,
        "machine": m,
        "figures": [f.to_json() for f in ctx.figures],
        "latency": {k: summarize(v) for k, v in ctx.samples.items()},
        "histograms": {k: histogram(v) for k, v in ctx.samples.items()},
        "rates": ctx.rates,
        "notes": ctx.notes,
        "extra": ctx.extra,
    }
    RESULTS.mkdir(exist_ok=True)
    out = path or RESULTS / ("quick.json" if ctx.quick else "latest.json")
    out.write_text(json.dumps(data, indent=1, default=str) + "\n")
    return data


def results_markdown(data: dict[str, Any], figures_md: str) -> str:
    m = data["machine"]
    lines = [
        BEGIN,
        f"Run {data['when']} ({'quick' if data['quick'] else 'full'}, {data['duration_s']} s) on "
        f"{m['cpu']}, {m['cores']} cores, {python_label(m)}; load average "
        f"{data['extra'].get('loadavg_start', [0])[0]:.1f} at start, "
        f"{data['extra'].get('loadavg_end', [0])[0]:.1f} at end (other work on the machine inflates "
        "absolute figures; ratios are measured side by side)"
        + (f"; every benchmark process at nice {data['extra']['nice']}" if data["extra"].get("nice") else "")
        + ".",
        "",
        figures_md,
        "",
    ]
    if data.get("notes"):
        lines += ["Notes from this run:", ""]
        lines += [f"- **{k}**: {v}" for k, v in data["notes"].items()]
        lines.append("")
    lat = data.get("latency", {})
    if lat:
        lines += [
            "Latency distributions (µs):",
            "",
            "| series | n | p50 | p90 | p99 | p99.9 | max |",
            "|---|---|---|---|---|---|---|",
        ]
        for k, s in lat.items():
            if s.get("n"):
                lines.append(
                    f"| {k} | {s['n']} | {s['p50_us']:.0f} | {s['p90_us']:.0f} | {s['p99_us']:.0f} | "
                    f"{s['p999_us']:.0f} | {s['max_us']:.0f} |"
                )
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def update_doc(ctx: Ctx, data: dict[str, Any]) -> None:
    """Replace the results block of docs/benchmarks.md (kept between the two markers)."""
    block = results_markdown(data, format_markdown(ctx.figures))
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    else:
        text += "\n" + block + "\n"
    DOC.write_text(text)
