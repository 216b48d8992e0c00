"""Secret-leak detection for tests: a helper and a pytest plugin.

Helper: :func:`assert_no_secrets` fails if any text contains a secret, raw or in a cheap
encoding (hex, base64, URL-quoted; for Z85 CURVE keys also the raw key's hex/base64; for long
secrets any 16-character fragment). Failure messages name the text and the kind of match but
never print the secret.

Plugin (enable with ``pytest_plugins = ["tests.secret_scan"]`` in tests/conftest.py):

* fixture ``secret_canaries`` (session): ``{"BYBIT_API_KEY": ..., "BYBIT_API_SECRET": ...}``,
  random per session, to pass to spawned services (``spawn("services.executor", **secret_canaries)``);
* :func:`register_secret` adds any other value (e.g. a generated CURVE secret key) to the scan;
* every test report (captured stdout/stderr/log and failure text) is scanned as it is made;
* at session end every ``*.log`` file under the session's pytest temp directory (where
  ``ServiceProcess`` writes service logs) is scanned; any hit fails the session with exit code 1
  and a "secret leak" summary.
"""

from __future__ import annotations

import base64
import secrets as _random
import string
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from services.common.config import Secret

FRAGMENT = 16
_MAX_FILE_BYTES = 64 * 1024 * 1024
_ALNUM = string.ascii_letters + string.digits


def _as_bytes(secret: str | bytes | Secret) -> bytes:
    if isinstance(secret, Secret):
        return secret.reveal().encode()
    return secret.encode() if isinstance(secret, str) else bytes(secret)


def _z85_raw(value: bytes) -> bytes | None:
    if len(value) != 40:
        return None
    try:
        from zmq.utils import z85

        raw = z85.decode(value)
    except Exception:
        return None
    return raw if len(raw) == 32 else None


def secret_variants(secret: str | bytes | Secret, fragment: int = FRAGMENT) -> dict[bytes, str]:
    """Byte strings whose presence in a text means ``secret`` leaked, mapped to a label."""
    value = _as_bytes(secret).strip()
    if len(value) < 8:
        raise ValueError("refusing to scan for a secret shorter than 8 bytes (too many false hits)")
    out: dict[bytes, str] = {value: "raw"}

    def encodings(blob: bytes, prefix: str) -> None:
        out.setdefault(blob.hex().encode(), f"{prefix}hex")
        out.setdefault(blob.hex().upper().encode(), f"{prefix}HEX")
        out.setdefault(base64.b64encode(blob).rstrip(b"="), f"{prefix}base64")
        out.setdefault(base64.urlsafe_b64encode(blob).rstrip(b"="), f"{prefix}base64url")

    encodings(value, "")
    out.setdefault(urllib.parse.quote(value, safe="").encode(), "url-quoted")
    raw = _z85_raw(value)
    if raw is not None:
        encodings(raw, "raw-key-")
        out.setdefault(repr(raw)[2:-1].encode(), "raw-key-repr")
    if len(value) > fragment + 4:
        for i in range(len(value) - fragment + 1):
            out.setdefault(value[i : i + fragment], f"fragment@{i}")
    return out


def find_secrets(text: str | bytes, secrets: Iterable[str | bytes | Secret]) -> list[str]:
    """Labels ``"secret #i: kind"`` of every secret found in ``text`` (empty list = clean)."""
    data = text.encode(errors="replace") if isinstance(text, str) else text
    hits: list[str] = []
    for index, secret in enumerate(secrets):
        for needle, label in secret_variants(secret).items():
            if needle in data:
                hits.append(f"secret #{index}: {label}")
                break
    return hits


def assert_no_secrets(
    texts: Iterable[str | bytes] | Mapping[str, str | bytes], secrets: Iterable[str | bytes | Secret]
) -> None:
    """Fail if any text contains any secret (see :func:`secret_variants`); never print them."""
    secret_list = list(secrets)
    named = texts.items() if isinstance(texts, Mapping) else ((f"text #{i}", t) for i, t in enumerate(texts))
    problems = [f"{name}: {hit}" for name, text in named for hit in find_secrets(text, secret_list)]
    assert not problems, "secret leaked: " + "; ".join(problems)


# --- plugin ------------------------------------------------------------------------------------


def _canary(prefix: str, length: int) -> str:
    return prefix + "".join(_random.choice(_ALNUM) for _ in range(length - len(prefix)))


#: Random per test session; Bybit keys are 18 characters, secrets 36.
_CANARIES = {
    "BYBIT_API_KEY": _canary("TWK", 18),
    "BYBIT_API_SECRET": _canary("TWS", 36),
}
_registered: dict[bytes, str] = {}  # secret -> label
_findings: list[str] = []
_basetemp: list[Path] = []


def register_secret(value: str | bytes | Secret, label: str = "registered") -> None:
    """Add ``value`` to the secrets this session's logs and reports are scanned for."""
    data = _as_bytes(value).strip()
    if len(data) >= 8:
        _registered.setdefault(data, label)


def canary_env() -> dict[str, str]:
    """The session's canary credentials as environment variables (already registered)."""
    return dict(_CANARIES)


for _name, _value in _CANARIES.items():
    register_secret(_value, _name)


_needle_cache: dict[int, list[tuple[bytes, str]]] = {}


def _needles() -> list[tuple[bytes, str]]:
    """Every variant of every registered secret (rebuilt only when a secret is registered)."""
    cached = _needle_cache.get(len(_registered))
    if cached is None:
        cached = [
            (needle, f"{name} ({kind})")
            for secret, name in list(_registered.items())
            for needle, kind in secret_variants(secret).items()
        ]
        _needle_cache.clear()
        _needle_cache[len(_registered)] = cached
    return cached


def _scan(where: str, data: bytes) -> None:
    for needle, label in _needles():
        if needle in data:
            _findings.append(f"{where}: {label}")
            return


@pytest.fixture(scope="session")
def secret_canaries() -> dict[str, str]:
    """Canary credentials to hand to services; finding one in any log fails the session."""
    return canary_env()


@pytest.fixture(scope="session", autouse=True)
def _secret_scan_basetemp(tmp_path_factory: pytest.TempPathFactory) -> None:
    _basetemp.append(tmp_path_factory.getbasetemp())


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # a report carries the output of the earlier phases too: scan each phase's own sections once
    parts = [content for title, content in report.sections if title.endswith(f" {report.when}")]
    if report.failed:
        parts.append(report.longreprtext)
    if parts:
        _scan(f"{report.nodeid} [{report.when}] output", "\n".join(parts).encode(errors="replace"))


def _log_files(root: Path) -> Iterator[Path]:
    try:
        yield from (p for p in root.rglob("*.log") if p.is_file() and not p.is_symlink())
    except OSError:
        return


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for root in dict.fromkeys(_basetemp):
        for path in _log_files(root):
            try:
                with path.open("rb") as f:
                    data = f.read(_MAX_FILE_BYTES)
            except OSError:
                continue
            _scan(str(path), data)
    if _findings and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _findings:
        terminalreporter.section("secret leak", red=True, bold=True)
        for line in _findings:
            terminalreporter.write_line(f"SECRET LEAKED in {line}", red=True)
