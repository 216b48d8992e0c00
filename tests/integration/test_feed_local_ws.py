"""The feed as a real process against a tiny scripted WebSocket server (tests/integration/fake_bybit_ws.py).

These pin the WebSocket shell's behaviour precisely (exact frames, exact requests); the tests
against the full simulator are in test_feed_sim.py. Every test using ``start_feed`` runs on each
WebSocket client library of the feed (``ws_client``: picows, websockets).
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from services.common import wire
from services.common.bus import Subscriber
from services.common.rpc import JsonClient
from tests.helpers import ROOT, ServiceProcess, base_env, eventually, free_port, tcp
from tests.integration.fake_bybit_ws import FakeBybit, fake_bybit

pytestmark = pytest.mark.integration

SNAP = b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1700000000000,"data":{"s":"BTCUSDT","b":[["100.10","1.5"]],"a":[["100.20","2"]],"u":10,"seq":99},"cts":1699999999999}'  # noqa: E501


def delta(u: int, price: str = "100.10", size: str = "3") -> bytes:
    return (
        b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1700000000100,"data":{"s":"BTCUSDT","b":[["'
        + price.encode() + b'","' + size.encode() + b'"]],"a":[],"u":'
        + str(u).encode() + b',"seq":100},"cts":1}'
    )  # fmt: skip


class Bus:
    """A SUB on the feed's PUB socket that accumulates everything it received."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.ctx = zmq.Context()
        self.sub = Subscriber(self.ctx, [endpoint])
        self.got: list[tuple[str, wire.BusMessage]] = []

    def poll(self) -> list[tuple[str, wire.BusMessage]]:
        self.got.extend(self.sub.drain())
        return self.got

    def of(self, kind: type, topic_prefix: str = "") -> list[Any]:
        return [m for t, m in self.poll() if isinstance(m, kind) and t.startswith(topic_prefix)]

    def statuses(self, symbol: str = "BTCUSDT", category: str = "linear") -> list[str]:
        return [m.state for m in self.of(wire.StreamStatus) if m.symbol == symbol and m.category == category]

    def close(self) -> None:
        self.sub.close()
        self.ctx.term()


@pytest.fixture
def fake() -> Iterator[FakeBybit]:
    with fake_bybit() as server:
        yield server


@pytest.fixture
def start_feed(
    spawn: Callable[..., ServiceProcess], fake: FakeBybit, ws_client: str
) -> Iterator[Callable[..., tuple[Any, ...]]]:
    buses: list[Bus] = []

    def start(**settings: Any) -> tuple[ServiceProcess, Bus, JsonClient, int]:
        pub, ctl, metrics = free_port(), free_port(), free_port()
        conf: dict[str, Any] = {
            "bybit_public_ws_url": fake.url_template, "symbols": "linear:BTCUSDT",
            "feed_pub": tcp(pub), "feed_ctl": tcp(ctl), "feed_metrics_port": metrics,
            "feed_backoff_initial": 0.05, "feed_backoff_max": 0.2, "feed_heartbeat_interval": 0.2,
            "feed_ws_client": ws_client,
        }  # fmt: skip
        conf.update(settings)
        bus = Bus(tcp(pub))
        buses.append(bus)
        proc = spawn("services.feed", **conf)
        client = JsonClient(tcp(ctl), timeout=5)
        eventually(lambda: client.request({"op": "ping"})["ok"], timeout=15, message="feed control ping")
        # subscribes are held by the fake until this SUB is connected (no slow-joiner loss)
        eventually(lambda: bus.of(wire.Heartbeat), timeout=15, message="first heartbeat")
        fake.open_gate()
        return proc, bus, client, metrics

    yield start
    for bus in buses:
        bus.close()


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_publishes_exact_book_messages_and_heartbeats(fake: FakeBybit, start_feed: Any) -> None:
    fake.on_subscribe = [SNAP]
    proc, bus, _, _ = start_feed()
    books = eventually(lambda: bus.of(wire.BookUpdate), timeout=15)
    fake.push(delta(11))
    books = eventually(lambda: len(bus.of(wire.BookUpdate)) >= 2 and bus.of(wire.BookUpdate))
    snap, d = books[0], books[1]
    assert (snap.type, snap.bids, snap.asks, snap.u, snap.seq, snap.ts, snap.cts) == (
        "snapshot", [("100.10", "1.5")], [("100.20", "2")], 10, 99, 1700000000000, 1699999999999)  # fmt: skip
    assert (d.type, d.bids, d.u, d.bus_seq, d.epoch) == ("delta", [("100.10", "3")], 11, 2, snap.epoch)
    assert snap.recv_ns > 0 and snap.bus_seq == 1
    assert "subscribed" in bus.statuses()
    hb = eventually(lambda: [m for m in bus.of(wire.Heartbeat) if m.seqs.get("md.book.linear.BTCUSDT") == 2])
    assert hb[-1].service == "feed" and hb[-1].info == {"linear-0": "live"}
    assert fake.paths == ["/v5/public/linear"]
    assert fake.subscribes()[0]["args"] == ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT", "tickers.BTCUSDT"]
    assert proc.alive


