"""Mode presets, explicit URL overrides, and the live opt-in."""

from __future__ import annotations

import pytest

from services.common.config import load_settings
from services.common.errors import ConfigError
from services.executor.core.modes import resolve_endpoints


def settings(**kw: object):  # type: ignore[no-untyped-def]
    return load_settings({}, **kw)


def test_presets() -> None:
    ep = resolve_endpoints(settings(executor_mode="testnet"), frozenset())
    assert ep.rest_url == "https://api-testnet.bybit.com"
    assert ep.private_ws_url == "wss://stream-testnet.bybit.com/v5/private"
    demo = resolve_endpoints(settings(executor_mode="demo"), frozenset())
    assert demo.rest_url == "https://api-demo.bybit.com" and demo.needs_keys
    sim = resolve_endpoints(settings(executor_mode="sim", sim_http_port=1, sim_ws_port=2), frozenset())
    assert (sim.rest_url, sim.private_ws_url) == ("http://127.0.0.1:1", "ws://127.0.0.1:2/v5/private")
    paper = resolve_endpoints(settings(executor_mode="paper"), frozenset())
    assert not paper.needs_keys and paper.private_ws_url == ""


def test_explicit_urls_override() -> None:
    s = settings(executor_mode="sim", bybit_rest_url="http://127.0.0.1:9/", bybit_private_ws_url="ws://x/p")
    ep = resolve_endpoints(s, frozenset({"bybit_rest_url", "bybit_private_ws_url"}))
    assert (ep.rest_url, ep.private_ws_url) == ("http://127.0.0.1:9", "ws://x/p")
    # not explicit: the shared default (mainnet) is NOT used by a non-live mode
    assert resolve_endpoints(s, frozenset()).rest_url.startswith("http://127.0.0.1:")


def test_live_needs_confirmation() -> None:
    with pytest.raises(ConfigError, match="LIVE_CONFIRM"):
        resolve_endpoints(settings(executor_mode="live"), frozenset())
    ep = resolve_endpoints(settings(executor_mode="live", executor_live_confirm=True), frozenset())
    assert ep.rest_url == "https://api.bybit.com"


def test_non_live_refuses_mainnet_url() -> None:
    s = settings(executor_mode="testnet", bybit_rest_url="https://api.bybit.com")
    with pytest.raises(ConfigError, match="mainnet"):
        resolve_endpoints(s, frozenset({"bybit_rest_url"}))
