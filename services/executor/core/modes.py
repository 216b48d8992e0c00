"""Executor modes and their endpoints. Pure: the caller says which URL settings were given explicitly.

=========  =================================  ==========================================  =====
mode       REST                               private WebSocket                           keys
=========  =================================  ==========================================  =====
live       https://api.bybit.com              wss://stream.bybit.com/v5/private           yes
testnet    https://api-testnet.bybit.com      wss://stream-testnet.bybit.com/v5/private   yes
demo       https://api-demo.bybit.com         wss://stream-demo.bybit.com/v5/private      yes
sim        http://{sim_host}:{sim_http_port}  ws://{sim_host}:{sim_ws_port}/v5/private    yes
paper      https://api.bybit.com (public)     none                                        no
=========  =================================  ==========================================  =====

A URL setting given explicitly (``TICKWIRE_BYBIT_REST_URL`` / ``TICKWIRE_BYBIT_PRIVATE_WS_URL`` or
the TOML file) overrides the preset, except that only ``live`` may point at a Bybit mainnet host
(``paper`` may read mainnet public data). ``live`` needs ``executor_live_confirm = true``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from services.common.config import Settings
from services.common.errors import ConfigError

MAINNET_HOSTS = frozenset({"api.bybit.com", "api.bytick.com", "stream.bybit.com", "stream.bytick.com"})

_PRESETS = {
    "live": ("https://api.bybit.com", "wss://stream.bybit.com/v5/private"),
    "testnet": ("https://api-testnet.bybit.com", "wss://stream-testnet.bybit.com/v5/private"),
    "demo": ("https://api-demo.bybit.com", "wss://stream-demo.bybit.com/v5/private"),
    "paper": ("https://api.bybit.com", ""),
}


@dataclass(frozen=True, slots=True)
class Endpoints:
    mode: str
    rest_url: str
    private_ws_url: str
    needs_keys: bool


def resolve_endpoints(settings: Settings, explicit: frozenset[str]) -> Endpoints:
    """The URLs for ``settings.executor_mode``; raise ConfigError if the combination is unsafe."""
    mode = settings.executor_mode
    if mode == "live" and not settings.executor_live_confirm:
        raise ConfigError(
            "executor_mode=live trades real money on Bybit mainnet: set TICKWIRE_EXECUTOR_LIVE_CONFIRM=true"
        )
    if mode == "sim":
        host = settings.sim_host
        rest, ws = f"http://{host}:{settings.sim_http_port}", f"ws://{host}:{settings.sim_ws_port}/v5/private"
    else:
        rest, ws = _PRESETS[mode]
    if "bybit_rest_url" in explicit:
        rest = settings.bybit_rest_url
    if "bybit_private_ws_url" in explicit and mode != "paper":
        ws = settings.bybit_private_ws_url
    rest = rest.rstrip("/")
    if mode not in ("live", "paper"):
        for url in (rest, ws):
            if urlsplit(url).hostname in MAINNET_HOSTS:
                raise ConfigError(f"executor_mode={mode} must not use a Bybit mainnet URL ({url})")
    return Endpoints(mode, rest, ws, needs_keys=mode != "paper")
