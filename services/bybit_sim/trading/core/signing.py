"""Bybit v5 request authentication as the exchange checks it (PROTOCOL.md §5.1, §7.1).

Pure: the caller passes the received headers, the exact payload (raw query string for GET, raw
body for POST) and the server time. Order of checks: headers present, API key known (10003),
timestamp window (10002: ``server - recvWindow <= ts < server + 1000``), signature (10004 with
the server's pre-image in ``origin_string[...]``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from services.bybit_sim.trading.core.errors import API_KEY, PARAMS, SIGN, TIMESTAMP, ApiError

DEFAULT_RECV_WINDOW = 5000
#: A client timestamp may be at most this many ms ahead of the server (strictly less).
FUTURE_TOLERANCE_MS = 1000
WS_AUTH_PREFIX = "GET/realtime"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key of the simulated exchange and the account (UID) it belongs to."""

    key: str
    secret: str = ""
    uid: int = 0

    def __repr__(self) -> str:  # the secret never reaches a log line
        return f"ApiKey(key={self.key!r}, uid={self.uid})"


def hmac_hex(secret: str, message: str) -> str:
    """Lowercase hex HMAC-SHA256 of ``message`` under ``secret``."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def rest_origin(timestamp: str, api_key: str, recv_window: str, payload: str) -> str:
    """The string Bybit signs: ``timestamp + apiKey + recvWindow + payload``."""
    return f"{timestamp}{api_key}{recv_window}{payload}"


def sign_rest(secret: str, timestamp: str, api_key: str, recv_window: str, payload: str) -> str:
    """Signature of a REST request (GET: exact query string; POST: exact raw body)."""
    return hmac_hex(secret, rest_origin(timestamp, api_key, recv_window, payload))


def sign_ws_auth(secret: str, expires: int | str) -> str:
    """Signature of a WebSocket ``auth`` op: HMAC over ``"GET/realtime" + expires``."""
    return hmac_hex(secret, f"{WS_AUTH_PREFIX}{expires}")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # plain dicts in tests; aiohttp's CIMultiDict is case-insensitive already
        lowered = name.lower()
        for key, val in headers.items():
            if key.lower() == lowered:
                return val
    return value


def check_timestamp(timestamp: str, recv_window: str, now_ms: int) -> None:
    """Raise 10002 unless ``now - recvWindow <= ts < now + 1000`` (Bybit's asymmetric window)."""
    try:
        ts = int(timestamp)
        window = int(recv_window)
    except ValueError:
        raise ApiError(
            TIMESTAMP, "invalid request, please check your timestamp and recv_window param"
        ) from None
    if not (now_ms - window <= ts < now_ms + FUTURE_TOLERANCE_MS):
        raise ApiError(
            TIMESTAMP,
            "invalid request, please check your server timestamp or recv_window param. "
            f"req_timestamp[{ts}],server_timestamp[{now_ms}],recv_window[{window}]",
        )


def authenticate_rest(
    keys: Mapping[str, ApiKey], headers: Mapping[str, str], payload: str, now_ms: int
) -> ApiKey:
    """Check a signed REST request; return the caller's key or raise :class:`ApiError`.

    Args:
        keys: API keys of the exchange by key string.
        headers: the request headers (``X-BAPI-*``).
        payload: the query string exactly as received (no ``?``) or the raw body.
        now_ms: server time in ms (including any injected clock skew).
    """
    api_key = _header(headers, "X-BAPI-API-KEY")
    timestamp = _header(headers, "X-BAPI-TIMESTAMP")
    signature = _header(headers, "X-BAPI-SIGN")
    recv_window = _header(headers, "X-BAPI-RECV-WINDOW") or str(DEFAULT_RECV_WINDOW)
    if not api_key:
        raise ApiError(API_KEY, "API key is invalid.")
    if timestamp is None or signature is None:
        raise ApiError(PARAMS, "params error: X-BAPI-TIMESTAMP and X-BAPI-SIGN are required")
    found = keys.get(api_key)
    if found is None:
        raise ApiError(API_KEY, "API key is invalid.")
    check_timestamp(timestamp, recv_window, now_ms)
    origin = rest_origin(timestamp, api_key, recv_window, payload)
    if not hmac.compare_digest(hmac_hex(found.secret, origin), signature.lower()):
        raise ApiError(SIGN, f"error sign! origin_string[{origin}]")
    return found


class WsAuthError(Exception):
    """A refused WebSocket ``auth`` op; ``ret_msg`` is sent back with ``success:false``."""

    def __init__(self, ret_msg: str) -> None:
        super().__init__(ret_msg)
        self.ret_msg = ret_msg


def authenticate_ws(keys: Mapping[str, ApiKey], args: object, now_ms: int) -> ApiKey:
    """Check ``{"op":"auth","args":[key, expires, signature]}``; return the key or raise.

    ``expires`` (epoch ms, int or numeric string) must be in the future of the server clock.
    Bybit answers malformed and expired requests with ``ret_msg`` "Params Error".
    """
    if not isinstance(args, list) or len(args) != 3:
        raise WsAuthError("Params Error")
    key, expires, signature = args
    if not isinstance(key, str) or not isinstance(signature, str):
        raise WsAuthError("Params Error")
    if isinstance(expires, bool) or not isinstance(expires, int | str):
        raise WsAuthError("Params Error")
    try:
        expires_ms = int(expires)
    except ValueError:
        raise WsAuthError("Params Error") from None
    if expires_ms <= now_ms:
        raise WsAuthError("Params Error")
    found = keys.get(key)
    if found is None:
        raise WsAuthError("Invalid apikey")
    if not hmac.compare_digest(sign_ws_auth(found.secret, expires), signature.lower()):
        raise WsAuthError("Signature verification failed")
    return found


def parse_api_keys(text: str) -> dict[str, ApiKey]:
    """Parse ``"key:secret,key2:secret2"``; each key is its own account, UIDs from 1001 up.

    A ``key:secret:uid`` item puts several keys on one account.

    Raises:
        ValueError: an item without a secret, or a repeated key.
    """
    keys: dict[str, ApiKey] = {}
    next_uid = 1001
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        parts = item.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ValueError("each API key item must be key:secret or key:secret:uid")
        if parts[0] in keys:
            raise ValueError(f"API key {parts[0]!r} is listed twice")
        if len(parts) == 3:
            uid = int(parts[2])
        else:
            uid = next_uid
            next_uid += 1
        keys[parts[0]] = ApiKey(parts[0], parts[1], uid)
    return keys
