"""Fixtures of the socket-level fuzz tests, reused from the integration suites."""

from __future__ import annotations

from tests.integration import conftest as integration
from tests.integration import executor_support, test_book_service, test_feed_local_ws

sim = integration.sim
sim_factory = integration.sim_factory
ws_client = integration.ws_client
exsim = executor_support.exsim
launcher = executor_support.launcher
stack = test_book_service.stack
fake = test_feed_local_ws.fake
start_feed = test_feed_local_ws.start_feed
