"""The executor's wire transport (:class:`WireSender`) against real local servers on 127.0.0.1.

A real :class:`RestClient`, :class:`SharedRateLimiter`, :class:`Dispatcher` and :class:`SenderPool`
behind it; real :class:`PlaceJob`/:class:`CallJob` objects in, outcomes read back with ``take()``
the way the executor's loop does (waiting on its descriptor, no sleeps). The servers are a
scripted raw HTTP/1.1 server (:mod:`tests.integration.wire_support`), an HTTPS ``http.server``
with a certificate made by ``openssl``, and, end to end, the executor process on bybit_sim.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import select
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from services.common.config import Secret
from services.common.metrics import new_registry
from services.executor.adapters import wire
from services.executor.adapters.rest import RestClient
from services.executor.adapters.wire import WireSender
from services.executor.calls import CallJob, Job, PlaceJob, SenderPool
from services.executor.core.gate import Claim
from services.executor.core.intents import CancelIntent, CreateIntent
from services.executor.core.requests import CANCEL, CREATE, build_cancel
from services.executor.core.responses import Accepted, Ambiguous
from services.executor.core.signing import Signer
from services.executor.dispatch import Dispatcher, SharedRateLimiter
from services.executor.metrics import ExecutorMetrics
from tests.helpers import FACTOR, eventually
from tests.integration import executor_support
from tests.integration.executor_support import Launcher, limit, sim_links, statuses
from tests.integration.wire_support import (
    Reply,
    ScriptedServer,
    Seen,
    accept,
    accept_order,
    envelope,
    response,
    self_signed,
)

pytestmark = pytest.mark.integration

# fixtures shared by the executor's integration tests (the end-to-end checks)
exsim = executor_support.exsim
launcher = executor_support.launcher

API_KEY = "wire-test-key"
API_SECRET = "wire-test-secret-0123456789"
#: A result field making a response several reads (and TLS records) long.
PAD = 300_000
PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


class Log:
    """Collects the events the sender logs (structlog-style calls)."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def _add(self, event: str, **kw: Any) -> None:
        self.events.append(event)

    debug = info = warning = error = exception = _add


class Rig:
    """A WireSender with everything real behind it, driven like the executor's loop drives it."""

    def __init__(self, client: RestClient, *, connections: int, timeout: float, pool_size: int = 2) -> None:
        self.client = client
        self.registry = new_registry()
        self.metrics = ExecutorMetrics(self.registry)
        self.log = Log()
        self.limiter = SharedRateLimiter()
        self.d = Dispatcher(client, self.limiter, self.metrics, self.log)
        self.pool = SenderPool(self.d, pool_size, self.log)
        target = client.wire_target()
        assert target is not None
        self.ws = WireSender(
            self.d, client, target, self.pool, connections, self.metrics, self.log, timeout=timeout
        )
        self.done: list[Job] = []

    def pump_until(self, cond: Callable[[], object], timeout: float = 4.0, what: str = "") -> None:
        """Take finished jobs (and adopt connections) until ``cond()`` holds."""
        deadline = time.monotonic() + timeout * FACTOR
        while True:
            self.done += self.ws.take()
            if cond():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout * FACTOR:.1f}s: {what}")
            self.ws.wait(0.05)

    def run(self, job: Job, timeout: float = 4.0) -> Any:
        self.ws.submit(job)
        self.pump_until(lambda: job in self.done, timeout, "job finished")
        return job.result

    def sample(self, name: str, **labels: str) -> float:
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    def route(self, name: str) -> float:
        return self.sample("tickwire_executor_calls_total", route=name)

    def connections(self) -> float:
        return self.sample("tickwire_executor_wire_connections")

    def ready(self, n: int) -> None:
        """Wait until ``n`` connections are open (idle, when no call is in flight)."""
        self.pump_until(lambda: self.connections() == n, what=f"{n} wire connections")

    def close(self) -> None:
        self.ws.close()
        self.client.close()