def test_dropped_connection_reconnects_resubscribes_and_resnapshots(fake: FakeBybit, start_feed: Any) -> None:
    fake.on_subscribe = [SNAP]
    _, bus, _, metrics = start_feed()
    eventually(lambda: "subscribed" in bus.statuses(), timeout=15)
    fake.drop_all()
    eventually(lambda: len(fake.subscribes()) >= 2, message="resubscribe")
    eventually(lambda: bus.statuses()[-2:] == ["disconnected", "subscribed"])
    eventually(lambda: len([b for b in bus.of(wire.BookUpdate) if b.type == "snapshot"]) >= 2)
    assert fake.subscribes()[1]["args"] == fake.subscribes()[0]["args"]
    assert metric(metrics, "tickwire_feed_reconnects_total") >= 1


def test_late_pongs_make_the_feed_reconnect(fake: FakeBybit, start_feed: Any) -> None:
    _, bus, _, metrics = start_feed(feed_ping_interval=0.2, feed_pong_timeout=0.3)
    eventually(lambda: "subscribed" in bus.statuses(), timeout=15)
    pings = eventually(lambda: [r for r in fake.requests if r.get("op") == "ping"])
    assert pings[0] == {"op": "ping"}
    connections = fake.connections
    fake.answer_pings = False
    eventually(lambda: "disconnected" in bus.statuses())
    reason = next(m.reason for m in bus.of(wire.StreamStatus) if m.state == "disconnected")
    assert reason == "pong timeout"
    fake.answer_pings = True
    eventually(lambda: fake.connections > connections and bus.statuses()[-1] == "subscribed")
    assert metric(metrics, "tickwire_feed_pong_timeouts_total") >= 1


def test_malformed_frames_are_counted_and_the_feed_lives(fake: FakeBybit, start_feed: Any) -> None:
    fake.on_subscribe = [SNAP]
    proc, bus, client, metrics = start_feed()
    eventually(lambda: bus.of(wire.BookUpdate), timeout=15)
    for junk in (b"{not json", b'{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":"x"}', b"[]"):
        fake.push(junk)
    fake.push(delta(11))
    eventually(lambda: len(bus.of(wire.BookUpdate)) >= 2)
    assert metric(metrics, "tickwire_feed_malformed_frames_total") == 3
    assert proc.alive and client.request({"op": "ping"})["ok"]
    assert proc.log_text().count('"malformed_frame"') == 3  # three kinds, once each


