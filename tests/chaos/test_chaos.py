"""The bounded chaos suite (CI form of ``python -m chaos --quick``).

One seeded run against real processes: every bybit_sim fault kind and a SIGKILL + restart of
feed, book, executor and monitor, while a strategy queries books and another sends orders.
Every live book reply is checked against the stream by ``(u, seq)``, every intent against the
exchange and the journal; see docs/reliability.md.
"""

from __future__ import annotations

import pytest

from chaos.plan import KILLS, KINDS
from chaos.report import table
from chaos.runner import Session
from chaos.truth import MISMATCH, STREAM_GAP

pytestmark = pytest.mark.chaos


@pytest.mark.timeout(900)
def test_chaos_quick(tmp_path):
    lines: list[str] = []
    res = Session(seed=7, duration=60.0, speed=1.0, log=lines.append, workdir=tmp_path / "run").run()
    report = table(res)
    print("\n".join(lines))
    print(report)
    injected = {r.kind for r in res.recoveries}
    assert injected == set(KINDS), f"kinds never injected: {set(KINDS) - injected}\n{report}"
    for kill in KILLS:
        assert any(r.kind == kill and r.seconds is not None for r in res.recoveries), report
    assert res.mismatches == 0, report
    assert res.ok, report
    assert res.orders.intents >= 50, report
    assert res.orders.exchange_orders > 0 and res.orders.refusals > 0, report


@pytest.mark.timeout(600)
def test_chaos_catches_a_book_that_ignores_gaps(tmp_path):
    """Self-test: the same checks fail against a book that applies deltas across u gaps."""
    lines: list[str] = []
    res = Session(
        seed=11,
        duration=20.0,
        speed=1.0,
        log=lines.append,
        workdir=tmp_path / "mutant",
        kinds=("skip_delta", "skip_delta", "restart", "skip_delta"),
        modules={"book": "chaos.mutant_book"},
    ).run()
    report = table(res)
    print(report)
    caught = res.verdicts.get(STREAM_GAP, 0) + res.verdicts.get(MISMATCH, 0)
    assert caught > 0, f"the broken book was not caught\n{report}"
    assert not res.ok
