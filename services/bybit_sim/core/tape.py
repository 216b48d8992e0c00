"""Trades and tickers: the ``publicTrade.{SYMBOL}`` and ``tickers.{SYMBOL}`` topics.

:class:`Tape` (one per symbol) turns the book's fills into Bybit trade records (spot 19-digit
numeric ids; futures UUID ids with the ``L`` tick direction) and keeps the 24 h statistics the
tickers report. :class:`TickerStream` publishes linear/inverse tickers as one snapshot followed
by deltas holding only changed fields, and spot tickers as full snapshots.
"""

from __future__ import annotations

import random
import uuid
import zlib
from decimal import Decimal
from typing import Any

from services.bybit_sim.core.book import PublicTrade, SimBook
from services.bybit_sim.core.streams import encode

_FUNDING_MS = 8 * 3600 * 1000


class Tape:
    """Trade ids, tick direction and 24 h statistics of one symbol."""

    def __init__(self, category: str, book: SimBook, seed: int) -> None:
        inst = book.instrument
        self.category = category
        self.book = book
        self.symbol = inst.symbol
        self.topic = f"publicTrade.{inst.symbol}"
        self.rng = random.Random(zlib.crc32(f"tape:{seed}:{category}:{inst.symbol}".encode()))
        self.next_id = 2_290_000_000_000_000_000 + self.rng.randrange(10**12)
        self.last = inst.ref_ticks
        self.high = inst.ref_ticks + inst.ref_ticks // 50
        self.low = inst.ref_ticks - inst.ref_ticks // 50
        self.direction = "ZeroPlusTick"
        self.volume_lots = inst.ref_lots * 5000
        self.turnover = inst.price_of(inst.ref_ticks) * inst.qty_of(self.volume_lots)

    def _direction(self, ticks: int) -> str:
        if ticks > self.last:
            return "PlusTick"
        if ticks < self.last:
            return "MinusTick"
        return "ZeroPlusTick" if self.direction in ("PlusTick", "ZeroPlusTick") else "ZeroMinusTick"

    def records(self, trades: list[PublicTrade], ts: int) -> list[dict[str, Any]]:
        """Bybit trade records for ``trades`` (also updates the statistics)."""
        inst = self.book.instrument
        out: list[dict[str, Any]] = []
        spot = self.category == "spot"
        for t in trades:
            self.direction = self._direction(t.ticks)
            self.last = t.ticks
            self.high = max(self.high, t.ticks)
            self.low = min(self.low, t.ticks)
            self.volume_lots += t.lots
            p, v = inst.fmt_price(t.ticks), inst.fmt_qty(t.lots)
            self.turnover += inst.price_of(t.ticks) * inst.qty_of(t.lots)
            if spot:
                self.next_id += 1
                out.append({"i": str(self.next_id), "T": ts - 1, "p": p, "v": v, "S": t.taker_side,
                            "s": self.symbol, "BT": False, "seq": t.seq})  # fmt: skip
            else:
                tid = str(uuid.UUID(int=self.rng.getrandbits(128), version=5))
                out.append({"T": ts - 1, "s": self.symbol, "S": t.taker_side, "v": v, "p": p,
                            "L": self.direction, "i": tid, "BT": False, "seq": t.seq})  # fmt: skip
        return out

    def trade_message(self, records: list[dict[str, Any]], ts: int) -> bytes:
        if self.category == "spot":
            return encode({"topic": self.topic, "ts": ts, "type": "snapshot", "data": records})
        return encode({"topic": self.topic, "type": "snapshot", "ts": ts, "data": records})

    def ticker_fields(self, ts: int) -> dict[str, str]:
        """Every ticker field for this category, as Bybit strings."""
        inst, book = self.book.instrument, self.book
        fp = inst.fmt_price
        prev = inst.ref_ticks
        pct = ((Decimal(self.last) - prev) / prev).quantize(Decimal("0.000001"))
        common = {
            "lastPrice": fp(self.last),
            "highPrice24h": fp(self.high),
            "lowPrice24h": fp(self.low),
            "prevPrice24h": fp(prev),
            "volume24h": inst.fmt_qty(self.volume_lots),
            "turnover24h": str(self.turnover.quantize(Decimal("0.0001"))),
            "price24hPcnt": str(pct),
        }
        bid, ask = book.best_bid_ticks(), book.best_ask_ticks()
        mid = (bid + ask) // 2 if bid is not None and ask is not None else self.last
        if self.category == "spot":
            return {"symbol": self.symbol, **common, "usdIndexPrice": fp(mid)}
        oi_lots = inst.ref_lots * 20_000
        oi_value = (inst.qty_of(oi_lots) * inst.price_of(mid)).quantize(Decimal("0.01"))
        return {
            "symbol": self.symbol,
            "tickDirection": self.direction,
            "price24hPcnt": common["price24hPcnt"],
            "lastPrice": common["lastPrice"],
            "prevPrice24h": common["prevPrice24h"],
            "highPrice24h": common["highPrice24h"],
            "lowPrice24h": common["lowPrice24h"],
            "prevPrice1h": fp(prev),
            "markPrice": fp(mid),
            "indexPrice": fp(mid),
            "openInterest": inst.fmt_qty(oi_lots),
            "openInterestValue": str(oi_value),
            "turnover24h": common["turnover24h"],
            "volume24h": common["volume24h"],
            "nextFundingTime": str((ts // _FUNDING_MS + 1) * _FUNDING_MS),
            "fundingRate": "0.0001",
            "bid1Price": fp(bid) if bid is not None else "",
            "bid1Size": inst.fmt_qty(book.b.sizes[book.b.keys[0]]) if bid is not None else "",
            "ask1Price": fp(ask) if ask is not None else "",
            "ask1Size": inst.fmt_qty(book.a.sizes[book.a.keys[0]]) if ask is not None else "",
        }


class TickerStream:
    """``tickers.{SYMBOL}``: snapshot then changed-field deltas (futures), full snapshots (spot)."""

    def __init__(self, category: str, tape: Tape) -> None:
        self.category = category
        self.tape = tape
        self.topic = f"tickers.{tape.symbol}"
        self.sent: dict[str, str] = {}
        self.cs = 0
        self.active = False

    def activate(self, ts: int) -> None:
        self.active = True
        self.sent = self.tape.ticker_fields(ts)
        self.cs = self.tape.book.seq

    def _message(self, kind: str, data: dict[str, str], ts: int) -> bytes:
        if self.category == "spot":
            return encode({"topic": self.topic, "ts": ts, "type": kind, "cs": self.cs, "data": data})
        return encode({"topic": self.topic, "type": kind, "data": data, "cs": self.cs, "ts": ts})

    def snapshot(self, ts: int) -> bytes:
        return self._message("snapshot", dict(self.sent), ts)

    def push(self, ts: int) -> bytes | None:
        if not self.active:
            return None
        fields = self.tape.ticker_fields(ts)
        if self.category == "spot":
            self.sent = fields
            self.cs = self.tape.book.seq
            return self._message("snapshot", fields, ts)
        changed = {k: v for k, v in fields.items() if self.sent.get(k) != v}
        if not changed:
            return None
        self.sent = fields
        self.cs = self.tape.book.seq
        return self._message("delta", {"symbol": self.tape.symbol, **changed}, ts)