def test_u_gap_is_counted_and_resubscribed(fake: FakeBybit, start_feed: Any) -> None:
    fake.on_subscribe = [SNAP]
    _, bus, _, metrics = start_feed()
    eventually(lambda: "subscribed" in bus.statuses(), timeout=15)
    fake.push(delta(11))
    fake.push(delta(13))
    eventually(lambda: "resubscribing" in bus.statuses())
    ops = eventually(lambda: [r for r in fake.requests if r.get("op") == "unsubscribe"])
    assert ops[0]["args"] == ["orderbook.50.BTCUSDT"]
    eventually(lambda: len([b for b in bus.of(wire.BookUpdate) if b.type == "snapshot"]) >= 2)
    assert bus.statuses()[-2:] == ["resubscribing", "subscribed"]
    assert metric(metrics, "tickwire_feed_u_gaps_total") == 1


def test_snapshot_before_ack_is_kept(fake: FakeBybit, start_feed: Any) -> None:
    fake.on_subscribe = [SNAP]
    fake.snapshot_before_ack = True
    _, bus, _, _ = start_feed()
    eventually(lambda: "subscribed" in bus.statuses(), timeout=15)
    kinds = [type(m).__name__ for t, m in bus.poll() if t.endswith("linear.BTCUSDT")]
    assert kinds[:2] == ["BookUpdate", "StreamStatus"]


def test_spot_subscribes_in_batches_of_ten(fake: FakeBybit, start_feed: Any) -> None:
    symbols = ",".join(f"spot:S{i}USDT" for i in range(11))
    _, bus, client, _ = start_feed(symbols=symbols, feed_channels="book,trade")
    eventually(lambda: len(fake.subscribes()) >= 3, timeout=15)
    sizes = [len(r["args"]) for r in fake.subscribes()]
    assert sizes == [10, 10, 2] and fake.paths == ["/v5/public/spot"]
    eventually(lambda: len({m.symbol for m in bus.of(wire.StreamStatus) if m.state == "subscribed"}) == 11)
    status = client.request({"op": "status"})
    assert status["connections"][0]["state"] == "live"


def test_handler_not_found_is_reported_and_not_retried(fake: FakeBybit, start_feed: Any) -> None:
    fake.refuse = {"orderbook.50.NOPEUSDT"}
    _, bus, client, _ = start_feed(symbols="linear:BTCUSDT,linear:NOPEUSDT")
    eventually(lambda: "error" in bus.statuses("NOPEUSDT"), timeout=15)
    eventually(lambda: "subscribed" in bus.statuses("BTCUSDT"))
    fake.drop_all()
    eventually(lambda: len(fake.subscribes()) >= 3 and bus.statuses("BTCUSDT")[-1] == "subscribed")
    assert all("orderbook.50.NOPEUSDT" not in r["args"] for r in fake.subscribes()[2:])
    reply = client.request({"op": "resnapshot", "category": "linear", "symbol": "NOPEUSDT"})
    assert reply["ok"] is False and reply["error"]["code"] == "unknown_symbol"


def test_control_resnapshot_and_status(fake: FakeBybit, start_feed: Any) -> None:
    fake.on_subscribe = [SNAP]
    _, bus, client, _ = start_feed()
    eventually(lambda: "subscribed" in bus.statuses(), timeout=15)
    fake.hold_gate()  # the snapshot must not arrive between the two requests (it would serve the first)
    assert (
        client.request({"op": "resnapshot", "category": "linear", "symbol": "BTCUSDT"})["result"]
        == "requested"
    )
    assert (
        client.request({"op": "resnapshot", "category": "linear", "symbol": "BTCUSDT"})["result"]
        == "coalesced"
    )
    fake.open_gate()
    eventually(lambda: len([b for b in bus.of(wire.BookUpdate) if b.type == "snapshot"]) >= 2)
    assert [r["op"] for r in fake.requests if r.get("op") != "ping"][-2:] == ["unsubscribe", "subscribe"]
    bad = client.request({"op": "resnapshot", "category": "spot", "symbol": "BTCUSDT"})
    assert bad == {
        "ok": False,
        "error": {"code": "unknown_symbol", "message": "the feed does not carry spot:BTCUSDT"},
    }
    assert client.request({"op": "nope"})["error"]["code"] == "unknown_op"
    assert client.request_raw(b"garbage")["error"]["code"] == "bad_request"
    status = client.request({"op": "status"})
    assert status["connections"][0]["topics"]["orderbook.50.BTCUSDT"] == "subscribed"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"TICKWIRE_ORDERBOOK_DEPTH": "30"}, "TICKWIRE_ORDERBOOK_DEPTH=30 is not offered by Bybit"),
        ({"TICKWIRE_FEED_CHANNELS": "book,kline"}, "unknown channel 'kline'"),
        ({"TICKWIRE_SYMBOLS": "linear:btcusdt"}, "upper case"),
    ],
)
def test_bad_configuration_exits_with_one_clear_line(env: dict[str, str], needle: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "services.feed"], env=base_env(**env), cwd=ROOT,
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("feed: configuration error:")
    assert json.dumps(lines)  # printable


