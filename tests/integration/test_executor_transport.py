"""The executor's REST transport against a local HTTP server: direct calls from several threads, and
proxies from the environment (resolved once at start) still honoured."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from services.executor.adapters.rest import RestClient
from services.executor.core.requests import build_time

pytestmark = pytest.mark.integration

TIME_BODY = msgspec.json.encode(
    {"retCode": 0, "retMsg": "OK", "result": {"timeSecond": "1764000000", "timeNano": "1764000000000000000"}}
)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: (request target, server thread = one per connection)
    seen: list[tuple[str, int]]

    def do_GET(self) -> None:
        self.seen.append((self.path, threading.get_ident()))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-bapi-limit", "50")  # lower case: read case-insensitively
        self.send_header("X-Bapi-Limit-Status", "49")
        self.send_header("Content-Length", str(len(TIME_BODY)))
        self.end_headers()
        self.wfile.write(TIME_BODY)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[tuple[str, int]]]]:
    seen: list[tuple[str, int]] = []
    handler = type("H", (_Handler,), {"seen": seen})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", seen
    srv.shutdown()
    srv.server_close()


def test_direct_calls_from_several_threads(
    server: tuple[str, list[tuple[str, int]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    url, seen = server
    rc = RestClient(url, None, timeout=5)
    results = []

    def work() -> None:
        for _ in range(5):
            results.append(rc.send(build_time()))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    adapters = len(rc._adapters)
    rc.close()
    assert len(results) == 15 and all(r.status == 200 and r.body == TIME_BODY for r in results)
    assert all(r.limits is not None and r.limits.limit == 50 for r in results)
    assert {p for p, _ in seen} == {"/v5/market/time"}  # origin-form: no proxy in between
    assert adapters == 3  # one adapter per thread...
    assert len({conn for _, conn in seen}) == 3  # ...each with one kept-alive connection


def test_proxy_from_the_environment(
    server: tuple[str, list[tuple[str, int]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy_url, seen = server  # the local server plays the proxy: it sees absolute-form targets
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.setenv("NO_PROXY", "")
    rc = RestClient("http://exchange.tickwire-test.invalid", None, timeout=5)
    assert rc.proxies.get("http") == proxy_url
    assert rc.sync_clock(build_time()) is not None
    rc.close()
    assert seen and seen[0][0] == "http://exchange.tickwire-test.invalid/v5/market/time"


def test_no_proxy_is_honoured(
    server: tuple[str, list[tuple[str, int]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = server
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would fail if used
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    rc = RestClient(url, None, timeout=5)
    res = rc.send(build_time())
    rc.close()
    assert res.status == 200 and seen[0][0] == "/v5/market/time"
