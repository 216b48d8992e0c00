"""Unit tests for services.common.config: sources, precedence, rejection of unknowns, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.config import (
    ConfigError,
    Secret,
    Settings,
    field_names,
    load_secret,
    load_settings,
    parse_symbols,
)


def test_defaults_load_without_any_source() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.symbol_list() == [("linear", "BTCUSDT"), ("linear", "ETHUSDT"), ("spot", "BTCUSDT")]


def test_environment_overrides_file(tmp_path: Path) -> None:
    cfg = tmp_path / "tickwire.toml"
    cfg.write_text('orderbook_depth = 200\nsymbols = "spot:ETHUSDT"\nfeed_ping_interval = 5.5\n')
    settings = load_settings({"TICKWIRE_CONFIG": str(cfg), "TICKWIRE_ORDERBOOK_DEPTH": "1000"})
    assert settings.orderbook_depth == 1000
    assert settings.symbols == "spot:ETHUSDT"
    assert settings.feed_ping_interval == 5.5


def test_unknown_file_key_is_rejected(tmp_path: Path) -> None:
    cfg = tmp_path / "tickwire.toml"
    cfg.write_text("orderbok_depth = 50\n")
    with pytest.raises(ConfigError, match="orderbok_depth"):
        load_settings({}, toml_path=cfg)


def test_unknown_environment_variable_is_rejected() -> None:
    with pytest.raises(ConfigError, match="TICKWIRE_SYMBOSL"):
        load_settings({"TICKWIRE_SYMBOSL": "linear:BTCUSDT"})


def test_unsupported_depth_is_refused_with_the_offered_depths() -> None:
    with pytest.raises(ConfigError, match=r"1, 50, 200, 1000"):
        load_settings({"TICKWIRE_ORDERBOOK_DEPTH": "30"})


def test_wrong_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="orderbook_depth"):
        load_settings({"TICKWIRE_ORDERBOOK_DEPTH": "fifty"})


@pytest.mark.parametrize(
    "bad", ["BTCUSDT", "futures:BTCUSDT", "linear:", "linear:btcusdt", "linear:BTC-USDT"]
)
def test_bad_symbols_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_symbols(bad)


def test_symbols_are_deduplicated_and_trimmed() -> None:
    assert parse_symbols(" linear:BTCUSDT, linear:BTCUSDT ,spot:ETHUSDT,") == [
        ("linear", "BTCUSDT"),
        ("spot", "ETHUSDT"),
    ]


def test_secret_never_shows_its_value() -> None:
    secret = Secret("hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret} {secret!r}"
    assert secret.reveal() == "hunter2"


def test_secret_from_env_or_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("from-file\n")
    assert load_secret("BYBIT_API_SECRET", {"BYBIT_API_SECRET": "direct"}).reveal() == "direct"
    assert load_secret("BYBIT_API_SECRET", {"BYBIT_API_SECRET_FILE": str(path)}).reveal() == "from-file"
    assert not load_secret("BYBIT_API_SECRET", {})
    with pytest.raises(ConfigError, match="not both"):
        load_secret("BYBIT_API_SECRET", {"BYBIT_API_SECRET": "a", "BYBIT_API_SECRET_FILE": str(path)})


def test_every_setting_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "configuration.md").read_text()
    missing = [name for name in field_names() if f"TICKWIRE_{name.upper()}" not in doc]
    assert missing == []


def test_test_suite_variables_are_not_settings() -> None:
    assert load_settings({"TICKWIRE_TEST_TIMEOUT_FACTOR": "3"}) == Settings()