def test_the_example_subscriber_in_docs_bus_md_works(fake: FakeBybit, start_feed: Any, tmp_path: Any) -> None:
    text = (ROOT / "docs" / "bus.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "subscriber.py"
    script.write_text(code)
    fake.on_subscribe = [SNAP]
    _, bus, client, _ = start_feed()
    eventually(lambda: "subscribed" in bus.statuses(), timeout=15)
    out = subprocess.run(
        [sys.executable, str(script), bus.endpoint, client.endpoint, "linear", "BTCUSDT", "1"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "BTCUSDT 100.10 x 1.5 / 100.20 x 2  u=10" in out.stdout


def test_recording_writes_every_frame(fake: FakeBybit, start_feed: Any, tmp_path: Any) -> None:
    import zlib

    fake.on_subscribe = [SNAP]
    _, bus, _, _ = start_feed(feed_record_dir=str(tmp_path / "rec"))
    eventually(lambda: bus.of(wire.BookUpdate), timeout=15)
    fake.push(delta(11))
    fake.push(b"{broken")

    def recorded() -> dict[str, bytes]:
        return {
            p.name.split("_linear")[1]: zlib.decompressobj(wbits=31).decompress(p.read_bytes())
            for p in (tmp_path / "rec").rglob("*.gz")
        }

    files = eventually(lambda: (r := recorded()) and delta(11) in r.get(".data.gz", b"") and r, timeout=15)
    assert files[".data.gz"] == SNAP + b"\n" + delta(11) + b"\n"
    eventually(lambda: b"{broken\n" in recorded().get(".control.gz", b""))


def test_an_oversized_frame_is_counted_and_the_feed_reconnects(fake: FakeBybit, start_feed: Any) -> None:
    _, bus, _, metrics = start_feed(feed_max_frame_bytes=1000)
    eventually(lambda: "subscribed" in bus.statuses(), timeout=15)
    big = b'{"topic":"tickers.BTCUSDT","type":"snapshot","ts":1,"data":{"x":"' + b"9" * 2000 + b'"}}'
    fake.push(big)
    eventually(lambda: metric(metrics, 'tickwire_feed_malformed_frames_total{kind="oversized"}') == 1)
    reason = eventually(lambda: [m.reason for m in bus.of(wire.StreamStatus) if m.state == "disconnected"])
    assert reason[0] == "frame larger than 1000 bytes"
    eventually(lambda: bus.statuses()[-1] == "subscribed")


def test_a_server_close_code_is_the_disconnect_reason(fake: FakeBybit, start_feed: Any) -> None:
    _, bus, _, _ = start_feed()
    eventually(lambda: "subscribed" in bus.statuses(), timeout=15)

    async def close() -> None:
        for ws in list(fake.clients):
            await ws.close(4000, "bye")

    fake.call(close())
    reasons = eventually(lambda: [m.reason for m in bus.of(wire.StreamStatus) if m.state == "disconnected"])
    assert reasons[0] == "closed: code 4000"
    eventually(lambda: bus.statuses()[-1] == "subscribed" and fake.connections == 2)


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl CLI) and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not available")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_wss_verifies_the_server_certificate(
    spawn: Callable[..., ServiceProcess], ws_client: str, tls_cert: tuple[Path, Path]
) -> None:
    """wss:// works with a certificate the system trusts (here via SSL_CERT_FILE), and a
    certificate it does not trust is refused (the feed keeps retrying)."""
    cert, key = tls_cert
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    with fake_bybit(server_ctx) as fake:
        fake.on_subscribe = [SNAP]
        pub, untrusted_ctl = free_port(), free_port()
        bus = Bus(tcp(pub))
        common = {"bybit_public_ws_url": fake.url_template, "symbols": "linear:BTCUSDT",
                  "feed_ws_client": ws_client, "feed_heartbeat_interval": 0.2,
                  "feed_backoff_initial": 0.05, "feed_backoff_max": 0.2}  # fmt: skip
        try:
            assert fake.url_template.startswith("wss://")
            spawn("services.feed", feed_pub=tcp(pub), feed_ctl=tcp(free_port()),
                  feed_metrics_port=free_port(), SSL_CERT_FILE=str(cert), **common)  # fmt: skip
            eventually(lambda: bus.of(wire.Heartbeat), timeout=15, message="first heartbeat")
            fake.open_gate()
            eventually(lambda: bus.of(wire.BookUpdate), timeout=15)
            fake.push(delta(11))
            books = eventually(lambda: len(bus.of(wire.BookUpdate)) >= 2 and bus.of(wire.BookUpdate))
            assert [b.u for b in books] == [10, 11] and "subscribed" in bus.statuses()
            untrusted = spawn("services.feed", feed_pub=tcp(free_port()), feed_ctl=tcp(untrusted_ctl),
                              feed_metrics_port=free_port(), **common)  # fmt: skip
            eventually(lambda: "CERTIFICATE_VERIFY_FAILED" in untrusted.log_text(), timeout=15)
            with JsonClient(tcp(untrusted_ctl), timeout=5) as client:
                conn = client.request({"op": "status"})["connections"][0]
            assert conn["state"] in ("connecting", "backoff") and untrusted.alive
            assert fake.connections == 1  # the untrusted client never completed a handshake
        finally:
            bus.close()


def test_fragmented_messages_are_reassembled_and_their_size_checked(fake: FakeBybit, start_feed: Any) -> None:
    fake.on_subscribe = [SNAP]
    _, bus, _, metrics = start_feed(feed_max_frame_bytes=1000)
    eventually(lambda: bus.of(wire.BookUpdate), timeout=15)

    async def fragmented(message: bytes, size: int) -> None:
        parts = [message[i : i + size].decode() for i in range(0, len(message), size)]
        for ws in list(fake.clients):
            await ws.send(parts)  # an iterable: one message in several frames

    fake.call(fragmented(delta(11), 40))
    books = eventually(lambda: [b for b in bus.of(wire.BookUpdate) if b.u == 11], timeout=15)
    assert books[0].bids == [("100.10", "3")]
    big = b'{"topic":"tickers.BTCUSDT","type":"snapshot","ts":1,"data":{"x":"' + b"9" * 1400 + b'"}}'
    fake.call(fragmented(big, 500))  # every frame under the limit, the message over it
    eventually(lambda: metric(metrics, 'tickwire_feed_malformed_frames_total{kind="oversized"}') == 1)
    reason = eventually(lambda: [m.reason for m in bus.of(wire.StreamStatus) if m.state == "disconnected"])
    assert reason == ["frame larger than 1000 bytes"] and not bus.of(wire.Ticker)
    eventually(lambda: bus.statuses()[-1] == "subscribed" and fake.connections == 2)
