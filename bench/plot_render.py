"""Runs inside bench/.peers-venv (matplotlib): ``python plot_render.py RESULTS.json OUT.png``.

Left: latency distributions (log-spaced histograms from the full samples, p50/p99 marked).
Right: throughput of tickwire's components next to their baselines and the peers.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    src, out = sys.argv[1], sys.argv[2]
    with open(src) as fh:
        data = json.load(fh)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [1.1, 1]})
    hists = data.get("histograms", {})
    lat = data.get("latency", {})
    for i, (name, h) in enumerate(hists.items()):
        edges, counts = h.get("edges", []), h.get("counts", [])
        if not counts:
            continue
        total = sum(counts) or 1
        mids = [(edges[j] * edges[j + 1]) ** 0.5 for j in range(len(counts))]
        color = f"C{i % 10}"
        s = lat.get(name, {})
        label = f"{name} (p50 {s.get('p50_us', 0):.0f}, p99 {s.get('p99_us', 0):.0f} µs)"
        ax1.plot(mids, [c / total for c in counts], color=color, label=label, lw=1.6)
        if s.get("p50_us"):
            ax1.axvline(s["p50_us"], color=color, ls=":", lw=0.8)
    ax1.set_xscale("log")
    ax1.set_xlabel("latency (µs, log scale)")
    ax1.set_ylabel("share of samples per bin")
    ax1.set_title("Latency distributions (full samples, clipped at p99.9)")
    ax1.legend(fontsize=7, loc="upper right")
    ax1.grid(alpha=0.3, which="both")
    rates = data.get("rates", {})
    names = list(rates)
    vals = [rates[n] for n in names]
    colors = [
        "#888888"
        if n.startswith("R")
        else ("#d62728" if "(in-process)" in n and "tickwire" not in n else "#1f77b4")
        for n in names
    ]
    ax2.barh(names, vals, color=colors)
    for y, v in enumerate(vals):
        ax2.text(v, y, f" {v:,.0f}", va="center", fontsize=7)
    ax2.set_xscale("log")
    ax2.set_xlabel("messages (or queries) per second, log scale")
    ax2.set_title("Throughput (grey: baselines, red: peers)")
    ax2.invert_yaxis()
    ax2.tick_params(axis="y", labelsize=7)
    ax2.grid(alpha=0.3, axis="x", which="both")
    m = data.get("machine", {})
    fig.suptitle(
        f"tickwire benchmarks {data.get('when', '')} - {m.get('cpu', '')}, {m.get('cores', '')} cores, "
        f"Python {m.get('python', '')}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
