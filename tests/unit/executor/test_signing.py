"""Signing against the known vectors of PROTOCOL.md §7.1 (REST GET/POST) and §5.1 (WS auth)."""

from __future__ import annotations

from services.common.config import Secret
from services.executor.core.signing import Signer

TS = 1700000000000


def signer() -> Signer:
    return Signer(Secret("test_api_key"), Secret("test_secret"), 5000)


def test_get_vector() -> None:
    sig = signer().sign(TS, b"category=linear&symbol=BTCUSDT")
    assert sig == "fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7"


def test_post_vector_signs_exact_body_bytes() -> None:
    body = b'{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "test-order-1"}'
    assert signer().sign(TS, body) == "2df4a0603d69c08d5dea29ba85b46eb7db64ce9e9ebd34a7802a3d69700cb2a1"
    # one byte of whitespace less is a different signature: the exact bytes sent must be signed
    assert signer().sign(TS, body.replace(b", ", b",")) != signer().sign(TS, body)


def test_ws_auth_vector() -> None:
    s = signer()
    assert s.ws_signature(TS) == "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925"
    op = s.ws_auth(TS)
    assert op["op"] == "auth" and op["args"] == ["test_api_key", TS, s.ws_signature(TS)]


def test_headers() -> None:
    h = signer().headers(TS, b"category=linear&symbol=BTCUSDT")
    assert h == {
        "X-BAPI-API-KEY": "test_api_key",
        "X-BAPI-TIMESTAMP": str(TS),
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": "fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7",
    }


def test_signer_is_reusable_and_masked() -> None:
    s = signer()
    first = s.sign(TS, b"a=1")
    s.sign(TS, b"b=2")
    assert s.sign(TS, b"a=1") == first  # the keyed HMAC object is copied, never mutated
    assert "test_secret" not in repr(s) and "test_api_key" not in repr(s)
