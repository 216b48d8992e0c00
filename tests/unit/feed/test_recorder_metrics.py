"""The raw recorder (gzip files in Bybit's historical format, rotation) and the metrics collector."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from prometheus_client import generate_latest

from services.common.metrics import new_registry
from services.feed.adapters.metrics import FeedMetrics
from services.feed.adapters.recorder import Recorder
from services.feed.core.plan import plan_connections
from services.feed.core.session import Session
from tests.helpers import SAMPLES

HOUR_NS = 3600 * 10**9
T0 = 1_733_011_200 * 10**9  # 2024-12-01T00:00:00Z


def test_recorder_writes_replayable_hourly_files(tmp_path: Path) -> None:
    lines = (
        (SAMPLES / "ws_public_orderbook_linear_ob500_XRPUSDT_sequence_50msgs.jsonl").read_bytes().splitlines()
    )
    rec = Recorder(tmp_path)
    ack = b'{"success":true,"ret_msg":"","conn_id":"c","req_id":"1","op":"subscribe"}'
    rec("linear", ack, T0, False)
    for i, line in enumerate(lines):
        rec("linear", line, T0 + (HOUR_NS if i >= 40 else i), True)
    rec("spot", b"garbage", T0, False)
    assert rec.flush() == len(lines) + 2
    rec.close()
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.gz"))
    assert files == [
        "linear/2024-12-01T00_linear.control.gz",
        "linear/2024-12-01T00_linear.data.gz",
        "linear/2024-12-01T01_linear.data.gz",
        "spot/2024-12-01T00_spot.control.gz",
    ]
    first = gzip.decompress((tmp_path / files[1]).read_bytes()).splitlines()
    second = gzip.decompress((tmp_path / files[2]).read_bytes()).splitlines()
    assert first + second == lines  # byte for byte, one frame a line
    assert all(json.loads(line)["topic"] == "orderbook.500.XRPUSDT" for line in first)
    assert gzip.decompress((tmp_path / files[0]).read_bytes()) == ack + b"\n"


def test_recorder_rotates_by_size(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, max_bytes=100)
    for i in range(5):
        rec("linear", b'{"topic":"x","n":' + str(i).encode() + b"}" + b" " * 10, T0, True)  # 30 B a line
    rec.close()
    names = sorted(p.name for p in (tmp_path / "linear").iterdir())
    assert names == [
        "2024-12-01T00_linear.data.gz",
        "2024-12-01T00_linear_1.data.gz",
    ]  # three lines fit in 100 bytes
    total = b"".join(gzip.decompress(p.read_bytes()) for p in sorted((tmp_path / "linear").iterdir()))
    assert total.count(b"\n") == 5


def test_metrics_collector_exposes_session_counters() -> None:
    plan = plan_connections([("linear", "BTCUSDT")], ("book",), 50, 60)[0]
    session = Session(plan)
    session.connected(0.0)
    snap = (
        b'{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1000,"data":{"s":"B","b":[],"a":[],"u":1}}'
    )
    session.on_frame(snap, 1_003 * 10**6)  # 3 ms lag
    session.on_frame(b"nope", 0)
    session.stats.reconnects = 2
    registry = new_registry()
    metrics = FeedMetrics(registry, lambda: [session])
    metrics.set_state("linear-0", "live")
    text = generate_latest(registry).decode()
    assert 'tickwire_feed_messages_total{kind="book"} 1.0' in text
    assert f'tickwire_feed_bytes_total{{kind="book"}} {float(len(snap))}' in text
    assert 'tickwire_feed_malformed_frames_total{kind="not_json"} 1.0' in text
    assert 'tickwire_feed_reconnects_total{category="linear"} 2.0' in text
    assert 'tickwire_feed_receive_lag_seconds_bucket{le="0.002"} 0.0' in text
    assert 'tickwire_feed_receive_lag_seconds_bucket{le="0.005"} 1.0' in text
    assert "tickwire_feed_receive_lag_seconds_count 1.0" in text
    assert 'tickwire_feed_connection_state{conn="linear-0"} 3.0' in text
