"""Coverage-guided fuzz harnesses (atheris/libFuzzer) for the three pure input parsers.

    python -m tests.fuzz.atheris_targets feed|book|executor [-atheris_runs=N] [libFuzzer flags] [corpus dir]

Targets: ``feed`` (Session.on_frame), ``book`` (queries.handle), ``executor`` (decode_intent +
validation + risk). Each input goes through the invariant checks of :mod:`tests.fuzz.corpus`; a
violation raises, which atheris reports as a crash with the input saved. Without a corpus
directory the real samples / valid requests / valid intents are written to a temporary one as
seeds.

atheris is optional (not a project dependency). Without it the same targets run under a
built-in mutational loop (the mutators of :mod:`tests.fuzz.corpus`, no coverage feedback), with
the same ``-atheris_runs=N`` and an optional ``-seed=S``.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fuzz import corpus

Target = Callable[[bytes], Any]


def _feed() -> tuple[Target, list[bytes]]:
    session = corpus.feed_session()
    return (lambda data: corpus.check_feed_frame(session, data)), corpus.feed_seeds()


def _book() -> tuple[Target, list[bytes]]:
    registry = corpus.book_registry()
    return (lambda data: corpus.check_book_query(registry, data)), corpus.book_seeds()


def _executor() -> tuple[Target, list[bytes]]:
    return corpus.check_intent, corpus.intent_seeds()


TARGETS: dict[str, Callable[[], tuple[Target, list[bytes]]]] = {
    "feed": _feed,
    "book": _book,
    "executor": _executor,
}


def _flag(args: list[str], name: str, default: int) -> int:
    for arg in args:
        if arg.startswith(f"-{name}="):
            return int(arg.split("=", 1)[1])
    return default


def fallback(target: Target, seeds: list[bytes], runs: int, seed: int) -> Counter[str]:
    """Run ``runs`` mutated seeds through ``target``; return the outcome counts."""
    rnd = random.Random(seed)
    outcomes: Counter[str] = Counter()
    for data in seeds:
        outcomes[str(target(data))] += 1
    for _ in range(runs):
        outcomes[str(target(corpus.mutated(seeds, rnd)))] += 1
    return outcomes


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in TARGETS:
        print(f"usage: python -m tests.fuzz.atheris_targets {'|'.join(TARGETS)} [-atheris_runs=N]")
        return 2
    name, rest = argv[1], argv[2:]
    target, seeds = TARGETS[name]()
    try:
        import atheris
    except ImportError:
        runs, seed = _flag(rest, "atheris_runs", 10_000), _flag(rest, "seed", 0)
        t0 = time.perf_counter()
        outcomes = fallback(target, seeds, runs, seed)
        took = time.perf_counter() - t0
        print(f"atheris not installed: built-in mutational fuzzing of {name}, {runs} runs, seed {seed}")
        print(f"{sum(outcomes.values())} inputs in {took:.1f} s, no invariant violated: {dict(outcomes)}")
        return 0
    if not any(not a.startswith("-") for a in rest):
        seed_dir = Path(tempfile.mkdtemp(prefix=f"tickwire-fuzz-{name}-"))
        for i, data in enumerate(seeds):
            (seed_dir / f"seed-{i:04d}").write_bytes(data)
        rest.append(str(seed_dir))
    atheris.instrument_all()
    atheris.Setup([argv[0], *rest], target)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
