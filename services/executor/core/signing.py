"""Bybit v5 request signing (PROTOCOL.md §7.1) and private WebSocket auth (§5.1). Pure.

REST: ``X-BAPI-SIGN`` = lowercase hex HMAC-SHA256(secret, timestamp + apiKey + recvWindow + payload)
where payload is the exact query string sent (GET, no ``?``) or the exact body bytes sent (POST).
WS: signature = HMAC-SHA256(secret, ``"GET/realtime" + expires``). The keyed HMAC object is built
once and copied per signature (the key schedule is not redone on the hot path).
"""

from __future__ import annotations

import hashlib
import hmac

from services.common.config import Secret


class Signer:
    """Signs with one API key pair. Never exposes the secret (``repr`` is masked)."""

    __slots__ = ("_api_key", "_hmac", "_prefix_tail", "recv_window")

    def __init__(self, api_key: Secret, api_secret: Secret, recv_window: int = 5000) -> None:
        self._api_key = api_key.reveal()
        self._hmac = hmac.new(api_secret.reveal().encode(), digestmod=hashlib.sha256)
        self.recv_window = recv_window
        self._prefix_tail = (self._api_key + str(recv_window)).encode()

    def __repr__(self) -> str:
        return "Signer(api_key='***', api_secret='***')"

    @property
    def api_key(self) -> str:
        return self._api_key

    def sign(self, timestamp_ms: int, payload: bytes) -> str:
        """Signature of one REST request whose query string or body is ``payload``."""
        h = self._hmac.copy()
        h.update(str(timestamp_ms).encode())
        h.update(self._prefix_tail)
        h.update(payload)
        return h.hexdigest()

    def headers(self, timestamp_ms: int, payload: bytes) -> dict[str, str]:
        """The ``X-BAPI-*`` headers for one request."""
        ts = str(timestamp_ms)
        return {
            "X-BAPI-API-KEY": self._api_key,
            "X-BAPI-TIMESTAMP": ts,
            "X-BAPI-RECV-WINDOW": str(self.recv_window),
            "X-BAPI-SIGN": self.sign(timestamp_ms, payload),
        }

    def ws_signature(self, expires_ms: int) -> str:
        h = self._hmac.copy()
        h.update(b"GET/realtime" + str(expires_ms).encode())
        return h.hexdigest()

    def ws_auth(self, expires_ms: int, req_id: str = "auth") -> dict[str, object]:
        """The private stream's ``auth`` op."""
        return {
            "req_id": req_id,
            "op": "auth",
            "args": [self._api_key, expires_ms, self.ws_signature(expires_ms)],
        }
