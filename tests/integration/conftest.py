"""Integration fixtures: the Bybit simulator as a real process (``sim``, ``sim_factory``), and the
feed's WebSocket client library (``ws_client``: every feed test using it runs on each)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.bybit_sim.control import SimControl
from tests.helpers import FACTOR, ServiceProcess, free_port


class PortTaken(Exception):
    """The simulator could not bind a port that was free a moment before."""


@dataclass
class SimHandle:
    """A running simulator: URLs, its control client and the process."""

    ws_url_template: str  # "ws://127.0.0.1:PORT/v5/public/{category}"
    ws_private_url: str
    http_url: str
    metrics_url: str
    control: SimControl
    proc: ServiceProcess
    settings: dict[str, Any] = field(repr=False)  # may hold test API secrets

    def ws_url(self, category: str) -> str:
        return self.ws_url_template.format(category=category)


#: Values of ``feed_ws_client`` the feed's socket tests run with (the default first).
WS_CLIENTS = ("picows", "websockets")


@pytest.fixture(params=WS_CLIENTS)
def ws_client(request: pytest.FixtureRequest) -> str:
    """The feed's WebSocket transport under test (``TICKWIRE_FEED_WS_CLIENT``)."""
    return str(request.param)


#: Defaults for tests: a faster generator so deltas come quickly.
SIM_TEST_DEFAULTS: dict[str, Any] = {"sim_speed": 2, "sim_seed": 7}


@pytest.fixture
def sim_factory(spawn: Callable[..., ServiceProcess]) -> Iterator[Callable[..., SimHandle]]:
    """``sim_factory(**settings)`` starts a simulator with TICKWIRE_* ``settings`` on free ports
    and waits for ``/sim/health``; every one started is stopped at teardown."""
    handles: list[SimHandle] = []

    def start(**settings: Any) -> SimHandle:
        # A port found free can be taken by another process before the sim binds it: try again
        # on fresh ports when that is what happened.
        for _ in range(3):
            try:
                return _start(**settings)
            except PortTaken:
                continue
        return _start(**settings)

    def _start(**settings: Any) -> SimHandle:
        ws_port, http_port, metrics_port = free_port(), free_port(), free_port()
        merged = {**SIM_TEST_DEFAULTS, **settings}
        proc = spawn(
            "services.bybit_sim",
            name="bybit_sim",
            sim_ws_port=ws_port,
            sim_http_port=http_port,
            sim_metrics_port=metrics_port,
            **merged,
        )
        http_url = f"http://127.0.0.1:{http_port}"
        control = SimControl(http_url)
        try:
            deadline = time.monotonic() + 20 * FACTOR
            while proc.alive:
                try:
                    control.wait_ready(timeout=0.5)
                    break
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise
            else:
                raise TimeoutError("simulator exited")
        except TimeoutError:
            if "address already in use" in proc.log_text().lower():
                proc.stop()
                control.close()
                raise PortTaken from None
            raise AssertionError(f"simulator did not start:\n{proc.log_text()[-3000:]}") from None
        handle = SimHandle(
            ws_url_template=f"ws://127.0.0.1:{ws_port}/v5/public/{{category}}",
            ws_private_url=f"ws://127.0.0.1:{ws_port}/v5/private",
            http_url=http_url,
            metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
            control=control,
            proc=proc,
            settings=merged,
        )
        handles.append(handle)
        return handle

    yield start
    for h in handles:
        h.control.close()


@pytest.fixture
def sim(sim_factory: Callable[..., SimHandle]) -> SimHandle:
    """A simulator with the test defaults (seed 7, speed 2)."""
    return sim_factory()
