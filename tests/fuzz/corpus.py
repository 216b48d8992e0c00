"""Seeds, mutators and invariant checks shared by the hypothesis tests and the atheris harnesses.

Seeds are the real Bybit samples (/work/shared/bybit/samples) and valid book queries and intents.
Each ``check_*`` feeds one input to a pure core and asserts the bad-input contract: a typed error
or a counted drop, never an exception, and no state change on garbage. They raise AssertionError
(or let an unexpected exception escape) on a violation, so any fuzzer can drive them.
"""

from __future__ import annotations

import copy
import json
import random
from decimal import Decimal
from typing import Any

import msgspec

from services.book.core import queries
from services.book.core.sync import BookRegistry
from services.common import wire
from services.executor.core.instruments import Instrument
from services.executor.core.intents import (
    AmendIntent,
    CreateIntent,
    IntentError,
    decode_intent,
    from_json,
    peek_fields,
    to_json,
)
from services.executor.core.risk import Exposure, RiskGate, RiskLimits
from services.executor.core.validation import Refusal, validate_amend, validate_create
from services.feed.core.plan import ConnectionPlan
from services.feed.core.session import Log, Send, Session, Status
from tests.helpers import SAMPLES

RECV_NS = 1_790_000_000_000_000_000
MAX_INTENT_BYTES = 65536

# ---------------------------------------------------------------------------------- mutators
#: Tokens spliced into inputs: JSON syntax, huge/odd numbers, invalid UTF-8, escapes, nesting.
TOKENS: tuple[bytes, ...] = (
    b"{", b"}", b"[", b"]", b'"', b",", b":", b"null", b"true", b"false", b"-", b"0", b"-1",
    b"1e999", b"-1e400", b"1.5", b"99999999999999999999999999999999", b"18446744073709551616",
    b"-9223372036854775809", b"NaN", b"Infinity", b'""', b"\\u0000", b"\\ud800", b"\\udc00",
    b"\xed\xa0\x80", b"\xff", b"\xc0\x80", b"\x00", b"\n", b"[" * 2000, b'{"a":' * 2000,
    b'"snapshot"', b'"delta"', b'"topic"', b'"orderbook.50.BTCUSDT"', b'"tickers.BTCUSDT"',
    b'"publicTrade.BTCUSDT"', b'"op"', b'"success"', b'"pong"', b'"action"', b'"create"',
    b'"category"', b'"linear"', b'"qty"', b'"price"', b"x" * 300,
)  # fmt: skip


def mutate(data: bytes, rnd: random.Random, max_len: int = 1 << 16) -> bytes:
    """One to four byte-level mutations: flips, deletes, inserts, token splices, truncation."""
    buf = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(7)
        pos = rnd.randint(0, len(buf))
        if op == 0 and buf:  # flip a bit
            i = rnd.randrange(len(buf))
            buf[i] ^= 1 << rnd.randrange(8)
        elif op == 1 and buf:  # delete a span
            del buf[pos : pos + rnd.randint(1, 16)]
        elif op == 2:  # insert random bytes
            buf[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
        elif op == 3:  # splice a token
            buf[pos:pos] = rnd.choice(TOKENS)
        elif op == 4:  # truncate
            del buf[pos:]
        elif op == 5 and buf:  # duplicate a span
            end = min(len(buf), pos + rnd.randint(1, 64))
            buf[pos:pos] = buf[pos:end]
        else:  # replace a byte with a JSON metacharacter
            if buf:
                buf[rnd.randrange(len(buf))] = rnd.choice(b'{}[]":,\\')
    return bytes(buf[:max_len])


_ODD_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, 1.5, 2**64, -(2**63) - 1, "", "x" * 200, "0", "-1", "1e5", "NaN",
    "\u0000", "é", [], {}, [[]], {"a": 1}, ["1", "2"], [["1", "2", "3"]], "BTCUSDT", "linear",
)  # fmt: skip


