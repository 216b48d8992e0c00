"""Typed configuration for every service, from a TOML file and ``TICKWIRE_*`` variables.

One flat :class:`Settings` struct describes the whole deployment; each service reads the
fields it needs. Sources, lowest precedence first:

1. the defaults below,
2. the TOML file named by ``TICKWIRE_CONFIG`` (top-level keys are field names),
3. environment variables ``TICKWIRE_<FIELD NAME IN UPPER CASE>``.

Unknown keys in the file and unknown ``TICKWIRE_*`` variables (except the test suite's own
``TICKWIRE_TEST_*``) are rejected with a
:class:`ConfigError` naming them, so a typo never silently falls back to a default.
Secrets (API keys) are not settings: they are read by :func:`load_secret` from the
environment or from a file, and wrapped in :class:`Secret`, whose ``repr`` is masked.
"""

from __future__ import annotations

import hmac
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from services.common.errors import ConfigError

ENV_PREFIX = "TICKWIRE_"
#: Variables reserved for the test suite (e.g. TICKWIRE_TEST_TIMEOUT_FACTOR); never settings.
TEST_PREFIX = "TICKWIRE_TEST_"
CATEGORIES = ("spot", "linear", "inverse")
#: Order-book depths Bybit v5 serves on spot, linear and inverse streams.
ORDERBOOK_DEPTHS = (1, 50, 200, 1000)
#: Depths Bybit served before (linear/inverse 500 until 2025-09-11); its historical data files use them.
LEGACY_ORDERBOOK_DEPTHS = (500,)
EXECUTOR_MODES = ("live", "testnet", "demo", "sim", "paper")
#: WebSocket client libraries the feed can use (``feed_ws_client``).
FEED_WS_CLIENTS = ("picows", "websockets")
#: WebSocket client libraries the executor's private stream can use (``executor_ws_client``).
EXECUTOR_WS_CLIENTS = ("picows", "websockets")


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Every setting of every service. Field ``x`` is variable ``TICKWIRE_X``."""

    # --- shared ---------------------------------------------------------------------------
    log_level: str = "info"
    #: "auto" (JSON unless stderr is a TTY), "json" or "console".
    log_format: str = "auto"
    #: Comma-separated ``category:SYMBOL`` pairs, e.g. ``linear:BTCUSDT,spot:BTCUSDT``.
    symbols: str = "linear:BTCUSDT,linear:ETHUSDT,spot:BTCUSDT"
    orderbook_depth: int = 50
    #: Also accept depths Bybit no longer serves (500), to replay historical files through bybit_sim.
    allow_legacy_depths: bool = False
    #: Address metrics HTTP servers bind to.
    metrics_host: str = "127.0.0.1"
    #: Seconds a service waits for its tasks after SIGTERM before it exits anyway.
    shutdown_grace: float = 5.0

    # --- endpoints on the bus -------------------------------------------------------------
    feed_pub: str = "tcp://127.0.0.1:5556"
    feed_ctl: str = "tcp://127.0.0.1:5557"
    book_rep: str = "tcp://127.0.0.1:5555"
    book_pub: str = "tcp://127.0.0.1:5560"
    executor_pull: str = "tcp://127.0.0.1:5558"
    executor_pub: str = "tcp://127.0.0.1:5559"

    # --- venue ----------------------------------------------------------------------------
    bybit_public_ws_url: str = "wss://stream.bybit.com/v5/public/{category}"
    bybit_private_ws_url: str = "wss://stream.bybit.com/v5/private"
    bybit_rest_url: str = "https://api.bybit.com"

    # --- feed -----------------------------------------------------------------------------
    feed_metrics_port: int = 9101
    #: Comma-separated stream kinds: ``book``, ``trade``, ``ticker``.
    feed_channels: str = "book,trade,ticker"
    feed_ping_interval: float = 20.0
    feed_pong_timeout: float = 10.0
    feed_backoff_initial: float = 0.5
    feed_backoff_max: float = 30.0
    #: Exchange topics per WebSocket connection before another connection is opened.
    feed_topics_per_connection: int = 60
    feed_heartbeat_interval: float = 1.0
    #: Directory for raw recordings (gzip, one frame a line); empty disables recording.
    feed_record_dir: str = ""
    #: ZMQ send high-water mark of the PUB socket (messages per subscriber).
    feed_pub_hwm: int = 100_000
    #: Largest WebSocket frame accepted from the exchange, in bytes.
    feed_max_frame_bytes: int = 8 * 1024 * 1024
    #: WebSocket client library of the feed: "picows" (fast, callback-based; no
    #: permessage-deflate) or "websockets" (the fallback). See docs/feed.md.
    feed_ws_client: str = "picows"

    # --- book -----------------------------------------------------------------------------
    book_metrics_port: int = 9102
    #: Seconds without any update after which a book is reported stale.
    book_stale_after: float = 10.0
    #: Seconds a book may stay syncing/resyncing before its snapshot is asked for again.
    book_resync_timeout: float = 5.0
    #: Largest request accepted on the query socket, in bytes.
    book_max_request_bytes: int = 65536

    # --- executor -------------------------------------------------------------------------
    executor_metrics_port: int = 9103
    executor_mode: str = "sim"
    #: Must be true for ``executor_mode = "live"`` (mainnet, real money).
    executor_live_confirm: bool = False
    executor_journal: str = "var/executor.sqlite3"
    executor_recv_window: int = 5000
    executor_http_timeout: float = 5.0
    executor_instruments_refresh: float = 300.0
    executor_max_order_notional: str = "100000"
    executor_max_position: str = "10"
    executor_max_open_orders: int = 200
    executor_max_orders_per_second: float = 50.0
    #: Largest allowed distance of a limit price from the book's mid, in percent; 0 disables.
    executor_price_band_pct: str = "5"
    executor_kill_switch: bool = False
    executor_max_intent_bytes: int = 65536
    #: SQLite ``synchronous`` of the journal: "normal" (survives process crashes) or "full"
    #: (also survives OS crashes/power loss; fsync per commit). See docs/orders.md.
    executor_journal_sync: str = "normal"
    #: Sender threads, each with its own HTTP connection: up to this many REST calls in flight at
    #: once (0: one call at a time, on the executor's own thread). See docs/orders.md.
    executor_http_workers: int = 4
    #: The order path's own kept-alive connections (docs/orders.md "The wire transport"): first
    #: attempts of order calls are written from the executor's loop; 0 sends everything through
    #: the sender threads. Unused with a proxy or a client certificate (``requests`` then).
    executor_wire_connections: int = 4
    #: WebSocket client library of the private stream: "picows" (fast, callback-based; no
    #: permessage-deflate) or "websockets" (the fallback). See docs/orders.md.
    executor_ws_client: str = "picows"

    # --- monitor --------------------------------------------------------------------------
    monitor_port: int = 9100
    #: Seconds between the monitor's status/symbols probes of the book service.
    monitor_probe_interval: float = 2.0
    #: Seconds without a heartbeat after which the monitor reports a service down.
    monitor_heartbeat_timeout: float = 5.0

    # --- bybit_sim ------------------------------------------------------------------------
    sim_host: str = "127.0.0.1"
    sim_ws_port: int = 8765
    sim_http_port: int = 8766
    sim_metrics_port: int = 9104
    sim_seed: int = 7
    #: Comma-separated ``category:SYMBOL`` pairs the simulator lists; empty = its defaults.
    sim_symbols: str = ""
    #: Path of a Bybit historical order-book file (one message a line) to replay; empty = generate.
    sim_replay: str = ""
    #: Replay speed factor; 0 = as fast as possible.
    sim_replay_speed: float = 1.0
    #: Category whose public socket serves the replayed topics (bybit_sim).
    sim_replay_category: str = "linear"
    #: Market generator speed factor: 2 = twice Bybit's push cadence (20 ms ticks become 10 ms).
    sim_speed: float = 1.0
    #: Seconds without any client frame (ping) after which a public socket is cut (Bybit ~60 s).
    sim_idle_timeout: float = 60.0
    #: Faults armed at start: JSON list of {"name": ..., ...params} or comma-separated names.
    sim_faults: str = ""
    #: Accept permessage-deflate when the client offers it (Bybit does).
    sim_ws_compression: bool = True
    # bybit_sim trading side (services/bybit_sim/trading/):
    #: API keys the simulator accepts: comma-separated ``key:secret`` (each its own account) or
    #: ``key:secret:uid`` (several keys on one account). Test credentials, never real ones.
    sim_api_keys: str = "sim-key:sim-secret,sim-key-2:sim-secret-2"
    #: Starting wallet of every simulated account, ``COIN:amount`` comma-separated.
    sim_wallet: str = "USDT:100000,USDC:100000,BTC:2,ETH:20"
    #: Factor on Bybit's per-UID order limits (and the ``X-Bapi-Limit*`` headers) the simulator
    #: enforces: 1 = Bybit's real limits; 100 lets benchmarks send 1,000 orders/s. Must be > 0.
    sim_rate_limit_scale: float = 1.0

    # --- security -------------------------------------------------------------------------
    #: CURVE secret key file of the book query / executor order / feed control servers (``tickwire
    #: keys generate``; see docs/security.md); empty = no CURVE, and only loopback binds are allowed.
    curve_server_secret_file: str = ""
    #: Directory of client public certificates (``*.key``) allowed to connect to servers.
    curve_authorized_dir: str = ""
    #: This process's CURVE secret certificate when it connects to a protected endpoint.
    curve_client_secret_file: str = ""
    #: Public certificate of the server a client connects to (pins the server's identity).
    curve_server_key_file: str = ""
    #: Let a command/query endpoint bind beyond loopback WITHOUT CURVE (logs a loud warning).
    allow_insecure_remote: bool = False

    def symbol_list(self) -> list[tuple[str, str]]:
        """Return the configured ``(category, symbol)`` pairs, validated."""
        return parse_symbols(self.symbols)


def parse_symbols(text: str) -> list[tuple[str, str]]:
    """Parse ``"linear:BTCUSDT,spot:ETHUSDT"`` into pairs; raise ConfigError on bad items."""
    pairs: list[tuple[str, str]] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        category, sep, symbol = item.partition(":")
        if not sep or category not in CATEGORIES or not symbol or not symbol.isalnum():
            raise ConfigError(
                f"bad symbol {item!r}: expected category:SYMBOL with category in {', '.join(CATEGORIES)}"
            )
        if symbol != symbol.upper():
            raise ConfigError(f"bad symbol {item!r}: Bybit symbols are upper case")
        if (category, symbol) not in pairs:
            pairs.append((category, symbol))
    return pairs


def _validate(settings: Settings) -> None:
    legacy = LEGACY_ORDERBOOK_DEPTHS if settings.allow_legacy_depths else ()
    if settings.orderbook_depth not in ORDERBOOK_DEPTHS + legacy:
        raise ConfigError(
            f"TICKWIRE_ORDERBOOK_DEPTH={settings.orderbook_depth} is not offered by Bybit v5 "
            f"(choose one of {', '.join(map(str, ORDERBOOK_DEPTHS))})"
        )
    if settings.executor_mode not in EXECUTOR_MODES:
        raise ConfigError(
            f"TICKWIRE_EXECUTOR_MODE={settings.executor_mode!r}: choose one of {', '.join(EXECUTOR_MODES)}"
        )
    if settings.feed_ws_client not in FEED_WS_CLIENTS:
        raise ConfigError(
            f"TICKWIRE_FEED_WS_CLIENT={settings.feed_ws_client!r}: choose one of {', '.join(FEED_WS_CLIENTS)}"
        )
    if settings.executor_ws_client not in EXECUTOR_WS_CLIENTS:
        raise ConfigError(
            f"TICKWIRE_EXECUTOR_WS_CLIENT={settings.executor_ws_client!r}: "
            f"choose one of {', '.join(EXECUTOR_WS_CLIENTS)}"
        )
    if settings.log_format not in ("auto", "json", "console"):
        raise ConfigError("TICKWIRE_LOG_FORMAT must be auto, json or console")
    settings.symbol_list()


def field_names() -> tuple[str, ...]:
    """Names of all settings, in declaration order."""
    return Settings.__struct_fields__


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    toml_path: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build :class:`Settings` from defaults, TOML file, environment and explicit overrides.

    Raises:
        ConfigError: unknown key or variable, a value of the wrong type, or an invalid value.
    """
    env = os.environ if env is None else env
    known = set(field_names())
    merged: dict[str, Any] = {}
    path = toml_path if toml_path is not None else env.get("TICKWIRE_CONFIG") or None
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown keys in {path}: {', '.join(unknown)}")
        merged.update(data)
    unknown_env = []
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == "TICKWIRE_CONFIG" or name.startswith(TEST_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        if key not in known:
            unknown_env.append(name)
            continue
        merged[key] = value
    if unknown_env:
        raise ConfigError(f"unknown environment variables: {', '.join(sorted(unknown_env))}")
    merged.update(overrides)
    try:
        settings = msgspec.convert(merged, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
    _validate(settings)
    return settings


class Secret:
    """A secret string whose ``repr``/``str``/``format`` never show the value. Use :meth:`reveal`.

    Deliberately not a dataclass nor a msgspec Struct: serializers (msgspec, ``dataclasses.asdict``)
    refuse it or see nothing, instead of writing the value out. Immutable; compares in constant time.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(repr(self), spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        return (Secret, (self._value,))


def load_secret(name: str, env: Mapping[str, str] | None = None) -> Secret:
    """Read secret ``name`` from ``$name`` or from the file named by ``$name_FILE``.

    Raises:
        ConfigError: both are set, or the file cannot be read.
    """
    env = os.environ if env is None else env
    direct = env.get(name, "")
    file_name = env.get(f"{name}_FILE", "")
    if direct and file_name:
        raise ConfigError(f"set {name} or {name}_FILE, not both")
    if file_name:
        try:
            return Secret(Path(file_name).read_text().strip())
        except OSError as exc:
            raise ConfigError(f"cannot read {name}_FILE: {exc.strerror}") from None
    return Secret(direct.strip())