RigFactory = Callable[..., Rig]
Servers = Callable[..., ScriptedServer]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PROXY_VARS:  # a proxy in the environment would turn the wire transport off
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def make_rig() -> Iterator[RigFactory]:
    rigs: list[Rig] = []

    def make(url: str, *, connections: int = 2, timeout: float = 2.0, pool_size: int = 2) -> Rig:
        signer = Signer(Secret(API_KEY), Secret(API_SECRET), 5000)
        rig = Rig(
            RestClient(url, signer, timeout=timeout),
            connections=connections,
            timeout=timeout,
            pool_size=pool_size,
        )
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


@pytest.fixture
def servers() -> Iterator[Servers]:
    started: list[ScriptedServer] = []

    def start(script: Callable[[Seen], Reply] = accept) -> ScriptedServer:
        srv = ScriptedServer(script)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def create(link: str, price: str = "20000.0") -> CreateIntent:
    return CreateIntent(
        category="linear",
        symbol="BTCUSDT",
        side="Buy",
        orderType="Limit",
        qty="0.010",
        price=price,
        timeInForce="GTC",
        orderLinkId=link,
    )


def place(*links: str) -> PlaceJob:
    return PlaceJob("linear", [create(link, f"2000{i}.0") for i, link in enumerate(links)], Claim())


def cancel(link: str) -> CallJob:
    intent = CancelIntent(category="linear", symbol="BTCUSDT", orderLinkId=link)
    return CallJob(1, intent, build_cancel(intent), "cancel", Claim())


def accepted(link: str) -> Accepted:
    """The outcome of an order the scripted server accepted."""
    return Accepted(f"id-{link}", link, {"orderId": f"id-{link}", "orderLinkId": link})


def signature_ok(seen: Seen) -> bool:
    """The request's X-BAPI-SIGN is HMAC-SHA256(secret, timestamp + key + recv_window + body)."""
    h = seen.headers
    signed = (h["x-bapi-timestamp"] + h["x-bapi-api-key"] + h["x-bapi-recv-window"]).encode() + seen.body
    want = hmac.new(API_SECRET.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(h["x-bapi-sign"], want)


def first_then(first: Reply, then: Callable[[Seen], Reply] = accept) -> Callable[[Seen], Reply]:
    """A script answering the first request with ``first`` and every later one with ``then``."""
    count = [0]
    lock = threading.Lock()

    def script(seen: Seen) -> Reply:
        with lock:
            count[0] += 1
            n = count[0]
        return first if n == 1 else then(seen)

    return script


# --- the wire route ------------------------------------------------------------------------------


def test_create_goes_out_on_the_wire_signed(servers: Servers, make_rig: RigFactory) -> None:
    srv = servers()
    rig = make_rig(srv.url, connections=2)
    rig.ready(2)
    job = place("w-create-1")
    out = rig.run(job)
    assert out == [accepted("w-create-1")]
    assert rig.route("wire") == 1 and rig.route("pool") == 0
    (seen,) = srv.requests
    assert (seen.method, seen.target) == ("POST", CREATE)
    assert seen.body == msgspec.json.encode(
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.010",
            "price": "20000.0",
            "timeInForce": "GTC",
            "orderLinkId": "w-create-1",
        }
    )
    assert seen.headers["host"] == f"127.0.0.1:{srv.port}"
    assert seen.headers["content-length"] == str(len(seen.body))
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["x-bapi-api-key"] == API_KEY and seen.headers["x-bapi-recv-window"] == "5000"
    assert abs(int(seen.headers["x-bapi-timestamp"]) - seen.at_ms) < 5000
    assert signature_ok(seen)
    assert rig.sample("tickwire_executor_rest_latency_seconds_count", endpoint=CREATE) == 1
    # kept alive: the next call goes on the same connection (the last one used is used first)
    assert rig.run(place("w-create-2"))[0].order_link_id == "w-create-2"
    assert srv.requests[1].conn == seen.conn and rig.route("wire") == 2