def mutate_json(obj: Any, rnd: random.Random) -> Any:
    """A structural mutation of a decoded JSON value: replace, drop or add one field somewhere."""
    obj = copy.deepcopy(obj)
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k in list(node):
                paths.append((node, k))
                walk(node[k])
        elif isinstance(node, list):
            for i in range(len(node)):
                paths.append((node, i))
                walk(node[i])

    walk(obj)
    if not paths:
        return rnd.choice(_ODD_VALUES)
    parent, key = rnd.choice(paths)
    op = rnd.randrange(3)
    if op == 0:
        parent[key] = rnd.choice(_ODD_VALUES)
    elif op == 1:
        del parent[key]
    elif isinstance(parent, dict):
        parent[rnd.choice(("zz", "type", "u", "op", "action", "data", "ts", "extra"))] = rnd.choice(
            _ODD_VALUES
        )
    else:
        parent.append(rnd.choice(_ODD_VALUES))
    return obj


def mutated(seeds: list[bytes], rnd: random.Random) -> bytes:
    """A seed mutated at the byte level or (when it is JSON) structurally, sometimes both."""
    seed = rnd.choice(seeds)
    if rnd.random() < 0.5:
        try:
            out = json.dumps(mutate_json(json.loads(seed), rnd), separators=(",", ":")).encode()
        except ValueError:
            out = seed
        return mutate(out, rnd) if rnd.random() < 0.3 else out
    return mutate(seed, rnd)


