"""HTTP transport to Bybit's REST API: signed requests over ``requests``' connection pools, clock offset.

:meth:`RestClient.send` writes exactly ``call.payload`` (the bytes that were signed) and turns any
outcome into an :class:`~services.executor.core.responses.HttpResult` (errors as ``timeout`` or
``connection``; never an exception). Error texts are built from exception kinds only, so nothing
from a request (headers, signatures) can leak into a log line.

It is used from several threads at once (the engine's and the sender threads): each thread gets
its own ``requests`` ``HTTPAdapter``, so its own kept-alive connection. Everything that does not
depend on the call is done once:

* the environment - proxies (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY``) and the CA bundle
  (``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``) - is resolved at start for the base URL
  (``Session.request`` would look it, and netrc, up on every call);
* the static headers are built once (only what Bybit needs: no ``Accept``/``Accept-Encoding``);
* each thread's adapter hands out its connection pool for the base URL once
  (``HTTPAdapter.get_connection_with_tls_context``, with the resolved TLS settings), and calls go
  to that pool's ``urlopen`` directly: ``Session.request``/``HTTPAdapter.send`` would re-parse the
  URL, select proxies, normalise pool keys and build a ``Response`` with cookie extraction on every
  call (together ~100 µs of CPU here, about 40 % of a call), none of which Bybit's API needs.

With a proxy configured for the base URL, calls go through ``HTTPAdapter.send`` with the resolved
proxies instead (the proxy pool needs the absolute-form request target the adapter builds).

The order path's first attempts go through :mod:`services.executor.adapters.wire` instead when it
can be used (:meth:`RestClient.wire_target`: no proxy, no client certificate): this client builds
their bytes (:meth:`RestClient.encode`) with the same headers and TLS trust settings.
"""

from __future__ import annotations

import os
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec
import requests
import requests.adapters
import urllib3
from requests.models import PreparedRequest
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from services.executor.core.http1 import Response, encode_request
from services.executor.core.ratelimit import parse_limit_headers
from services.executor.core.requests import RestCall
from services.executor.core.responses import HttpResult, server_time_ms
from services.executor.core.signing import Signer


@dataclass(frozen=True, slots=True)
class WireTarget:
    """Where, and how, the wire transport connects for this client's base URL."""

    host: str
    port: int
    #: TLS settings (None: plain HTTP).
    tls: ssl.SSLContext | None


