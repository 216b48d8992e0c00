"""HTTP transport to Bybit's REST API: one pooled ``requests.Session``, signed requests, clock offset.

:meth:`RestClient.send` writes exactly ``call.payload`` (the bytes that were signed) and turns any
outcome into an :class:`~services.executor.core.responses.HttpResult` (errors as ``timeout`` or
``connection``; never an exception). Error texts are built from exception kinds only, so nothing
from a request (headers, signatures) can leak into a log line.

Requests go straight to the session's pooled ``HTTPAdapter`` with a hand-built
``PreparedRequest``: ``Session.request`` would re-parse the URL and handle cookies and redirects
on every call (~130 µs here), none of which Bybit's API needs.
"""

from __future__ import annotations

import time

import msgspec
import requests
import requests.adapters
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict

from services.executor.core.ratelimit import parse_limit_headers
from services.executor.core.requests import RestCall
from services.executor.core.responses import HttpResult, server_time_ms
from services.executor.core.signing import Signer


class RestClient:
    """Sends :class:`RestCall` objects to ``base_url``; ``offset_ms`` is server minus local time."""

    def __init__(self, base_url: str, signer: Signer | None, *, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.timeout = timeout
        self.offset_ms = 0
        self.session = requests.Session()
        self._adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
        self.session.mount("http://", self._adapter)
        self.session.mount("https://", self._adapter)
        self.session.headers.update({"Content-Type": "application/json", "User-Agent": "tickwire-executor"})
        self._base_headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(
            {k: str(v) for k, v in self.session.headers.items()}
        )

    def now_ms(self) -> int:
        """Local wall-clock ms corrected by the measured offset (the exchange's clock)."""
        return time.time_ns() // 1_000_000 + self.offset_ms

    def send(self, call: RestCall, *, timeout: float | None = None) -> HttpResult:
        hdrs = self._base_headers.copy()
        if call.signed:
            if self.signer is None:
                return HttpResult(0, b"", {}, error="connection")
            hdrs.update(self.signer.headers(self.now_ms(), call.payload))
        req = PreparedRequest()
        req.method = call.method
        req.url = self.base_url + call.target
        if call.method == "POST":
            req.body = call.payload
            hdrs["Content-Length"] = str(len(call.payload))
        req.headers = hdrs
        req.hooks = {"response": []}
        try:
            resp = self._adapter.send(req, timeout=timeout or self.timeout)
            body = resp.content
        except requests.Timeout:
            return HttpResult(0, b"", {}, error="timeout")
        except requests.RequestException:
            return HttpResult(0, b"", {}, error="connection")
        lh = parse_limit_headers(resp.headers)
        return HttpResult(resp.status_code, body, dict(resp.headers), reset_ms=lh.reset_ms if lh else 0)

    def sync_clock(self, call: RestCall) -> int | None:
        """Measure the server-minus-local offset with ``/v5/market/time`` (midpoint of the round trip)."""
        t0 = time.time_ns() // 1_000_000
        res = self.send(call)
        t1 = time.time_ns() // 1_000_000
        if res.error or res.status != 200:
            return None
        try:
            obj = msgspec.json.decode(res.body)
        except msgspec.DecodeError:
            return None
        server = server_time_ms(obj) if isinstance(obj, dict) else None
        if server is None:
            return None
        self.offset_ms = server - (t0 + t1) // 2
        return self.offset_ms

    def close(self) -> None:
        self.session.close()