# ---------------------------------------------------------------------------------- feed
def _sample_lines(pattern: str) -> list[bytes]:
    out: list[bytes] = []
    for path in sorted(SAMPLES.glob(pattern)):
        out += [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
    return out


def feed_seeds() -> list[bytes]:
    """Every public sample frame, plus the quoted control/error frames re-encoded."""
    seeds = _sample_lines("ws_public_*.jsonl")
    for line in _sample_lines("error_and_control_frames_quoted.jsonl"):
        frame = json.loads(line).get("frame")
        if isinstance(frame, dict):
            seeds.append(json.dumps(frame, separators=(",", ":")).encode())
    for path in sorted(SAMPLES.glob("ws_public_*.json")):
        seeds.append(json.dumps(json.loads(path.read_bytes()), separators=(",", ":")).encode())
    return seeds


def feed_session() -> Session:
    """A connected linear session carrying every topic the linear samples use (and BTCUSDT)."""
    topics = {"orderbook.50.BTCUSDT", "publicTrade.BTCUSDT", "tickers.BTCUSDT", "orderbook.1.BTCUSDT"}
    for raw in feed_seeds():
        try:
            topic = json.loads(raw).get("topic", "")
        except ValueError:
            continue
        feed_topic = isinstance(topic, str) and topic.startswith(("orderbook.", "publicTrade.", "tickers."))
        if feed_topic and topic.count(".") <= 2 and "-" not in topic:
            topics.add(topic)
    ordered = tuple(sorted(topics))
    symbols = tuple(dict.fromkeys(t.rsplit(".", 1)[1] for t in ordered))
    session = Session(ConnectionPlan("linear-0", "linear", ordered, symbols))
    session.connected(0.0)
    session.actions.clear()
    return session


def _feed_counts(s: Session) -> tuple[int, int]:
    """(frames received by kind, frames counted malformed); a bad control frame is in both."""
    return s.stats.book_messages + sum(s.stats.messages.values()), sum(s.stats.malformed.values())


def _feed_state(s: Session) -> Any:
    return (
        {t: (r.last_u, r.synced) for t, r in s.routes.items()},
        copy.deepcopy(s.tickers.last),
        dict(s.topic_state),
        dict(s.errors),
        [(r.req_id, r.op, list(r.topics)) for r in s._pending],
        set(s.announced),
    )


def check_feed_frame(session: Session, raw: bytes) -> str:
    """Feed one frame; return ``"published"``, ``"control"`` or ``"malformed:<kind>"``."""
    received, bad = _feed_counts(session)
    before_bad = dict(session.stats.malformed)
    before_state = _feed_state(session)
    out = session.on_frame(raw, RECV_NS)
    d_received, d_bad = (a - b for a, b in zip(_feed_counts(session), (received, bad), strict=True))
    assert d_received in (0, 1) and d_bad in (0, 1) and d_received + d_bad >= 1, "every frame is counted"
    for action in session.actions:
        assert isinstance(action, Send | Status | Log)
    session.actions.clear()
    if out is not None:
        topic, msg = out
        assert topic.startswith("md.") and isinstance(msg, wire.BusMessage)
        assert d_bad == 0 and d_received == 1
        wire.decode(wire.encode(msg))  # what the publisher sends must encode and decode
        return "published"
    grown = [k for k, v in session.stats.malformed.items() if v != before_bad.get(k, 0)]
    if grown:
        assert _feed_state(session) == before_state, "a dropped frame must not change the session"
        return f"malformed:{grown[0]}"
    return "control"


# ---------------------------------------------------------------------------------- book
BOOK_SNAPSHOT = _sample_lines("ws_public_orderbook_spot_50_BTCUSDT_snapshot_delta_2024.jsonl")[0]


def book_registry() -> BookRegistry:
    """A registry holding the real spot BTCUSDT snapshot (live) and an empty linear book."""
    frame = json.loads(BOOK_SNAPSHOT)
    d = frame["data"]
    reg = BookRegistry([("spot", "BTCUSDT"), ("linear", "ETHUSDT")], 0.0, depth=50)
    msg = wire.BookUpdate(
        "spot", "BTCUSDT", 50, "snapshot", [tuple(x) for x in d["b"]], [tuple(x) for x in d["a"]],
        d["u"], d.get("seq", 0), frame["ts"], frame.get("cts", 0), RECV_NS,
    )  # fmt: skip
    reg.on_book(msg, 1.0)
    assert reg.books[("spot", "BTCUSDT")].state == "live"
    return reg


BOOK_REQUESTS: list[dict[str, Any]] = [
    {"op": "book", "category": "spot", "symbol": "BTCUSDT", "depth": 5},
    {"op": "book", "category": "spot", "symbol": "BTCUSDT"},
    {"op": "top", "category": "spot", "symbol": "BTCUSDT"},
    {"op": "top", "category": "linear", "symbol": "ETHUSDT"},
    {"op": "impact", "category": "spot", "symbol": "BTCUSDT", "side": "Buy", "qty": "0.5"},
    {"op": "impact", "category": "spot", "symbol": "BTCUSDT", "side": "Sell", "qty": "12.000001"},
    {"op": "symbols"},
    {"op": "status"},
    {"op": "ping"},
]


def book_seeds() -> list[bytes]:
    return [msgspec.json.encode(r) for r in BOOK_REQUESTS]


def _book_state(reg: BookRegistry) -> Any:
    return {
        key: (sb.state, sb.u, sb.seq, sb.ts, sb.book.top_bids(), sb.book.top_asks())
        for key, sb in reg.books.items()
    }


def check_book_query(reg: BookRegistry, body: bytes, max_bytes: int = 65536) -> str | None:
    """Answer one query; return its error code (None when ok). The books must not change."""
    before = _book_state(reg)
    op, reply, code = queries.handle(body, reg, 2.0, max_bytes=max_bytes, status=lambda: {"service": "book"})
    assert op in (*queries.OPS, "invalid")
    out = msgspec.json.decode(reply)
    assert isinstance(out, dict) and out["ok"] is (code is None)
    if code is not None:
        assert code in queries.ERROR_CODES and code != queries.INTERNAL, (code, out, body[:200])
        assert out["error"]["code"] == code and isinstance(out["error"]["message"], str)
    assert _book_state(reg) == before, "a query must not change a book"
    return code


# ---------------------------------------------------------------------------------- executor
def _inst(category: str, symbol: str, tick: str, step: str, min_qty: str, **kw: str) -> Instrument:
    extra = {k: Decimal(v) for k, v in kw.items()}
    return Instrument(category, symbol, "Trading", Decimal(tick), Decimal(step), Decimal(min_qty), **extra)


#: The simulator's real rules (services/bybit_sim/core/instruments.py), plus very fine grids
#: (Bybit lists meme coins with 1e-10 ticks) where exact arithmetic needs more than 28 digits.
INSTRUMENTS: dict[tuple[str, str], Instrument] = {
    ("linear", "BTCUSDT"): _inst("linear", "BTCUSDT", "0.10", "0.001", "0.001", max_qty="1190",
                                 max_mkt_qty="119", min_price="0.10", max_price="1999999.80",
                                 min_notional="5"),
    ("spot", "BTCUSDT"): _inst("spot", "BTCUSDT", "0.01", "0.000001", "0.000048", max_qty="71.73956243",
                               min_notional="1", max_notional="2000000", quote_step="0.00000001"),
    ("inverse", "BTCUSD"): _inst("inverse", "BTCUSD", "0.50", "1", "1", max_qty="150000000"),
    ("spot", "MEMEUSDT"): _inst("spot", "MEMEUSDT", "0.0000000001", "0.0000000001", "1",
                                quote_step="0.000000000001"),
    ("linear", "MEMEUSDT"): _inst("linear", "MEMEUSDT", "0.0000000001", "0.00000000001", "1"),
}  # fmt: skip

INTENTS: list[dict[str, Any]] = [
    {"action": "create", "category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
     "qty": "0.010", "price": "65000.5", "timeInForce": "GTC"},
    {"action": "create", "category": "spot", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market",
     "qty": "100", "marketUnit": "quoteCoin"},
    {"action": "create", "category": "inverse", "symbol": "BTCUSD", "side": "Sell", "orderType": "Limit",
     "qty": "10", "price": "70000.5", "orderLinkId": "s1-1", "positionIdx": 0, "reduceOnly": False},
    {"action": "create", "category": "spot", "symbol": "MEMEUSDT", "side": "Sell", "orderType": "Limit",
     "qty": "1000", "price": "0.0000012345", "timeInForce": "PostOnly"},
    {"action": "cancel", "category": "linear", "symbol": "BTCUSDT", "orderLinkId": "s1-1"},
    {"action": "cancel", "category": "spot", "symbol": "BTCUSDT", "orderId": "1234-5678"},
    {"action": "amend", "category": "linear", "symbol": "BTCUSDT", "orderLinkId": "s1-1", "price": "65010"},
    {"action": "amend", "category": "linear", "symbol": "MEMEUSDT", "orderId": "9", "qty": "2.5"},
    {"action": "cancel_all", "category": "linear", "settleCoin": "USDT"},
    {"action": "cancel_all", "category": "spot"},
    {"action": "kill_switch", "on": True},
]  # fmt: skip


def intent_seeds() -> list[bytes]:
    return [msgspec.json.encode(i) for i in INTENTS]


LIMITS = RiskLimits(Decimal(100000), Decimal(10), 200, 1e9, Decimal(5))


def check_intent(raw: bytes, mid: Decimal | None = Decimal("65000")) -> str:
    """Decode, validate and risk-check one intent body; return ``"refused:<code>"`` or ``"ok"``.

    Only :class:`IntentError` and :class:`Refusal` may come out; nothing else may escape.
    """
    peek = peek_fields(raw)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in peek.items())
    try:
        intent = decode_intent(raw, MAX_INTENT_BYTES)
    except IntentError as exc:
        assert exc.code == "schema" and isinstance(exc.message, str)
        return "refused:schema"
    assert from_json(to_json(intent)) == intent, "the journal form must round-trip"
    try:
        if isinstance(intent, CreateIntent):
            inst = INSTRUMENTS.get((intent.category, intent.symbol))
            checked = validate_create(intent, inst, mid)
            gate = RiskGate(LIMITS, kill_switch=False, now_ms=0.0)
            gate.check_create(intent, checked, Exposure(), 0, mid, "live", 0.0)
        elif isinstance(intent, AmendIntent):
            validate_amend(intent, INSTRUMENTS.get((intent.category, intent.symbol)))
    except Refusal as exc:
        assert exc.code and isinstance(exc.message, str)
        return f"refused:{exc.code}"
    return "ok"
