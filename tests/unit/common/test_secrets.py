"""Secret hygiene: Secret never reveals itself, secrets load from env or *_FILE, logs mask
secret-looking keys, and the tests.secret_scan helper and plugin catch leaks."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest
import structlog
import zmq
from zmq.utils import z85

from services.common.config import Secret, load_secret
from services.common.errors import ConfigError
from services.common.log import is_secret_key, mask_secrets
from services.common.security import generate_keypair, load_keypair
from tests.helpers import ROOT
from tests.secret_scan import assert_no_secrets, find_secrets, secret_variants

VALUE = "Xq9-very-secret-value-7Kp2zL0"


def test_secret_never_shows_its_value() -> None:
    secret = Secret(VALUE)
    texts = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>40}",
        "%s %r" % (secret, secret),  # noqa: UP031
        repr([secret]),
        repr({"k": secret}),
        str(ValueError(secret)),
        json.dumps({"k": secret}, default=str),
    ]
    assert_no_secrets(texts, [VALUE])
    assert secret.reveal() == VALUE
    assert bool(secret) and not Secret("")
    assert repr(Secret("")) == "Secret('')"


def test_secret_is_refused_by_serializers_and_immutable() -> None:
    secret = Secret(VALUE)
    with pytest.raises(TypeError):
        msgspec.json.encode({"k": secret})
    with pytest.raises(TypeError):
        json.dumps({"k": secret})
    with pytest.raises(TypeError):
        dataclasses.asdict(secret)  # type: ignore[call-overload]
    with pytest.raises(AttributeError):
        secret._value = "other"  # type: ignore[misc]
    assert not hasattr(secret, "__dict__")
    assert secret == Secret(VALUE) and secret != Secret("other") and len({secret, Secret(VALUE)}) == 1


def test_load_secret_from_env_and_file(tmp_path: Path) -> None:
    assert load_secret("BYBIT_API_SECRET", {"BYBIT_API_SECRET": f" {VALUE}\n"}).reveal() == VALUE
    path = tmp_path / "secret"
    path.write_text(VALUE + "\n")
    assert load_secret("BYBIT_API_SECRET", {"BYBIT_API_SECRET_FILE": str(path)}).reveal() == VALUE
    assert load_secret("BYBIT_API_SECRET", {}).reveal() == ""
    with pytest.raises(ConfigError, match="not both"):
        load_secret("BYBIT_API_SECRET", {"BYBIT_API_SECRET": VALUE, "BYBIT_API_SECRET_FILE": str(path)})
    with pytest.raises(ConfigError) as info:
        load_secret("BYBIT_API_SECRET", {"BYBIT_API_SECRET_FILE": str(tmp_path / "missing")})
    assert_no_secrets([str(info.value), repr(info.value)], [VALUE])


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("api_secret", True),
        ("bybit_api_key", True),
        ("apiKey", True),
        ("X-BAPI-API-KEY", True),
        ("X-BAPI-SIGN", True),
        ("signature", True),
        ("password", True),
        ("token", True),
        ("auth_token", True),
        ("Authorization", True),
        ("curve_secretkey", True),
        ("private_key", True),
        ("signal", False),
        ("symbol", False),
        ("key", False),
        ("server_key", False),
        ("client_key", False),
        ("tokens", False),
        ("design", False),
    ],
)
def test_is_secret_key(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_mask_secrets_processor_masks_top_level_and_nested_keys() -> None:
    event = {
        "event": "request",
        "api_key": "k-123",
        "signal": "SIGTERM",
        "headers": {"X-BAPI-API-KEY": "k-123", "X-BAPI-SIGN": "abc", "X-BAPI-TIMESTAMP": "1"},
        "empty_secret": "",
    }
    out = mask_secrets(None, "info", event)
    assert out["api_key"] == "***" and out["signal"] == "SIGTERM"
    assert out["headers"] == {"X-BAPI-API-KEY": "***", "X-BAPI-SIGN": "***", "X-BAPI-TIMESTAMP": "1"}
    assert out["empty_secret"] == ""


def test_json_log_lines_from_the_real_pipeline_never_carry_secrets() -> None:
    buffer = io.StringIO()
    processors = [structlog.processors.add_log_level, mask_secrets, structlog.processors.JSONRenderer()]
    log = structlog.wrap_logger(structlog.PrintLogger(buffer), processors=processors)
    log.info("creds", api_secret=VALUE, headers={"X-BAPI-SIGN": VALUE}, wrapped=Secret(VALUE))
    log.error("failed", error=str(ConfigError(f"bad credential {Secret(VALUE)}")))
    assert buffer.getvalue().count("\n") == 2
    assert_no_secrets([buffer.getvalue()], [VALUE])


def test_curve_secret_keys_are_not_logged(tmp_path: Path) -> None:
    """Everything the security module logs while loading keys carries public keys only."""
    _, secret_path = generate_keypair(tmp_path, "k")
    secret_path.chmod(0o644)  # provokes the world-readable warning
    with structlog.testing.capture_logs() as logs:
        pair = load_keypair(secret_path)
    assert logs
    assert_no_secrets([repr(logs), repr(pair)], [pair.secret])


# --- the scanning helper ---------------------------------------------------------------------


def test_assert_no_secrets_finds_raw_and_encoded_leaks() -> None:
    b64ish = "q+Z/9kLm+Rt2/Wx=="
    leaks = {
        "raw": (VALUE, f"x={VALUE}"),
        "hex": (VALUE, VALUE.encode().hex()),
        "HEX": (VALUE, VALUE.encode().hex().upper()),
        "base64": (VALUE, base64.b64encode(VALUE.encode()).decode()),
        "fragment": (VALUE, VALUE[5:22]),
        "url-quoted": (b64ish, "sig=" + b64ish.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")),
    }
    for name, (secret, text) in leaks.items():
        assert find_secrets(text, [secret]), name
        with pytest.raises(AssertionError) as info:
            assert_no_secrets({name: text}, [Secret(secret)])
        assert secret not in str(info.value)
    assert_no_secrets({"clean": "nothing to see", "bytes": b"\x00\x01"}, [VALUE, b64ish])


def test_z85_curve_secrets_are_also_found_in_raw_form() -> None:
    _, secret = zmq.curve_keypair()
    raw = z85.decode(secret)
    for text in (secret.decode(), raw.hex(), repr(raw), base64.b64encode(raw).decode()):
        assert find_secrets(text, [secret]), text


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="shorter than 8"):
        secret_variants("abc")


# --- the session plugin, run in a child pytest -----------------------------------------------

_LEAKY = """
import base64
from tests.secret_scan import canary_env, register_secret

