"""Fixtures for the simulator core tests: a seeded market, a hub and a fake clock."""

from __future__ import annotations

import pytest

from services.bybit_sim.core.faults import Faults
from services.bybit_sim.core.hub import PublicHub
from services.bybit_sim.core.instruments import build_instruments
from services.bybit_sim.core.market import SimMarket


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def market() -> SimMarket:
    return SimMarket(build_instruments(), seed=7)


@pytest.fixture
def fclock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hub(market: SimMarket, fclock: FakeClock) -> PublicHub:
    return PublicHub(market, Faults(fclock), l1_repeat_ms=3000)
