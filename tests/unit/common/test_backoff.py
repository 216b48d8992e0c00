"""Unit tests for services.common.backoff: capped, jittered, resettable."""

from __future__ import annotations

import random

import pytest

from services.common.backoff import Backoff


def test_delays_grow_then_cap_with_jitter() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)


def test_reset_starts_over() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0, rng=random.Random(2))
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_nonsense_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(initial=0, maximum=1)