class RestClient:
    """Sends :class:`RestCall` objects to ``base_url``; ``offset_ms`` is server minus local time."""

    def __init__(self, base_url: str, signer: Signer | None, *, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.timeout = timeout
        self.offset_ms = 0
        # the environment, once: proxies for this URL (honouring NO_PROXY) and the CA bundle
        env = requests.Session().merge_environment_settings(self.base_url, {}, None, None, None)
        self.proxies: dict[str, str] = dict(env.get("proxies") or {})
        self._verify: Any = env.get("verify", True)
        self._cert: Any = env.get("cert")
        probe = PreparedRequest()
        probe.prepare(method="GET", url=self.base_url + "/")
        self._probe = probe
        self._proxied = bool(requests.utils.select_proxy(self.base_url + "/", self.proxies))
        self._base_headers = {"Content-Type": "application/json", "User-Agent": "tickwire-executor"}
        self._host = (urlsplit(self.base_url).netloc or "").rpartition("@")[2]
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._tls = threading.local()
        self._adapters: list[requests.adapters.HTTPAdapter] = []
        self._lock = threading.Lock()

    def _adapter(self) -> requests.adapters.HTTPAdapter:
        """This thread's adapter (one kept-alive connection per thread)."""
        adapter: requests.adapters.HTTPAdapter | None = getattr(self._tls, "adapter", None)
        if adapter is None:
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
            self._tls.adapter = adapter
            with self._lock:
                self._adapters.append(adapter)
        return adapter

    def _pool(self) -> Any:
        """This thread's connection pool for the base URL (from its adapter, TLS settings applied)."""
        pool = getattr(self._tls, "pool", None)
        if pool is None:
            adapter = self._adapter()
            pool = adapter.get_connection_with_tls_context(self._probe, self._verify, cert=self._cert)
            adapter.cert_verify(pool, self.base_url, self._verify, self._cert)  # type: ignore[no-untyped-call]
            self._tls.pool = pool
        return pool

    def wire_target(self) -> WireTarget | None:
        """Connection settings for the wire transport, or None where only ``requests`` applies.

        None with a proxy for the base URL or a client certificate (``requests`` handles both)."""
        if self._proxied or self._cert:
            return None
        url = urlsplit(self.base_url)
        host = url.hostname or ""
        if url.scheme == "http":
            return WireTarget(host, url.port or 80, None)
        if url.scheme != "https":
            return None
        verify = self._verify
        if verify is False:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif isinstance(verify, str) and os.path.isdir(verify):
            ctx = ssl.create_default_context(capath=verify)
        else:
            bundle = verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH
            ctx = ssl.create_default_context(cafile=bundle)
        return WireTarget(host, url.port or 443, ctx)

    def _headers(self, call: RestCall) -> dict[str, str] | None:
        """The static headers, plus the ``X-BAPI-*`` ones (signed now) for a signed call; None for
        a signed call without API keys."""
        hdrs = self._base_headers.copy()
        if call.signed:
            if self.signer is None:
                return None
            hdrs.update(self.signer.headers(self.now_ms(), call.payload))
        return hdrs

    def encode(self, call: RestCall) -> bytes:
        """The bytes of ``call`` as one HTTP/1.1 request, signed now (same headers as :meth:`send`)."""
        hdrs = self._headers(call)
        if hdrs is None:
            raise ValueError("signed call without API keys")
        body = call.payload if call.method == "POST" else None
        return encode_request(call.method, self._host, call.target, hdrs.items(), body)

    @staticmethod
    def result_of(resp: Response) -> HttpResult:
        """A wire response as the :class:`HttpResult` :meth:`send` returns."""
        return _result(resp.status, resp.body, resp.headers)

    def now_ms(self) -> int:
        """Local wall-clock ms corrected by the measured offset (the exchange's clock)."""
        return time.time_ns() // 1_000_000 + self.offset_ms

    def send(self, call: RestCall, *, timeout: float | None = None) -> HttpResult:
        hdrs = self._headers(call)
        if hdrs is None:
            return HttpResult(0, b"", {}, error="connection")
        body: bytes | None = None
        if call.method == "POST":
            body = call.payload
            hdrs["Content-Length"] = str(len(body))
        if self._proxied:
            return self._send_via_adapter(call, hdrs, body, timeout)
        try:
            resp = self._pool().urlopen(
                call.method,
                call.target,
                body=body,
                headers=hdrs,
                redirect=False,
                assert_same_host=False,
                retries=False,
                timeout=self._timeout if timeout is None else urllib3.Timeout(connect=timeout, read=timeout),
                preload_content=True,
                decode_content=True,
                chunked=False,
            )
        except Urllib3Timeout:
            return HttpResult(0, b"", {}, error="timeout")
        except (Urllib3Error, OSError, ValueError):
            return HttpResult(0, b"", {}, error="connection")
        return _result(resp.status, resp.data, resp.headers)  # (urllib3's headers: case-insensitive)

    def _send_via_adapter(
        self, call: RestCall, hdrs: dict[str, str], body: bytes | None, timeout: float | None
    ) -> HttpResult:
        req = PreparedRequest()
        req.method = call.method
        req.url = self.base_url + call.target
        req.body = body
        req.headers = hdrs  # type: ignore[assignment]  # a plain dict: the adapter only reads it
        try:
            resp = self._adapter().send(
                req,
                timeout=timeout or self.timeout,
                verify=self._verify,
                cert=self._cert,
                proxies=self.proxies,
            )
            data = resp.content
        except requests.Timeout:
            return HttpResult(0, b"", {}, error="timeout")
        except requests.RequestException:
            return HttpResult(0, b"", {}, error="connection")
        return _result(resp.status_code, data, resp.headers)

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
        with self._lock:
            adapters, self._adapters = self._adapters, []
        for adapter in adapters:
            adapter.close()


def _result(status: int, body: bytes, headers: Mapping[str, str]) -> HttpResult:
    """A response as an :class:`HttpResult`, its ``X-Bapi-Limit*`` headers parsed once here."""
    lh = parse_limit_headers(headers)
    return HttpResult(status, body, headers, reset_ms=lh.reset_ms if lh else 0, limits=lh)
