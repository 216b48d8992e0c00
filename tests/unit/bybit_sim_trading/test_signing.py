"""Unit tests of request authentication (core/signing.py) against PROTOCOL.md §5.1/§7.1 vectors.

Integration counterpart: tests/integration/test_sim_trading.py (auth over real HTTP/WS).
"""

from __future__ import annotations

import pytest

from services.bybit_sim.trading.core.errors import ApiError
from services.bybit_sim.trading.core.signing import (
    ApiKey,
    WsAuthError,
    authenticate_rest,
    authenticate_ws,
    parse_api_keys,
    sign_rest,
    sign_ws_auth,
)

KEYS = {"test_api_key": ApiKey("test_api_key", "test_secret", 7)}
TS = 1700000000000
GET_QS = "category=linear&symbol=BTCUSDT"
POST_BODY = '{"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "test-order-1"}'


def headers(
    payload: str, ts: int = TS, recv: str | None = "5000", key: str = "test_api_key"
) -> dict[str, str]:
    h = {
        "X-BAPI-API-KEY": key,
        "X-BAPI-TIMESTAMP": str(ts),
        "X-BAPI-SIGN": sign_rest("test_secret", str(ts), key, recv or "5000", payload),
    }
    if recv is not None:
        h["X-BAPI-RECV-WINDOW"] = recv
    return h


def test_known_vectors() -> None:
    """The signatures match the vectors in PROTOCOL.md (GET, POST, WS auth)."""
    assert sign_rest("test_secret", str(TS), "test_api_key", "5000", GET_QS) == (
        "fd4f31228a46109dc6673062328693696df9a96c7ff04e6491a45e7f63a0fdd7"
    )
    assert sign_rest("test_secret", str(TS), "test_api_key", "5000", POST_BODY) == (
        "2df4a0603d69c08d5dea29ba85b46eb7db64ce9e9ebd34a7802a3d69700cb2a1"
    )
    assert sign_ws_auth("test_secret", 1700000000000) == (
        "bacffe7500499eb829bb58c45d36d1b3e5ac67c14eaeba91df5e99ccee013925"
    )


def test_authenticate_get_and_post() -> None:
    """Valid GET and POST requests return the caller's key (header names are case-insensitive)."""
    lower = {k.lower(): v for k, v in headers(POST_BODY).items()}
    assert authenticate_rest(KEYS, headers(GET_QS), GET_QS, TS).uid == 7
    assert authenticate_rest(KEYS, lower, POST_BODY, TS).uid == 7


def test_signature_covers_exact_payload() -> None:
    """Reordered query or re-serialised body fails with 10004 and the server's pre-image."""
    with pytest.raises(ApiError) as exc:
        authenticate_rest(KEYS, headers(GET_QS), "symbol=BTCUSDT&category=linear", TS)
    assert exc.value.ret_code == 10004
    assert (
        exc.value.ret_msg == f"error sign! origin_string[{TS}test_api_key5000symbol=BTCUSDT&category=linear]"
    )
    with pytest.raises(ApiError) as exc:
        authenticate_rest(KEYS, headers(POST_BODY), POST_BODY.replace(": ", ":"), TS)
    assert exc.value.ret_code == 10004


def test_unknown_or_missing_key() -> None:
    """An unknown or absent API key is 10003."""
    with pytest.raises(ApiError) as exc:
        authenticate_rest(KEYS, headers(GET_QS, key="other"), GET_QS, TS)
    assert exc.value.ret_code == 10003
    with pytest.raises(ApiError) as exc:
        authenticate_rest(KEYS, {}, GET_QS, TS)
    assert exc.value.ret_code == 10003


@pytest.mark.parametrize(
    ("client_ts", "recv", "ok"),
    [
        (TS - 5000, "5000", True),  # oldest accepted: server - recvWindow
        (TS - 5001, "5000", False),
        (TS + 999, "5000", True),  # newest accepted: server + 999
        (TS + 1000, "5000", False),
        (TS + 1006, "15000", False),  # ahead > 1 s fails whatever recvWindow (real 10002 sample)
        (TS - 14000, "15000", True),
        (TS - 5000, None, True),  # recvWindow defaults to 5000
        (TS - 5001, None, False),
    ],
)
def test_timestamp_window_edges(client_ts: int, recv: str | None, ok: bool) -> None:
    """server - recvWindow <= ts < server + 1000, else 10002 with Bybit's text."""
    h = headers(GET_QS, ts=client_ts, recv=recv)
    if ok:
        assert authenticate_rest(KEYS, h, GET_QS, TS).key == "test_api_key"
        return
    with pytest.raises(ApiError) as exc:
        authenticate_rest(KEYS, h, GET_QS, TS)
    assert exc.value.ret_code == 10002
    assert exc.value.ret_msg == (
        "invalid request, please check your server timestamp or recv_window param. "
        f"req_timestamp[{client_ts}],server_timestamp[{TS}],recv_window[{recv or 5000}]"
    )


def test_ws_auth() -> None:
    """WS auth accepts a future expiry with the right signature; int or string expires."""
    sig = sign_ws_auth("test_secret", TS + 1000)
    assert authenticate_ws(KEYS, ["test_api_key", TS + 1000, sig], TS).uid == 7
    assert authenticate_ws(KEYS, ["test_api_key", str(TS + 1000), sig], TS).uid == 7


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["test_api_key", TS, sign_ws_auth("test_secret", TS)], "Params Error"),  # expired (not future)
        (["test_api_key", TS + 1000, sign_ws_auth("wrong", TS + 1000)], "Signature verification failed"),
        (["nobody", TS + 1000, sign_ws_auth("test_secret", TS + 1000)], "Invalid apikey"),
        (["test_api_key", TS + 1000], "Params Error"),
        ("not-a-list", "Params Error"),
        (["test_api_key", "soon", "x"], "Params Error"),
    ],
)
def test_ws_auth_refused(args: object, msg: str) -> None:
    """Expired, badly signed, unknown-key and malformed auth requests are refused."""
    with pytest.raises(WsAuthError) as exc:
        authenticate_ws(KEYS, args, TS)
    assert exc.value.ret_msg == msg


def test_parse_api_keys_and_masked_repr() -> None:
    """Keys get their own UIDs unless one is given; the secret never shows in repr."""
    keys = parse_api_keys("a:s1, b:s2, c:s3:1001")
    assert [(k.key, k.uid) for k in keys.values()] == [("a", 1001), ("b", 1002), ("c", 1001)]
    assert "s1" not in repr(keys["a"])
    with pytest.raises(ValueError):
        parse_api_keys("a")
    with pytest.raises(ValueError):
        parse_api_keys("a:x,a:y")
