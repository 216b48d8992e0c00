"""The pure L2 book: Bybit apply rules, invariants, views; property tests against a Decimal model."""

from __future__ import annotations

import json
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.book.core.book import (
    BAD_LEVEL,
    BAD_PRICE,
    BAD_SIZE,
    CROSSED,
    TOO_DEEP,
    BookInvariantError,
    L2Book,
)
from services.book.core.sync import LIVE, RESYNCING, SYNCING, BookRegistry
from services.common.wire import BookUpdate, decode, encode
from tests.helpers import SAMPLES
from tests.unit.book.conftest import delta, snap

XRP = SAMPLES / "ws_public_orderbook_linear_ob500_XRPUSDT_sequence_50msgs.jsonl"


def test_snapshot_then_delta_rules() -> None:
    b = L2Book(50)
    b.apply_snapshot([("100.0", "1"), ("99.5", "2")], [("100.5", "3"), ("101", "4")])
    assert b.top_bids() == [("100.0", "1"), ("99.5", "2")]
    assert b.top_asks() == [("100.5", "3"), ("101", "4")]
    # absolute sizes, "0" deletes, deleting an absent level is a no-op, new levels inserted
    b.apply_delta([("100.0", "5"), ("99.5", "0"), ("98", "0"), ("99.9", "1.5")], [("100.5", "0")])
    assert b.top_bids() == [("100.0", "5"), ("99.9", "1.5")]
    assert b.top_asks() == [("101", "4")]
    assert b.best_bid() == ("100.0", "5")
    assert b.best_ask() == ("101", "4")
    assert b.top_bids(1) == [("100.0", "5")]


def test_original_strings_are_kept() -> None:
    b = L2Book()
    b.apply_snapshot([("65000.50", "0.0010")], [("65000.60", "1.000")])
    assert b.best_bid() == ("65000.50", "0.0010")
    b.apply_delta([("65000.5", "2")], [])  # same price, other spelling: replaces the level
    assert b.top_bids() == [("65000.5", "2")]


def test_views_are_cached_until_change() -> None:
    b = L2Book()
    b.apply_snapshot([(str(100 - i), "1") for i in range(10)], [(str(101 + i), "1") for i in range(10)])
    v1 = b.top_bids(5)
    assert b.top_bids(5) is v1
    b.apply_delta([("95", "2")], [])
    assert b.top_bids(5) is not v1
    assert b.top_bids(5)[-1] == ("96", "1")


@pytest.mark.parametrize(
    ("bids", "asks", "code"),
    [
        ([("101", "1")], [], CROSSED),
        ([("100.5", "1")], [], CROSSED),  # locked counts as crossed
        ([("99", "-1")], [], BAD_SIZE),
        ([("99", "nan")], [], BAD_SIZE),
        ([("99", "inf")], [], BAD_SIZE),
        ([("abc", "1")], [], BAD_LEVEL),
        ([("99", "x")], [], BAD_LEVEL),
        ([("-5", "1")], [], BAD_PRICE),
        ([], [("inf", "1")], BAD_PRICE),
        ([], [("0", "1")], BAD_PRICE),
        ([("98", "1"), ("97", "1")], [], TOO_DEEP),
    ],
)
def test_delta_invariants(bids: list[tuple[str, str]], asks: list[tuple[str, str]], code: str) -> None:
    b = L2Book(2)
    b.apply_snapshot([("99", "1")], [("100.5", "1")])
    with pytest.raises(BookInvariantError) as exc:
        b.apply_delta(bids, asks)
    assert exc.value.code == code


@pytest.mark.parametrize(
    ("size", "code"),
    [
        ("-1", BAD_SIZE),
        ("nan", BAD_SIZE),
        ("inf", BAD_SIZE),
        ("1e999", BAD_SIZE),
        ("x", BAD_LEVEL),
        ("", BAD_LEVEL),
    ],
)
def test_bad_size_of_a_live_price(size: str, code: str) -> None:
    # the update of a live price stores first and checks the size after: it must still raise
    b = L2Book()
    b.apply_snapshot([("99", "1"), ("98", "1")], [("100", "1")])
    with pytest.raises(BookInvariantError) as exc:
        b.apply_delta([("98", "2"), ("99", size)], [])
    assert exc.value.code == code


@pytest.mark.parametrize("size", ["0", "0.000", "-0", "0e5", " 0 "])
def test_any_zero_spelling_deletes_a_live_price(size: str) -> None:
    b = L2Book()
    b.apply_snapshot([("99", "1"), ("98", "1")], [("100", "1")])
    b.apply_delta([("99", size)], [("100.0", size)])  # the ask: another spelling of a live price
    assert b.top_bids() == [("98", "1")] and b.top_asks() == []
    assert b.best_bid() == ("98", "1") and b.best_ask() is None
    b.apply_delta([("99", "2")], [("100", "3")])  # the prices come back as new levels
    assert b.top_bids() == [("99", "2"), ("98", "1")] and b.top_asks() == [("100", "3")]


