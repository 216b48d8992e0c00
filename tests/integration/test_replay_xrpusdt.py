"""End to end on real data: Bybit's recorded XRPUSDT order-book file, replayed by bybit_sim,
through the feed and the book service, must give exactly the book that replaying the file by hand
gives — 500 levels a side, every price and size string as recorded.

The counterpart unit test (tests/unit/book) applies the same file to the pure book.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import pytest

from services.common.book_client import BookClient
from tests.helpers import SAMPLES, ServiceProcess, eventually, free_port, tcp
from tests.integration.conftest import SimHandle

pytestmark = pytest.mark.integration

SAMPLE = SAMPLES / "ws_public_orderbook_linear_ob500_XRPUSDT_sequence_50msgs.jsonl"


def replay_by_hand() -> tuple[list[list[str]], list[list[str]], int]:
    """Apply the file with nothing but dicts: Bybit's rules, written out plainly."""
    bids: dict[str, str] = {}
    asks: dict[str, str] = {}
    last_u = 0
    for line in SAMPLE.read_text().splitlines():
        msg = json.loads(line)
        data = msg["data"]
        if msg["type"] == "snapshot":
            bids, asks = {}, {}
        else:
            assert data["u"] == last_u + 1
        for side, levels in ((bids, data["b"]), (asks, data["a"])):
            for price, size in levels:
                if Decimal(size) == 0:
                    side.pop(price, None)
                else:
                    side[price] = size
        last_u = data["u"]
    b = sorted(([p, s] for p, s in bids.items()), key=lambda lv: -Decimal(lv[0]))
    a = sorted(([p, s] for p, s in asks.items()), key=lambda lv: Decimal(lv[0]))
    return b, a, last_u


def test_recorded_xrpusdt_stream_ends_in_the_exact_book(
    sim_factory: Callable[..., SimHandle], spawn: Callable[..., ServiceProcess]
) -> None:
    expected_bids, expected_asks, last_u = replay_by_hand()
    assert (len(expected_bids), len(expected_asks)) == (500, 500)

    sim = sim_factory(sim_replay=str(SAMPLE), sim_replay_speed=0, sim_replay_category="linear")
    pub, ctl, rep = tcp(free_port()), tcp(free_port()), tcp(free_port())
    common = {
        "symbols": "linear:XRPUSDT",
        "orderbook_depth": 500,
        "allow_legacy_depths": "true",
        "feed_pub": pub,
        "feed_ctl": ctl,
    }
    book = spawn(
        "services.book",
        book_rep=rep,
        book_pub=tcp(free_port()),
        book_metrics_port=free_port(),
        book_stale_after=3600,
        **common,
    )
    feed = spawn(
        "services.feed",
        bybit_public_ws_url=sim.ws_url_template,
        feed_channels="book",
        feed_metrics_port=free_port(),
        **common,
    )
    with BookClient(rep, timeout=2.0) as client:

        def settled() -> dict[str, object] | None:
            reply = client.book("linear", "XRPUSDT")
            return reply if reply.get("state") == "live" and reply.get("u") == last_u else None

        reply = eventually(settled, timeout=30, message=f"feed log:\n{feed.log_text()[-2000:]}")
    assert reply["bids"] == expected_bids
    assert reply["asks"] == expected_asks
    assert feed.alive and book.alive