def test_batch_and_cancel_go_out_on_the_wire(servers: Servers, make_rig: RigFactory) -> None:
    srv = servers()
    rig = make_rig(srv.url, connections=1)
    rig.ready(1)
    outs = rig.run(place("w-batch-1", "w-batch-2"))
    assert [o.order_link_id for o in outs] == ["w-batch-1", "w-batch-2"]
    assert all(isinstance(o, Accepted) for o in outs)
    out = rig.run(cancel("w-batch-1"))
    assert isinstance(out, Accepted) and out.order_link_id == "w-batch-1"
    assert [s.target for s in srv.requests] == ["/v5/order/create-batch", CANCEL]
    assert all(signature_ok(s) for s in srv.requests)
    assert {s.conn for s in srv.requests} == {0}
    assert rig.route("wire") == 2 and rig.route("pool") == 0


def test_no_idle_connection_goes_to_the_pool(servers: Servers, make_rig: RigFactory) -> None:
    srv = servers()
    rig = make_rig(srv.url, connections=1)
    rig.ready(1)
    first, second = place("w-busy-1"), place("w-busy-2")
    rig.ws.submit(first)  # takes the only connection
    rig.ws.submit(second)  # none idle: a sender thread sends it
    rig.pump_until(lambda: first in rig.done and second in rig.done, what="both creates")
    assert isinstance(first.result[0], Accepted) and isinstance(second.result[0], Accepted)
    assert rig.route("wire") == 1 and rig.route("pool") == 1
    assert all(signature_ok(s) for s in srv.requests)


def test_empty_rate_limit_bucket_goes_to_the_pool_which_waits(servers: Servers, make_rig: RigFactory) -> None:
    srv = servers()
    rig = make_rig(srv.url, connections=1)
    rig.ready(1)
    now = rig.client.now_ms()
    until = now + 300
    rig.limiter.block(CREATE, "linear", until, now)
    out = rig.run(place("w-bucket-1"))
    assert isinstance(out[0], Accepted)
    assert rig.route("wire") == 0 and rig.route("pool") == 1
    assert srv.requests[0].at_ms >= until  # sent once the bucket refilled
    assert rig.run(place("w-bucket-2"))[0].order_link_id == "w-bucket-2"  # the wire again
    assert rig.route("wire") == 1


# --- connections that close, break or stay silent --------------------------------------------------


def test_connection_close_each_time(servers: Servers, make_rig: RigFactory) -> None:
    srv = servers(lambda seen: Reply((response(accept_order(seen), close=True),), close=True))
    rig = make_rig(srv.url, connections=1)
    for i in range(3):
        rig.ready(1)  # the replacement of the connection the last answer closed
        out = rig.run(place(f"w-close-{i}"))
        assert isinstance(out[0], Accepted) and out[0].order_link_id == f"w-close-{i}"
    assert rig.route("wire") == 3 and rig.route("pool") == 0
    assert [s.conn for s in srv.requests] == [0, 1, 2]


def test_connection_close_header_alone_drops_the_connection(servers: Servers, make_rig: RigFactory) -> None:
    # the server says it will close but does not: the client must not reuse the connection
    srv = servers(lambda seen: Reply((response(accept_order(seen), close=True),)))
    rig = make_rig(srv.url, connections=1)
    for i in range(2):
        rig.ready(1)
        assert isinstance(rig.run(place(f"w-hdr-{i}"))[0], Accepted)
    assert [s.conn for s in srv.requests] == [0, 1]
    rig.pump_until(lambda: 0 in srv.ended, what="first connection closed by the client")


def test_idle_connection_closed_by_the_server_is_replaced(servers: Servers, make_rig: RigFactory) -> None:
    srv = servers()
    rig = make_rig(srv.url, connections=2)
    rig.ready(2)
    assert isinstance(rig.run(place("w-fin-1"))[0], Accepted)
    rig.pump_until(lambda: srv.open_connections() == 2, what="the server accepted both")
    srv.close_connections()  # FIN on both idle connections
    rig.pump_until(lambda: srv.accepted == 4 and rig.connections() == 2, what="both connections replaced")
    out = rig.run(place("w-fin-2"))
    assert isinstance(out[0], Accepted), out
    assert rig.route("wire") == 2 and rig.route("pool") == 0
    assert srv.requests[-1].conn >= 2


