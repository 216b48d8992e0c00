"""Unit tests of the monitor's pure core (aggregation from messages + now).

The integration half is tests/integration/test_monitor.py (real sockets, real HTTP).
"""

from __future__ import annotations

from services.common.bus import SeqTracker
from services.common.wire import Bbo, BookUpdate, ExecReport, Heartbeat, StreamStatus, Trades
from services.monitor.core.histogram import Histogram
from services.monitor.core.probe import ProbeResult, interpret
from services.monitor.core.state import MS, NS, MonitorState

T0 = 1_700_000_000 * NS
SYM = ("linear", "BTCUSDT")


def state(**kw: object) -> MonitorState:
    args: dict[str, object] = {
        "start_ns": T0,
        "symbols": [SYM],
        "heartbeat_timeout": 5.0,
        "stale_after": 10.0,
        "buckets": (0.001, 0.01, 0.1, 1.0),
        "new_tracker": SeqTracker,
    }
    args.update(kw)
    return MonitorState(**args)  # type: ignore[arg-type]


def book(seq: int, ts_ms: int, recv_ns: int, epoch: int = 1) -> BookUpdate:
    return BookUpdate(
        "linear", "BTCUSDT", 50, "delta", [], [], seq, 0, ts_ms, 0, recv_ns, epoch=epoch, bus_seq=seq
    )


def bbo(seq: int, state_: str, ts_ms: int, recv_ns: int, pub_ns: int) -> Bbo:
    return Bbo(
        "linear",
        "BTCUSDT",
        state_,
        "100.5",
        "1",
        "100.6",
        "2",
        seq,
        ts_ms,
        recv_ns,
        pub_ns,
        epoch=2,
        bus_seq=seq,
    )


def hb(service: str, epoch: int, seq: int, seqs: dict[str, int] | None = None) -> Heartbeat:
    return Heartbeat(service, T0, seqs or {}, {"conn": "up"}, epoch=epoch, bus_seq=seq)


