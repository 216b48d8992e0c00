"""The bus contract: every message that crosses a ZMQ PUB socket, as msgspec structs.

A bus message is two ZMQ frames: ``[topic, payload]``. The topic is ASCII, dotted
(see :mod:`services.common.topics`). The payload is a MessagePack **map** whose ``"kind"``
key names the message type (``book``, ``trades``, ``ticker``, ``status``, ``hb``, ``bbo``,
``report``); the other keys are the fields below, by name. Any language with a MessagePack
library can read it. Prices and sizes are decimal **strings** exactly as Bybit sent them.

Every published message carries ``epoch`` (the publisher's start time in ns: a new value means
the publisher restarted) and ``bus_seq`` (1, 2, 3, … per topic within one epoch). A subscriber
that sees ``bus_seq`` jump within an epoch has lost messages on the bus; the publisher's
heartbeat lists the last ``bus_seq`` of every topic, so even the loss of a topic's latest
message is noticed.

``SCHEMA_VERSION`` changes whenever a field is removed or changes meaning.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from services.common.errors import WireDecodeError

SCHEMA_VERSION = 1

#: ``[price, size]`` as decimal strings.
Level = tuple[str, str]


class BookUpdate(msgspec.Struct, tag="book", tag_field="kind", gc=False):
    """An order-book message from Bybit, normalised (topic ``md.book.<category>.<symbol>``).

    ``type`` is ``snapshot`` (replace the book) or ``delta`` (absolute sizes; ``"0"`` deletes).
    ``u`` is Bybit's per-topic update id, ``seq`` its cross sequence (0 when absent),
    ``ts`` Bybit's push time and ``cts`` its matching-engine time (ms; 0 when absent),
    ``recv_ns`` the feed's local receive time (ns since the epoch).
    """

    category: str
    symbol: str
    depth: int
    type: Literal["snapshot", "delta"]
    bids: list[Level]
    asks: list[Level]
    u: int
    seq: int
    ts: int
    cts: int
    recv_ns: int
    epoch: int = 0
    bus_seq: int = 0


class Trade(msgspec.Struct, gc=False):
    """One public trade. ``side`` is the taker side (``Buy``/``Sell``); ``time`` is Bybit's ``T`` (ms)."""

    id: str
    time: int
    price: str
    size: str
    side: str
    block: bool = False
    tick: str = ""
    seq: int = 0


class Trades(msgspec.Struct, tag="trades", tag_field="kind", gc=False):
    """A ``publicTrade`` message (topic ``md.trade.<category>.<symbol>``)."""

    category: str
    symbol: str
    trades: list[Trade]
    ts: int
    recv_ns: int
    epoch: int = 0
    bus_seq: int = 0


class Ticker(msgspec.Struct, tag="ticker", tag_field="kind", gc=False):
    """A ticker (topic ``md.ticker.<category>.<symbol>``).

    ``fields`` is always the **full merged** ticker with Bybit's own field names (the feed merges
    linear/inverse deltas into its last snapshot); ``changed`` lists the keys this message changed.
    """

    category: str
    symbol: str
    type: Literal["snapshot", "delta"]
    fields: dict[str, str]
    changed: list[str]
    cs: int
    ts: int
    recv_ns: int
    epoch: int = 0
    bus_seq: int = 0


class StreamStatus(msgspec.Struct, tag="status", tag_field="kind", gc=False):
    """The feed's connection state for one symbol (topic ``md.status.<category>.<symbol>``).

    ``state``: ``subscribed``, ``disconnected`` (data may be missing until the next snapshot),
    ``resubscribing`` (a fresh snapshot was asked for) or ``error`` (see ``reason``).
    """

    category: str
    symbol: str
    state: str
    reason: str
    ts_ns: int
    epoch: int = 0
    bus_seq: int = 0


class Heartbeat(msgspec.Struct, tag="hb", tag_field="kind", gc=False):
    """A service's periodic heartbeat (topic ``sys.hb.<service>``).

    ``seqs`` maps each topic this publisher has sent to its last ``bus_seq``; ``info`` carries
    service-specific state (e.g. connection states) as strings.
    """

    service: str
    ts_ns: int
    seqs: dict[str, int]
    info: dict[str, str] = {}
    epoch: int = 0
    bus_seq: int = 0


class Bbo(msgspec.Struct, tag="bbo", tag_field="kind", gc=False):
    """Best bid and offer from the book service (topic ``bk.bbo.<category>.<symbol>``).

    Empty strings when a side is empty. ``state`` is the book's state; ``ts`` is the exchange
    time of the update that changed it and ``recv_ns`` when the feed received that update.
    """

    category: str
    symbol: str
    state: str
    bid: str
    bid_size: str
    ask: str
    ask_size: str
    u: int
    ts: int
    recv_ns: int
    pub_ns: int
    epoch: int = 0
    bus_seq: int = 0


class ExecReport(msgspec.Struct, tag="report", tag_field="kind", gc=False):
    """An execution report from the executor (topic ``ex.report.<category>.<symbol>``).

    ``status``: ``accepted``, ``rejected``, ``new``, ``partially_filled``, ``filled``, ``cancelled``,
    ``amended``, ``unknown_pending_check``, ``position``, ``wallet``.
    ``code`` is Bybit's retCode or one of ours (see docs/orders.md); ``data`` holds Bybit's
    own fields for the event as strings (e.g. ``orderId``, ``cumExecQty``, ``avgPrice``).
    """

    status: str
    action: str
    category: str
    symbol: str
    order_link_id: str
    order_id: str
    code: str
    reason: str
    ts_ns: int
    data: dict[str, str] = {}
    epoch: int = 0
    bus_seq: int = 0


BusMessage = BookUpdate | Trades | Ticker | StreamStatus | Heartbeat | Bbo | ExecReport

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(BusMessage)


def encode(msg: BusMessage) -> bytes:
    """Encode a bus message to its MessagePack payload."""
    return _encoder.encode(msg)


def decode(payload: bytes) -> BusMessage:
    """Decode a payload; raise :class:`WireDecodeError` if it is not a valid bus message."""
    try:
        msg: BusMessage = _decoder.decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise WireDecodeError(f"undecodable bus payload: {exc}") from None
    return msg