@pytest.mark.parametrize("size", ["1e5", " 1", "1_0", "0.0001", "007"])
def test_odd_but_valid_sizes_are_kept_as_received(size: str) -> None:
    b = L2Book()
    b.apply_snapshot([("99", "1")], [("100", "1")])
    b.apply_delta([("99", size)], [("101", size)])
    assert b.best_bid() == ("99", size) and b.top_asks() == [("100", "1"), ("101", size)]


def test_crossed_and_too_deep_are_checked_whenever_a_price_is_added() -> None:
    # updates and deletes alone can neither cross nor deepen a book; any added price is checked,
    # also when the same delta updates or deletes other levels first
    b = L2Book(3)
    b.apply_snapshot([("99", "1"), ("98", "1")], [("100", "1"), ("101", "1")])
    b.apply_delta([("99", "5"), ("98", "0")], [("100", "0"), ("101", "2")])
    assert b.best_bid() == ("99", "5") and b.best_ask() == ("101", "2")
    with pytest.raises(BookInvariantError) as exc:
        b.apply_delta([("99", "1")], [("102", "1"), ("99.0", "1")])
    assert exc.value.code == CROSSED
    b = L2Book(2)
    b.apply_snapshot([("99", "1"), ("98", "1")], [("100", "1")])
    with pytest.raises(BookInvariantError) as exc:
        b.apply_delta([("98", "2"), ("97", "1")], [])
    assert exc.value.code == TOO_DEEP


def test_cached_views_follow_every_kind_of_change() -> None:
    b = L2Book()
    b.apply_snapshot([("99", "1"), ("98", "1")], [("100", "1")])
    assert b.top_bids() == [("99", "1"), ("98", "1")]
    b.apply_delta([("98", "7")], [])  # update only
    assert b.top_bids() == [("99", "1"), ("98", "7")] and b.top_bids(1) == [("99", "1")]
    b.apply_delta([("99", "0")], [])  # delete only
    assert b.top_bids() == [("98", "7")] and b.top_bids(1) == [("98", "7")]
    b.clear()
    assert b.top_bids() == [] and b.top_asks() == [] and b.best_bid() is None


def test_snapshot_invariants() -> None:
    with pytest.raises(BookInvariantError) as exc:
        L2Book().apply_snapshot([("101", "1")], [("100", "1")])
    assert exc.value.code == CROSSED
    with pytest.raises(BookInvariantError) as exc:
        L2Book(1).apply_snapshot([("99", "1"), ("98", "1")], [])
    assert exc.value.code == TOO_DEEP
    with pytest.raises(BookInvariantError) as exc:
        L2Book().apply_snapshot([("99", "-1")], [])
    assert exc.value.code == BAD_SIZE
    b = L2Book()
    b.apply_snapshot([("99", "0"), ("98", "1")], [])  # zero sizes in a snapshot are skipped
    assert b.top_bids() == [("98", "1")]


