"""``feed_ws_client``: validated by load_settings, mapped to a transport class by the feed."""

from __future__ import annotations

import pytest

from services.common.config import load_settings
from services.common.errors import ConfigError
from services.feed import service
from services.feed.adapters.ws import WebsocketsConnection
from services.feed.adapters.ws_picows import PicowsConnection


def test_default_is_picows_and_websockets_is_the_fallback() -> None:
    settings = load_settings({})
    assert settings.feed_ws_client == "picows"
    assert service.transport_class("picows") is PicowsConnection
    assert service.transport_class("websockets") is WebsocketsConnection
    feed = service.Feed(load_settings({"TICKWIRE_FEED_WS_CLIENT": "websockets"}))
    assert feed.connection_class is WebsocketsConnection


def test_an_unknown_client_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="WS_CLIENT='aiohttp': choose one of picows, websockets"):
        load_settings({"TICKWIRE_FEED_WS_CLIENT": "aiohttp"})
    with pytest.raises(ConfigError, match="choose one of"):
        service.transport_class("aiohttp")


def test_a_missing_library_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(service.TRANSPORTS, "picows", ("services.feed.adapters.no_such_module", "X"))
    with pytest.raises(ConfigError, match="set TICKWIRE_FEED_WS_CLIENT=websockets"):
        service.transport_class("picows")
