"""Typed msgspec schemas of the Bybit v5 public frames the feed reads (spot, linear, inverse).

Decoding is by key, never by position, so the different key orders of spot and futures frames
do not matter. Prices and sizes are kept as the exact strings Bybit sent. Field names mirror
Bybit's (renamed to readable attribute names where Bybit uses one letter).

Two decoders are used on the hot path:

* :data:`book_frame_decoder` decodes a whole order-book frame in one pass (frames that start with
  ``{"topic":"orderbook.`` - every real capture does);
* :data:`envelope_decoder` decodes any other frame into :class:`Envelope`, whose ``data`` stays
  a :class:`msgspec.Raw` span: it is decoded once, by the schema of the frame's topic, and never
  for control frames (which have no ``data``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

#: ``[price, size]``, both decimal strings.
RawLevel = tuple[str, str]
#: An integer the bus can carry (int64, as every reader can hold it); a larger one is a schema error
#: (before, it decoded and then made the publisher's msgpack encode raise, costing a reconnect).
Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class BookData(msgspec.Struct, gc=False):
    """``data`` of ``orderbook.{depth}.{symbol}``. ``seq`` is absent on option books (0 then)."""

    s: str
    b: list[RawLevel]
    a: list[RawLevel]
    u: Int
    seq: Int = 0


class BookFrame(msgspec.Struct, gc=False):
    """A whole order-book frame. ``cts`` is top level (matching-engine time, 0 when absent)."""

    topic: str
    type: Literal["snapshot", "delta"]
    ts: Int
    data: BookData
    cts: Int = 0


class TradeItem(msgspec.Struct, gc=False):
    """One element of ``publicTrade`` ``data``; ``L`` (tick direction) is futures only."""

    trade_id: str = msgspec.field(name="i")
    time: Int = msgspec.field(name="T")
    price: str = msgspec.field(name="p")
    size: str = msgspec.field(name="v")
    side: str = msgspec.field(name="S")
    symbol: str = msgspec.field(name="s", default="")
    block: bool = msgspec.field(name="BT", default=False)
    tick: str = msgspec.field(name="L", default="")
    seq: Int = 0


#: ``tickers`` ``data``: Bybit's field names to string values (the set differs by category and
#: contract type; every value Bybit sends is a string, ``""`` meaning "n/a").
TickerData = dict[str, str]


class Envelope(msgspec.Struct, gc=False):
    """Any public-stream frame, data frame or control frame.

    Data frames have ``topic``, ``type``, ``ts`` and ``data`` (plus ``cts`` on books, ``cs`` on
    tickers). Control frames (subscribe acks and errors, pongs) have no topic but ``op``,
    ``success``, ``ret_msg``, ``conn_id`` and ``req_id``; option-style pongs carry ``args``.
    """

    topic: str = ""
    type: str = ""
    ts: Int = 0
    cts: Int = 0
    cs: Int = 0
    data: msgspec.Raw = msgspec.Raw(b"")
    op: str = ""
    success: bool | None = None
    ret_msg: str = ""
    conn_id: str = ""
    req_id: str = ""


book_frame_decoder = msgspec.json.Decoder(BookFrame)
envelope_decoder = msgspec.json.Decoder(Envelope)
book_data_decoder = msgspec.json.Decoder(BookData)
trades_decoder = msgspec.json.Decoder(list[TradeItem])
ticker_decoder = msgspec.json.Decoder(TickerData)
#: Fallback for a ticker with a non-string value: each value kept as its exact JSON text.
ticker_raw_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])

#: Prefix of every order-book frame Bybit sends (``topic`` is its first key).
BOOK_PREFIX = b'{"topic":"orderbook.'

#: Everything a decoder raises on bad input: msgspec also raises UnicodeDecodeError (invalid UTF-8
#: inside a string) and RecursionError (absurdly nested JSON), which are not DecodeErrors.
DecodeErrors = (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError)


def ticker_fields(raw: msgspec.Raw | bytes) -> TickerData:
    """Decode ticker ``data`` to ``{name: string}``; a non-string value keeps its JSON text.

    Raises:
        msgspec.DecodeError / msgspec.ValidationError: not a JSON object.
    """
    try:
        return ticker_decoder.decode(raw)
    except msgspec.ValidationError:
        out: TickerData = {}
        for key, value in ticker_raw_decoder.decode(raw).items():
            text = bytes(value).decode()
            out[key] = msgspec.json.decode(text) if text.startswith('"') else text
        return out