# ---------------------------------------------------------------------------- reference model
class RefBook:
    """Replaying Bybit's rules by hand with Decimal keys (the spec, written naively)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[Decimal, tuple[str, str]] = {}
        self.asks: dict[Decimal, tuple[str, str]] = {}
        self.state = SYNCING
        self.u = 0

    def _lose_sync(self) -> None:
        self.bids, self.asks = {}, {}
        if self.state != SYNCING:
            self.state = RESYNCING

    def apply(self, msg: BookUpdate) -> None:
        if msg.type == "snapshot":
            self.bids = {Decimal(p): (p, q) for p, q in msg.bids if Decimal(q) != 0}
            self.asks = {Decimal(p): (p, q) for p, q in msg.asks if Decimal(q) != 0}
        else:
            if self.state not in (LIVE, "stale"):
                return
            if msg.depth != 1 and msg.u != self.u + 1:
                self._lose_sync()
                return
            for side, levels in ((self.bids, msg.bids), (self.asks, msg.asks)):
                for p, q in levels:
                    if Decimal(q) == 0:
                        side.pop(Decimal(p), None)
                    else:
                        side[Decimal(p)] = (p, q)
        if (self.bids and self.asks and max(self.bids) >= min(self.asks)) or (
            self.depth and (len(self.bids) > self.depth or len(self.asks) > self.depth)
        ):
            self._lose_sync()
            return
        self.u = msg.u
        self.state = LIVE

    def top_bids(self) -> list[tuple[str, str]]:
        return [self.bids[k] for k in sorted(self.bids, reverse=True)]

    def top_asks(self) -> list[tuple[str, str]]:
        return [self.asks[k] for k in sorted(self.asks)]


def price(i: int) -> str:
    return f"{i // 100}.{i % 100:02d}"


sizes = st.sampled_from(["0", "0", "1", "2.5", "0.001", "10", "3.14159"])
bid_levels = st.lists(st.tuples(st.integers(1, 120).map(price), sizes), max_size=8)
ask_levels = st.lists(st.tuples(st.integers(90, 220).map(price), sizes), max_size=8)
# kind: snapshot / next delta / gap delta / u=1 delta / backwards delta / snapshot with lower u
ops = st.lists(
    st.tuples(
        st.sampled_from(["snap", "next", "next", "next", "next", "gap", "restart", "back", "lowsnap"]),
        bid_levels,
        ask_levels,
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(ops, st.sampled_from([0, 5, 50]))
def test_registry_matches_reference(
    script: list[tuple[str, list[tuple[str, str]], list[tuple[str, str]]]], depth: int
) -> None:
    reg = BookRegistry([("linear", "BTCUSDT")], 0.0)
    ref = RefBook(depth)
    u = 100
    for kind, bids, asks in script:
        if kind == "snap":
            u += 3
            msg = snap(u, bids, asks, depth=depth)
        elif kind == "lowsnap":
            u = max(1, u - 50)
            msg = snap(u, bids, asks, depth=depth)
        elif kind == "next":
            u += 1
            msg = delta(u, bids, asks, depth=depth)
        elif kind == "gap":
            u += 2
            msg = delta(u, bids, asks, depth=depth)
        elif kind == "restart":
            u = 1
            msg = delta(u, bids, asks, depth=depth)
        else:
            msg = delta(max(1, u - 1), bids, asks, depth=depth)
        reg.on_book(msg, 1.0)
        ref.apply(msg)
        sb = reg.books[("linear", "BTCUSDT")]
        assert sb.state == ref.state
        assert sb.book.top_bids() == ref.top_bids()
        assert sb.book.top_asks() == ref.top_asks()
        if ref.state == LIVE:
            assert sb.u == ref.u


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(bid_levels, ask_levels), min_size=1, max_size=30))
def test_depth1_is_never_gap_checked(
    script: list[tuple[list[tuple[str, str]], list[tuple[str, str]]]],
) -> None:
    reg = BookRegistry([], 0.0)
    ref = RefBook(1)
    reg.on_book(snap(7, [("0.50", "1")], [("2.00", "1")], depth=1), 0.0)
    ref.apply(snap(7, [("0.50", "1")], [("2.00", "1")], depth=1))
    for i, (bids, asks) in enumerate(script):
        msg = delta(7 + 3 * i, bids[:1], asks[:1], depth=1)  # same or jumping u: never a gap
        reg.on_book(msg, 0.0)
        ref.apply(msg)
        sb = reg.books[("linear", "BTCUSDT")]
        assert sb.state == ref.state
        assert sb.book.top_bids() == ref.top_bids()


# ---------------------------------------------------------------------------- real data
def _load_xrp() -> list[BookUpdate]:
    out = []
    for line in XRP.read_text().splitlines():
        m = json.loads(line)
        d = m["data"]
        depth = int(m["topic"].split(".")[1])
        msg = BookUpdate(
            "linear",
            d["s"],
            depth,
            m["type"],
            [tuple(x) for x in d["b"]],
            [tuple(x) for x in d["a"]],
            d["u"],
            d["seq"],
            m["ts"],
            m.get("cts", 0),
            0,
        )
        # through the real bus codec, as the service receives it
        decoded = decode(encode(msg))
        assert isinstance(decoded, BookUpdate)
        out.append(decoded)
    return out


def test_real_xrpusdt_sequence_matches_hand_replay() -> None:
    msgs = _load_xrp()
    assert len(msgs) == 50
    reg = BookRegistry([("linear", "XRPUSDT")], 0.0, depth=500)
    ref = RefBook(500)
    for msg in msgs:
        reg.on_book(msg, 0.0)
        ref.apply(msg)
        sb = reg.books[("linear", "XRPUSDT")]
        assert sb.state == LIVE
        assert sb.book.bid_levels == 500 and sb.book.ask_levels == 500
    sb = reg.books[("linear", "XRPUSDT")]
    assert sb.u == msgs[-1].u == 20254918
    assert sb.book.top_bids() == ref.top_bids()
    assert sb.book.top_asks() == ref.top_asks()
    assert reg.stats.deltas == 49 and reg.stats.snapshots == 1
    # exact strings as received
    raw_last = json.loads(XRP.read_text().splitlines()[0])["data"]["b"][0]
    assert isinstance(raw_last[0], str)
    assert msgspec.json.encode(sb.book.top_bids(1))[:2] == b"[["


def test_churn_keeps_best_and_heap_bounded() -> None:
    b = L2Book(10)
    b.apply_snapshot([(str(100 - i), "1") for i in range(10)], [(str(101 + i), "1") for i in range(10)])
    for i in range(5000):
        # the deepest level leaves the window and another enters, in turn
        out, new = ("91", "90.5") if i % 2 == 0 else ("90.5", "91")
        b.apply_delta([(out, "0"), (new, "2")], [("110", "0"), ("110", "1")])
        b.apply_delta([("100", "0")], [])
        assert b.best_bid() == ("99", "1")
        b.apply_delta([("100", "5")], [])
        assert b.best_bid() == ("100", "5") and b.best_ask() == ("101", "1")
        assert len(b._bheap) <= 2 * len(b.bids) + 65 and len(b._aheap) <= 2 * len(b.asks) + 65
    assert [p for p, _ in b.top_bids()] == [str(100 - i) for i in range(9)] + ["91"]
