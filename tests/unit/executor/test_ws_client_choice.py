"""``executor_ws_client``: validated by load_settings; PrivateStream picks the library's session."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from services.common.config import Secret, load_settings
from services.common.errors import ConfigError
from services.executor.__main__ import prepare
from services.executor.adapters import private_ws
from services.executor.adapters.private_ws import PrivateStream
from services.executor.core.signing import Signer
from services.executor.service import ExecutorService


@pytest.fixture
def ctx() -> Iterator[zmq.Context[zmq.Socket[bytes]]]:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    yield context
    context.destroy(linger=0)


def stream(ctx: zmq.Context[zmq.Socket[bytes]], client: str) -> PrivateStream:
    return PrivateStream(
        "ws://127.0.0.1:1/v5/private",
        Signer(Secret("k"), Secret("s")),
        ctx,
        offset_ms=lambda: 0,
        client=client,
    )


def test_default_is_picows_and_websockets_is_the_fallback(ctx: zmq.Context[zmq.Socket[bytes]]) -> None:
    assert load_settings({}).executor_ws_client == "picows"
    assert load_settings({"TICKWIRE_EXECUTOR_WS_CLIENT": "websockets"}).executor_ws_client == "websockets"
    from services.executor.adapters import private_ws_picows

    assert stream(ctx, "picows")._session is private_ws_picows.session
    assert stream(ctx, "websockets")._session is private_ws._websockets_session
    assert PrivateStream.__init__.__kwdefaults__["client"] == "picows"


def test_an_unknown_client_is_a_configuration_error(ctx: zmq.Context[zmq.Socket[bytes]]) -> None:
    with pytest.raises(ConfigError, match="EXECUTOR_WS_CLIENT='aiohttp': choose one of picows, websockets"):
        load_settings({"TICKWIRE_EXECUTOR_WS_CLIENT": "aiohttp"})
    with pytest.raises(ConfigError, match="choose one of"):
        stream(ctx, "aiohttp")


def test_a_missing_library_is_a_configuration_error(
    ctx: zmq.Context[zmq.Socket[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "services.executor.adapters.private_ws_picows", None)
    with pytest.raises(ConfigError, match="set TICKWIRE_EXECUTOR_WS_CLIENT=websockets"):
        stream(ctx, "picows")


def test_the_service_refuses_a_missing_library_before_start_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Refused when the service is built (before it reaches the exchange), not once started."""
    monkeypatch.setitem(sys.modules, "services.executor.adapters.private_ws_picows", None)
    settings = load_settings(
        {
            "TICKWIRE_EXECUTOR_JOURNAL": str(tmp_path / "j.sqlite3"),
            "TICKWIRE_EXECUTOR_METRICS_PORT": "0",
        }
    )
    monkeypatch.setenv("BYBIT_API_KEY", "sim-key")
    monkeypatch.setenv("BYBIT_API_SECRET", "sim-secret")
    endpoints, key, secret = prepare(settings)
    with pytest.raises(ConfigError, match="needs the picows package"):
        ExecutorService(settings, endpoints, key, secret)
