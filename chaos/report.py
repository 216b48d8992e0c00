"""The result table printed at the end of a run (also pasted into docs/reliability.md)."""

from __future__ import annotations

from chaos.plan import KINDS
from chaos.runner import Result, kinds_summary
from chaos.truth import BLIND, EVICTED, MATCH, MISMATCH, STREAM_GAP, UNKNOWN_KEY


def table(res: Result) -> str:
    by = kinds_summary(res)
    lines = [
        f"tickwire chaos: seed {res.seed}, sim speed {res.speed:g}, {res.chaos_seconds:.0f} s of faults, "
        f"{len(res.recoveries)} actions, {res.total_seconds:.0f} s in all",
        "",
        f"{'fault':<20} {'injected':>8} {'outages':>8} {'recovered':>9} {'worst recovery':>15}",
    ]
    for kind in KINDS:
        recs = by.get(kind, [])
        done = [r.seconds for r in recs if r.seconds is not None]
        worst = f"{max(done):.2f} s" if done else "-"
        outages = sum(r.outage for r in recs)
        lines.append(f"{kind:<20} {len(recs):>8} {outages:>8} {len(done):>9} {worst:>15}")
    v, a, o = res.verdicts, res.anchors, res.orders
    checked = v.get(MATCH, 0) + v.get(MISMATCH, 0) + v.get(STREAM_GAP, 0) + v.get(UNKNOWN_KEY, 0)
    unver = v.get(BLIND, 0) + v.get(EVICTED, 0) + v.get("late", 0)
    lines += [
        "",
        f"book queries answered:   {sum(res.replies.values())} "
        + " ".join(f"{k}={n}" for k, n in sorted(res.replies.items())),
        f"live replies checked:    {checked} (matched {v.get(MATCH, 0)}, unverifiable {unver})",
        f"sim anchors checked:     {a.get(MATCH, 0) + a.get(MISMATCH, 0)} "
        f"(unresolved {sum(a.values()) - a.get(MATCH, 0) - a.get(MISMATCH, 0)})",
        f"truth stream:            {res.truth.get('messages', 0)} book messages, "
        f"{res.truth.get('stream_gaps', 0)} u gaps, {res.truth.get('blind', 0)} own losses",
        f"order intents checked:   {o.intents} ({o.exchange_orders} exchange orders, {o.refusals} refusals, "
        f"{o.resent} re-sent) " + " ".join(f"{k}={n}" for k, n in sorted(res.order_kinds.items())),
        f"unexpected exits:        {len(res.exits)}",
        f"mismatches:              {res.mismatches} (book {v.get(MISMATCH, 0)}, live in a gap "
        f"{v.get(STREAM_GAP, 0)}, unknown u {v.get(UNKNOWN_KEY, 0)}, anchors {a.get(MISMATCH, 0)}, "
        f"orders {len(o.violations)})",
    ]
    if res.failures:
        lines += ["", "FAILURES:", *(f"  {f}" for f in res.failures[:30])]
    if res.workdir:
        lines.append(f"logs kept in {res.workdir}")
    lines.append("RESULT: " + ("PASS" if res.ok else "FAIL"))
    return "\n".join(lines)