def test_histogram_counts_cumulative_buckets_and_quantile() -> None:
    """Observations land in the first bucket whose bound is >= the value; +Inf holds the rest."""
    h = Histogram((0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v)
    assert h.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert h.total == 3.65
    assert h.quantile(0.5) == 0.1
    assert h.quantile(1.0) is None
    assert Histogram((1.0,)).quantile(0.5) is None


def test_latency_stages_from_bbo_and_feed_messages() -> None:
    """Bbo ts/recv_ns/pub_ns and the receive time give every stage, in seconds."""
    st = state()
    ts_ms = T0 // MS
    recv = T0 + 2 * MS  # feed got it 2 ms after the exchange stamped it
    pub = recv + 500_000  # book published 0.5 ms later
    now = pub + 200_000  # monitor received it 0.2 ms later
    st.on_batch("feed", [("md.book.linear.BTCUSDT", book(1, ts_ms, recv))], now)
    st.on_batch("book", [("bk.bbo.linear.BTCUSDT", bbo(1, "live", ts_ms, recv, pub))], now)

    lat = {stage: h for (stage, _c, _s), h in st.latency.items()}
    assert abs(lat["exchange_to_feed"].total - 0.002) < 1e-9
    assert abs(lat["feed_to_monitor"].total - 0.0007) < 1e-9
    assert abs(lat["feed_to_book"].total - 0.0005) < 1e-9
    assert abs(lat["book_to_monitor"].total - 0.0002) < 1e-9
    assert abs(lat["exchange_to_book"].total - 0.0025) < 1e-9
    assert abs(lat["exchange_to_monitor"].total - 0.0027) < 1e-9
    assert all(h.count == 1 for h in lat.values())


def test_negative_latency_counts_as_clock_skew_and_zero() -> None:
    """A feed clock behind the exchange clock never yields a negative sample."""
    st = state()
    ts_ms = T0 // MS
    st.on_batch("feed", [("md.book.linear.BTCUSDT", book(1, ts_ms, T0 - 3 * MS))], T0)
    hist = st.latency[("exchange_to_feed", *SYM)]
    assert (hist.count, hist.total) == (1, 0.0)
    assert st.clock_skew["exchange_to_feed"] == 1


def test_zero_timestamps_are_not_measured() -> None:
    """Messages without exchange time (ts 0) or receive time (0) add no latency sample."""
    st = state()
    st.on_batch("book", [("bk.bbo.linear.BTCUSDT", bbo(1, "live", 0, 0, 0))], T0)
    assert all(h.count == 0 for h in st.latency.values())
    assert st.messages[("bbo", *SYM)] == 1


def test_staleness_counts_from_start_then_from_last_message() -> None:
    """A never-seen symbol ages from the monitor's start; a seen one from its last message."""
    st = state()
    assert st.staleness(T0 + 3 * NS)[("feed", *SYM)] == 3.0
    st.on_batch("feed", [("md.book.linear.BTCUSDT", book(1, 0, 0))], T0 + 4 * NS)
    ages = st.staleness(T0 + 6 * NS)
    assert ages[("feed", *SYM)] == 2.0
    assert ages[("book", *SYM)] == 6.0


def test_bus_gaps_counted_per_publisher_and_from_heartbeats() -> None:
    """A bus_seq jump is a gap on that publisher; a heartbeat announcing a later seq is one too."""
    st = state()
    st.on_batch("feed", [("md.book.linear.BTCUSDT", book(s, 0, 0)) for s in (1, 2, 5)], T0)
    assert (st.gaps["feed"], st.lost["feed"]) == (1, 2)
    st.on_batch("feed", [("sys.hb.feed", hb("feed", 1, 1, {"md.book.linear.BTCUSDT": 7}))], T0)
    assert (st.gaps["feed"], st.lost["feed"]) == (2, 4)
    assert st.gaps["book"] == 0


def test_publisher_restart_is_not_a_gap() -> None:
    """A new epoch restarts the sequence without counting loss."""
    st = state()
    st.on_batch("feed", [("md.book.linear.BTCUSDT", book(9, 0, 0, epoch=1))], T0)
    st.on_batch("feed", [("md.book.linear.BTCUSDT", book(1, 0, 0, epoch=2))], T0)
    assert st.gaps["feed"] == 0


def test_book_states_and_resyncs() -> None:
    """Entering syncing/resyncing counts a resync; repeating a state is no transition."""
    st = state()
    for i, s in enumerate(("syncing", "live", "live", "resyncing", "live"), start=1):
        st.on_batch("book", [("bk.bbo.linear.BTCUSDT", bbo(i, s, 0, 0, 0))], T0)
    assert st.resyncs[SYM] == 2
    assert st.book_states[("linear", "BTCUSDT", "live")] == 2
    assert st.symbols[SYM].book_state == "live"


def test_stream_status_disconnects() -> None:
    """A feed stream going disconnected counts once per transition."""
    st = state()
    msgs = [
        StreamStatus("linear", "BTCUSDT", s, "", T0, epoch=1, bus_seq=i)
        for i, s in enumerate(("subscribed", "disconnected", "disconnected", "subscribed"), start=1)
    ]
    st.on_batch("feed", [("md.status.linear.BTCUSDT", m) for m in msgs], T0)
    assert st.disconnects[SYM] == 1
    assert st.symbols[SYM].stream_state == "subscribed"


def test_order_outcomes_and_reject_codes() -> None:
    """Reports are counted by status; rejects also by code."""
    st = state()

    def rep(i: int, status: str, code: str) -> tuple[str, ExecReport]:
        r = ExecReport(status, "create", "linear", "BTCUSDT", f"o{i}", "", code, "", T0, epoch=3, bus_seq=i)
        return "ex.report.linear.BTCUSDT", r

    st.on_batch(
        "executor", [rep(1, "accepted", "0"), rep(2, "rejected", "risk_notional"), rep(3, "filled", "0")], T0
    )
    assert st.reports[("rejected", *SYM)] == 1
    assert st.rejects == {"risk_notional": 1}


def test_heartbeats_liveness_and_restarts() -> None:
    """A service is up while its heartbeat is younger than the timeout; a new epoch is a restart."""
    st = state()
    assert not st.service_up("feed", T0)
    st.on_batch("feed", [("sys.hb.feed", hb("feed", 1, 1))], T0 + NS)
    assert st.service_up("feed", T0 + 5 * NS)
    assert not st.service_up("feed", T0 + 7 * NS)
    st.on_batch("feed", [("sys.hb.feed", hb("feed", 2, 1))], T0 + 8 * NS)
    assert st.services["feed"].restarts == 1
    assert st.services["feed"].info == {"conn": "up"}


def test_unknown_symbols_and_publishers_are_added() -> None:
    """Messages for symbols not configured, or from a new publisher, are tracked, not dropped."""
    st = state()
    t = Trades("spot", "ETHUSDT", [], T0 // MS, T0, epoch=1, bus_seq=1)
    st.on_batch("other", [("md.trade.spot.ETHUSDT", t)], T0)
    assert st.messages[("trade", "spot", "ETHUSDT")] == 1
    assert st.received["other"] == 1
    assert ("spot", "ETHUSDT") in st.symbols


def test_health_document() -> None:
    """/health is ok only when every expected service is up and every symbol fresh."""
    st = state(services=["feed"])
    ts_ms = T0 // MS
    assert st.health(T0)["status"] == "degraded"
    batch_feed = [("sys.hb.feed", hb("feed", 1, 1)), ("md.book.linear.BTCUSDT", book(1, ts_ms, T0))]
    st.on_batch("feed", batch_feed, T0)
    st.on_batch("book", [("bk.bbo.linear.BTCUSDT", bbo(1, "live", ts_ms, T0, T0))], T0)
    st.on_decode_errors("book", 2)
    doc = st.health(T0 + NS)
    assert doc["status"] == "ok"
    assert doc["symbols"]["linear:BTCUSDT"]["book_state"] == "live"  # type: ignore[index]
    assert doc["bus"]["decode_errors"]["book"] == 2  # type: ignore[index]
    assert st.health(T0 + 11 * NS)["status"] == "degraded"


def test_probe_interpretation_and_bookkeeping() -> None:
    """Book status replies in list or map form give per-symbol states; not-ok replies fail."""
    status = {"ok": True, "books": [{"category": "linear", "symbol": "BTCUSDT", "state": "live"}]}
    symbols = {"ok": True, "symbols": ["linear:BTCUSDT", {"category": "spot", "symbol": "ETHUSDT"}, 5]}
    res = interpret(status, symbols, 0.002)
    assert res.ok and res.states == {SYM: "live"}
    assert res.symbols == [SYM, ("spot", "ETHUSDT")]
    as_map = interpret({"ok": True, "books": {"linear:BTCUSDT": {"state": "stale"}}}, {"ok": True}, 0.0)
    assert as_map.states == {SYM: "stale"}
    bad = interpret({"ok": False, "error": {"code": "bad_request"}}, {"ok": True}, 0.0)
    assert (bad.ok, bad.error) == (False, "status: bad_request")

    st = state()
    st.on_probe(res, T0)
    st.on_probe(ProbeResult(False, error="RpcTimeout"), T0 + NS)
    assert (st.probe.rounds, st.probe.failures, st.probe.ok) == (2, 1, False)
    assert st.probe.states == {SYM: "live"}
    assert st.health(T0)["symbols"]["linear:BTCUSDT"]["book_state"] == "live"  # type: ignore[index]