def test_close_not_yet_taken_is_seen_before_writing(servers: Servers, make_rig: RigFactory) -> None:
    srv = servers()
    rig = make_rig(srv.url, connections=1)
    rig.ready(1)
    rig.pump_until(lambda: srv.open_connections() == 1, what="the server accepted it")
    srv.close_connections()
    # the FIN has come (the sender's descriptor is readable), but has not been taken
    readable, _, _ = select.select([rig.ws.fileno()], [], [], 4.0 * FACTOR)
    assert readable
    out = rig.run(place("w-unread-fin"))
    assert out == [accepted("w-unread-fin")]  # not an unknown outcome
    assert rig.route("wire") == 0 and rig.route("pool") == 1
    rig.ready(1)
    assert rig.run(place("w-unread-fin-2")) == [accepted("w-unread-fin-2")]
    assert rig.route("wire") == 1


BROKEN: dict[str, Reply] = {
    "garbage": Reply((b"garbage\r\n\r\n",)),
    "bad status line after a good start": Reply((b"HTTP/1.1 2",), close=True),
    "close mid-body": Reply((b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"retCode":0',), close=True),
    "close mid-head": Reply((b"HTTP/1.1 200 OK\r\nContent-Le",), close=True),
    "close before answering": Reply((), close=True),
    "reset mid-body": Reply((b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{",), reset=True),
    "reset before answering": Reply((), reset=True),
    "bad chunk size": Reply((b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",)),
    "gzip": Reply((b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nxx",)),
    "two responses": Reply((response(envelope()) + response(envelope()),)),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_response_makes_a_create_ambiguous(servers: Servers, make_rig: RigFactory, case: str) -> None:
    srv = servers(first_then(BROKEN[case]))
    rig = make_rig(srv.url, connections=1)
    rig.ready(1)
    out = rig.run(place("w-broken-1"))
    if case == "two responses":  # the first is a response; the connection is dropped after it
        assert isinstance(out[0], Accepted)
    else:
        assert len(out) == 1 and isinstance(out[0], Ambiguous) and out[0].cause == "connection", out
    rig.pump_until(lambda: 0 in srv.ended, what="the broken connection dropped")
    rig.ready(1)  # replaced
    assert isinstance(rig.run(place("w-broken-2"))[0], Accepted)
    assert srv.requests[-1].conn == 1
    assert rig.route("wire") == 2 and rig.route("pool") == 0


ONE_SHOT: dict[str, Callable[[bytes], bytes]] = {
    "body to the close": lambda body: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + body,
    "HTTP/1.0": lambda body: b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
}


@pytest.mark.parametrize("case", sorted(ONE_SHOT))
def test_response_that_ends_its_connection(servers: Servers, make_rig: RigFactory, case: str) -> None:
    srv = servers(lambda seen: Reply((ONE_SHOT[case](accept_order(seen)),), close=True))
    rig = make_rig(srv.url, connections=1)
    for i in range(2):
        rig.ready(1)
        assert rig.run(place(f"w-once-{i}")) == [accepted(f"w-once-{i}")]
    assert [s.conn for s in srv.requests] == [0, 1]
    assert rig.route("wire") == 2


def test_connection_idle_too_long_is_replaced_not_used(
    servers: Servers, make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = servers()
    rig = make_rig(srv.url, connections=2)
    rig.ready(2)
    monkeypatch.setattr(wire, "IDLE_MAX_S", -1.0)  # every idle connection is now too old
    assert rig.run(place("w-stale-1")) == [accepted("w-stale-1")]
    assert rig.route("wire") == 0 and rig.route("pool") == 1  # none of them was used
    assert srv.requests[0].conn >= 2
    rig.pump_until(lambda: {0, 1} <= srv.ended, what="both old connections closed")
    monkeypatch.setattr(wire, "IDLE_MAX_S", 50.0)
    rig.pump_until(lambda: srv.accepted >= 5 and rig.connections() == 2, what="both replaced")
    assert rig.run(place("w-stale-2")) == [accepted("w-stale-2")]
    assert rig.route("wire") == 1


def test_silent_server_times_out(servers: Servers, make_rig: RigFactory) -> None:
    srv = servers(first_then(Reply(hang=True)))
    rig = make_rig(srv.url, connections=1, timeout=0.5)
    rig.ready(1)
    t0 = time.monotonic()
    out = rig.run(place("w-silent-1"))
    took = time.monotonic() - t0
    assert len(out) == 1 and isinstance(out[0], Ambiguous) and out[0].cause == "timeout", out
    assert 0.5 <= took < 0.5 + 2.0 * FACTOR
    assert rig.route("wire") == 1
    rig.ready(1)  # the silent connection was dropped and replaced
    assert isinstance(rig.run(place("w-silent-2"))[0], Accepted)
    assert srv.accepted == 2


def test_chunked_response(servers: Servers, make_rig: RigFactory) -> None:
    def chunked(seen: Seen) -> Reply:
        body = accept_order(seen)
        a, b = body[:7], body[7:]
        return Reply(
            (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                f"{len(a):x};ext=1\r\n".encode() + a + b"\r\n",
                f"{len(b):X}\r\n".encode() + b[:3],
                b[3:] + b"\r\n",
                b"0\r\nX-Trailer: t\r\n\r\n",
            )
        )

    srv = servers(chunked)
    rig = make_rig(srv.url, connections=1)
    rig.ready(1)
    for i in range(2):
        out = rig.run(place(f"w-chunk-{i}"))
        assert out == [accepted(f"w-chunk-{i}")]
    assert [s.conn for s in srv.requests] == [0, 0]  # kept alive after a chunked body


def test_large_response(servers: Servers, make_rig: RigFactory) -> None:
    srv = servers(lambda seen: Reply((response(accept_order(seen, pad=PAD)),)))
    rig = make_rig(srv.url, connections=1)
    rig.ready(1)
    for i in range(2):
        out = rig.run(place(f"w-large-{i}"))
        assert isinstance(out[0], Accepted) and len(out[0].result["pad"]) == PAD
    assert [s.conn for s in srv.requests] == [0, 0]


# --- retries go to the pool ------------------------------------------------------------------------


def test_rate_limited_create_is_retried_by_the_pool(servers: Servers, make_rig: RigFactory) -> None:
    reset = [0]

    def limited(seen: Seen) -> Reply:
        reset[0] = time.time_ns() // 1_000_000 + 300
        headers = [
            ("X-Bapi-Limit", "10"),
            ("X-Bapi-Limit-Status", "0"),
            ("X-Bapi-Limit-Reset-Timestamp", str(reset[0])),
        ]
        return Reply((response(envelope(10006, "Too many visits!"), headers=headers),))

    calls: list[Seen] = []

    def script(seen: Seen) -> Reply:
        calls.append(seen)
        return limited(seen) if len(calls) == 1 else accept(seen)

    srv = servers(script)
    rig = make_rig(srv.url, connections=1)
    rig.ready(1)
    out = rig.run(place("w-10006-1"))
    assert out == [accepted("w-10006-1")]
    first, second = srv.requests
    assert first.body == second.body and signature_ok(first) and signature_ok(second)
    assert second.conn != first.conn  # re-sent by a sender thread on its own connection
    assert second.at_ms >= reset[0]  # after the bucket's reset time
    assert rig.sample("tickwire_executor_retries_total", cause="rate_limit") == 1
    assert rig.route("wire") == 1 and rig.route("pool") == 1


def test_ambiguous_cancel_is_retried_by_the_pool(servers: Servers, make_rig: RigFactory) -> None:
    srv = servers(first_then(Reply((response(b"busy", status=503),))))
    rig = make_rig(srv.url, connections=1)
    rig.ready(1)
    out = rig.run(cancel("w-cancel-1"))
    assert isinstance(out, Accepted) and out.order_link_id == "w-cancel-1"
    assert [s.target for s in srv.requests] == [CANCEL, CANCEL]
    assert rig.sample("tickwire_executor_retries_total", cause="cancel_http_5xx") == 1
    assert rig.route("wire") == 1 and rig.route("pool") == 1


def test_cancel_on_a_broken_connection_is_retried_by_the_pool(servers: Servers, make_rig: RigFactory) -> None:
    srv = servers(first_then(Reply((b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{",), close=True)))
    rig = make_rig(srv.url, connections=1)
    rig.ready(1)
    out = rig.run(cancel("w-cancel-2"))
    assert isinstance(out, Accepted), out
    assert rig.sample("tickwire_executor_retries_total", cause="cancel_connection") == 1


# --- TLS -----------------------------------------------------------------------------------------


class _TlsHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen = Seen(0, f"POST {self.path} HTTP/1.1".encode(), body, 0)
        out = accept_order(seen, pad=PAD if "large" in str(seen.json().get("orderLinkId")) else 0)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server for 127.0.0.1 (URL, its self-signed certificate)."""
    cert, key = self_signed(tmp_path, "server")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TlsHandler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"https://127.0.0.1:{srv.server_address[1]}", cert
    srv.shutdown()
    srv.server_close()


def test_tls(https_server: tuple[str, Path], make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    url, cert = https_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    rig = make_rig(url, connections=1)
    target = rig.client.wire_target()
    assert target is not None and target.tls is not None and target.port == int(url.rsplit(":", 1)[1])
    rig.ready(1)
    for i in range(2):
        out = rig.run(place(f"w-tls-{i}"))
        assert isinstance(out[0], Accepted) and out[0].order_link_id == f"w-tls-{i}"
    out = rig.run(place("w-tls-large"))
    assert isinstance(out[0], Accepted) and len(out[0].result["pad"]) == PAD
    assert rig.route("wire") == 3 and rig.route("pool") == 0
    assert rig.connections() == 1  # kept alive


def test_tls_with_the_wrong_ca_falls_back_to_the_pool(
    https_server: tuple[str, Path], make_rig: RigFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, _ = https_server
    other, _ = self_signed(tmp_path, "other")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    rig = make_rig(url, connections=1)
    rig.pump_until(
        lambda: "wire connect failed; calls go through the sender pool" in rig.log.events,
        what="the connector's failure",
    )
    out = rig.run(place("w-badca-1"))
    assert len(out) == 1 and isinstance(out[0], Ambiguous) and out[0].cause == "connection", out
    assert rig.route("wire") == 0 and rig.route("pool") == 1
    assert rig.connections() == 0


# --- end to end: the executor process on bybit_sim ----------------------------------------------


def _creates_accepted(ex: executor_support.Executor, exsim: Any, prefix: str, n: int = 3) -> list[str]:
    links = []
    for i in range(n):
        link = ex.client.send(limit(f"{prefix}-{i}", price=f"2000{i}.0"))
        got = ex.client.wait(link, until={"new"}, timeout=10)
        assert statuses(got)[:2] == ["accepted", "new"], got
        links.append(link)
    assert sorted(sim_links(exsim)) == sorted(links)
    return links


def test_executor_sends_creates_on_the_wire(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start()
    eventually(lambda: ex.metric("tickwire_executor_wire_connections") == 4, message="wire connections")
    _creates_accepted(ex, exsim, "w-e2e")
    # one at a time, with idle connections: each went out on the wire
    assert ex.metric("tickwire_executor_calls_total", route="wire") == 3
    assert ex.metric("tickwire_executor_wire_connections") == 4  # kept alive by the sim


def test_executor_without_wire_connections_uses_the_pool(launcher: Launcher, exsim: Any) -> None:
    ex = launcher.start(executor_wire_connections="0")
    _creates_accepted(ex, exsim, "w-e2e-off")
    assert ex.metric("tickwire_executor_calls_total", route="wire") == 0
    assert ex.metric("tickwire_executor_wire_connections") == 0
    assert ex.metric("tickwire_executor_calls_total", route="pool") >= 3