def test_log_file(tmp_path):
    (tmp_path / "executor.log").write_text("signing with " + canary_env()["BYBIT_API_SECRET"])

def test_stdout():
    print("key", canary_env()["BYBIT_API_KEY"])

def test_registered(tmp_path, secret_canaries):
    register_secret("curve-secret-under-test-0123456789")
    (tmp_path / "book.log").write_text(base64.b64encode(b"curve-secret-under-test-0123456789").decode())
"""
_CLEAN = """
def test_clean(tmp_path, secret_canaries):
    (tmp_path / "feed.log").write_text("all good")
    (tmp_path / "secret.txt").write_text(secret_canaries["BYBIT_API_SECRET"])  # not a log: not scanned
"""


def _child_pytest(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_child.py").write_text(textwrap.dedent(source))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.secret_scan", "-p", "no:cacheprovider",
         "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path),
         "--basetemp", str(tmp_path / "basetemp"), str(tmp_path / "test_child.py")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_plugin_fails_the_session_on_leaks(tmp_path: Path) -> None:
    result = _child_pytest(tmp_path, _LEAKY)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    leaks = [line for line in result.stdout.splitlines() if line.startswith("SECRET LEAKED")]
    assert len(leaks) == 3, result.stdout
    assert any("executor.log: BYBIT_API_SECRET (raw)" in line for line in leaks)
    assert any("test_stdout [call] output: BYBIT_API_KEY (raw)" in line for line in leaks)
    assert any("book.log: registered (base64)" in line for line in leaks)


def test_plugin_passes_a_clean_session(tmp_path: Path) -> None:
    result = _child_pytest(tmp_path, _CLEAN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SECRET LEAKED" not in result.stdout
