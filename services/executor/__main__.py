"""``python -m services.executor``: load settings and secrets, check the mode, run until SIGTERM."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import structlog

from services.common.config import Secret, Settings, load_secret
from services.common.errors import ConfigError
from services.common.log import get_logger
from services.common.runtime import boot, stop_event_on_signals
from services.executor.core.modes import Endpoints, resolve_endpoints

URL_FIELDS = ("bybit_rest_url", "bybit_private_ws_url")


def explicit_fields(env: dict[str, str] | os._Environ[str]) -> frozenset[str]:
    """URL settings given explicitly (environment or TOML file), which override the mode preset."""
    given = {f for f in URL_FIELDS if f"TICKWIRE_{f.upper()}" in env}
    path = env.get("TICKWIRE_CONFIG")
    if path:
        try:
            data = tomllib.loads(Path(path).read_text())
            given |= {f for f in URL_FIELDS if f in data}
        except (OSError, tomllib.TOMLDecodeError):
            pass  # load_settings reports it
    return frozenset(given)


def prepare(settings: Settings) -> tuple[Endpoints, Secret, Secret]:
    """Resolve endpoints and load keys; raise ConfigError on an unsafe or incomplete setup."""
    if settings.executor_journal_sync not in ("normal", "full"):
        raise ConfigError("TICKWIRE_EXECUTOR_JOURNAL_SYNC must be normal or full")
    endpoints = resolve_endpoints(settings, explicit_fields(os.environ))
    key, secret = Secret(""), Secret("")
    if endpoints.needs_keys:
        key, secret = load_secret("BYBIT_API_KEY"), load_secret("BYBIT_API_SECRET")
        if not key or not secret:
            raise ConfigError(
                f"executor_mode={endpoints.mode} needs BYBIT_API_KEY and BYBIT_API_SECRET "
                "(or BYBIT_API_KEY_FILE / BYBIT_API_SECRET_FILE)"
            )
    return endpoints, key, secret


def _scrub_value(value: Any, scrub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_value(v, scrub) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(v, scrub) for v in value]
    return value


def install_log_scrubber(scrub: Callable[[str], str]) -> None:
    """Add a last-but-one structlog processor that replaces the key and secret in every value."""

    def processor(_l: Any, _n: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event):
            event[key] = _scrub_value(event[key], scrub)
        return event

    procs = list(structlog.get_config()["processors"])
    procs.insert(len(procs) - 1, processor)
    structlog.configure(processors=procs)


def main() -> int:
    settings = boot("executor")
    if settings is None:
        return 2
    log = get_logger("executor")
    try:
        endpoints, key, secret = prepare(settings)
    except ConfigError as exc:
        log.error("refusing to start", reason=exc.message)
        return 2
    from services.executor.service import ExecutorService, make_scrubber

    install_log_scrubber(make_scrubber(key, secret))
    log = get_logger("executor")
    banner = (
        "LIVE TRADING ON BYBIT MAINNET (REAL MONEY)" if endpoints.mode == "live" else f"{endpoints.mode} mode"
    )
    log.warning(
        f"*** EXECUTOR MODE: {endpoints.mode.upper()} *** {banner}",
        mode=endpoints.mode,
        rest_url=endpoints.rest_url,
        private_ws_url=endpoints.private_ws_url or "-",
        kill_switch=settings.executor_kill_switch,
    )
    stop = stop_event_on_signals()
    try:
        service = ExecutorService(settings, endpoints, key, secret)
    except ConfigError as exc:
        log.error("refusing to start", reason=exc.message)
        return 2
    try:
        service.run(stop)
    except ConfigError as exc:  # e.g. an order endpoint beyond loopback without CURVE keys
        log.error("refusing to start", reason=exc.message)
        return 2
    finally:
        service.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
