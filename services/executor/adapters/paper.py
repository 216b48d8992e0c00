"""Paper trading: a stand-in for Bybit's private REST and stream, filling against the live book.

It answers the same REST calls as Bybit (create, create-batch, cancel, amend, cancel-all, order
lookup, positions) with Bybit-shaped bodies, and emits Bybit-shaped private ``order``,
``execution`` and ``position`` frames onto the executor's stream socket, so the engine, journal and
reports work unchanged. Public calls (time, instruments) go to the real REST URL without keys.

Fill model: a Market order, or a Limit order that crosses the book service's best opposite price,
fills in full at that best price (taker); resting Limit orders fill in full at their own price once
the opposite best price reaches them (checked every second). PostOnly orders that would cross are
cancelled (``EC_PostOnlyWillTakeLiquidity``); IOC/FOK orders that do not cross are cancelled.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import msgspec
import zmq

from services.executor.adapters.book import BookPrices
from services.executor.adapters.private_ws import INPROC
from services.executor.adapters.rest import RestClient
from services.executor.core import requests as rq
from services.executor.core.responses import HttpResult

_enc = msgspec.json.Encoder()


@dataclass(slots=True)
class PaperOrder:
    category: str
    symbol: str
    side: str
    order_type: str
    qty: Decimal
    price: Decimal | None
    tif: str
    link: str
    order_id: str
    status: str = "New"
    avg: str = ""
    created_ms: int = 0

    def record(self, now_ms: int) -> dict[str, Any]:
        filled = self.status == "Filled"
        return {
            "category": self.category,
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderLinkId": self.link,
            "side": self.side,
            "orderType": self.order_type,
            "price": str(self.price or ""),
            "qty": str(self.qty),
            "timeInForce": self.tif,
            "orderStatus": self.status,
            "avgPrice": self.avg,
            "cumExecQty": str(self.qty) if filled else "0",
            "leavesQty": "0" if self.status != "New" else str(self.qty),
            "rejectReason": "EC_NoError",
            "createdTime": str(self.created_ms),
            "updatedTime": str(now_ms),
        }


class PaperVenue:
    def __init__(
        self, rest: RestClient, book: BookPrices | None, ctx: zmq.Context[zmq.Socket[bytes]]
    ) -> None:
        self.rest = rest
        self.book = book
        self.push: zmq.Socket[bytes] = ctx.socket(zmq.PUSH)
        self.push.setsockopt(zmq.LINGER, 0)
        self.push.connect(INPROC)
        self.orders: dict[str, PaperOrder] = {}
        self.by_id: dict[str, PaperOrder] = {}
        self.positions: dict[tuple[str, str], Decimal] = {}
        self._ids = itertools.count(1)

    @property
    def offset_ms(self) -> int:
        return self.rest.offset_ms

    def now_ms(self) -> int:
        return self.rest.now_ms()

    def sync_clock(self, call: rq.RestCall) -> int | None:
        return self.rest.sync_clock(call)

    # --- REST ----------------------------------------------------------------------------------
    def send(self, call: rq.RestCall, *, timeout: float | None = None) -> HttpResult:
        if not call.signed:
            return self.rest.send(call, timeout=timeout)
        if call.method == "GET":
            params = dict(parse_qsl(call.payload.decode()))
            if call.path == rq.REALTIME:
                return self._ok(
                    {"category": params.get("category", ""), "list": self._list(params), "nextPageCursor": ""}
                )
            return self._ok({"category": params.get("category", ""), "list": [], "nextPageCursor": ""})
        body = msgspec.json.decode(call.payload)
        if call.path == rq.CREATE:
            code, msg, result = self._create(body)
            return self._reply(code, msg, result)
        if call.path == rq.CREATE_BATCH:
            items, codes = [], []
            for item in body.get("request", []):
                code, msg, result = self._create({**item, "category": body.get("category")})
                items.append(result or {"orderId": "", "orderLinkId": item.get("orderLinkId", "")})
                codes.append({"code": code, "msg": msg})
            return self._ok({"list": items}, {"list": codes})
        if call.path in (rq.CANCEL, rq.AMEND):
            order = self._find(body)
            if order is None or order.status != "New":
                return self._reply(110001, "order not exists or too late to cancel", {})
            if call.path == rq.CANCEL:
                order.status = "Cancelled"
            else:
                order.qty = Decimal(body.get("qty", order.qty))
                order.price = Decimal(body["price"]) if "price" in body else order.price
                self._try_fill(order)
            self._emit_order(order)
            return self._ok({"orderId": order.order_id, "orderLinkId": order.link})
        if call.path == rq.CANCEL_ALL:
            done = []
            for order in list(self.orders.values()):
                if (
                    order.status == "New"
                    and order.category == body.get("category")
                    and ("symbol" not in body or order.symbol == body["symbol"])
                ):
                    order.status = "Cancelled"
                    self._emit_order(order)
                    done.append({"orderId": order.order_id, "orderLinkId": order.link})
            return self._ok({"list": done, "success": "1"})
        return self._reply(10017, "route not found", {})

    def _list(self, params: dict[str, str]) -> list[dict[str, Any]]:
        now = self.now_ms()
        link = params.get("orderLinkId")
        if link:
            order = self.orders.get(link)
            return [order.record(now)] if order else []
        return [
            o.record(now)
            for o in self.orders.values()
            if o.status == "New"
            and o.category == params.get("category")
            and params.get("symbol", o.symbol) == o.symbol
        ]

    def _find(self, body: dict[str, Any]) -> PaperOrder | None:
        if body.get("orderId"):
            return self.by_id.get(str(body["orderId"]))
        return self.orders.get(str(body.get("orderLinkId", "")))

    def _create(self, body: dict[str, Any]) -> tuple[int, str, dict[str, Any] | None]:
        link = str(body.get("orderLinkId", ""))
        if link in self.orders:
            return (170141 if body.get("category") == "spot" else 110072), "OrderLinkedID is duplicate", None
        price = body.get("price")
        order = PaperOrder(
            str(body["category"]),
            str(body["symbol"]),
            str(body["side"]),
            str(body["orderType"]),
            Decimal(str(body["qty"])),
            Decimal(price) if price and body["orderType"] == "Limit" else None,
            str(body.get("timeInForce", "GTC" if body["orderType"] == "Limit" else "IOC")),
            link,
            f"paper-{next(self._ids)}",
            created_ms=self.now_ms(),
        )
        self.orders[link] = order
        self.by_id[order.order_id] = order
        self._emit_order(order)
        self._try_fill(order, new=True)
        return 0, "OK", {"orderId": order.order_id, "orderLinkId": link}

    # --- matching ------------------------------------------------------------------------------
    def _try_fill(self, order: PaperOrder, *, new: bool = False) -> None:
        if order.status != "New" or self.book is None:
            return
        top = self.book.top(order.category, order.symbol)
        opposite = top.ask if order.side == "Buy" else top.bid
        crosses = opposite is not None and (
            order.price is None
            or (order.price >= opposite if order.side == "Buy" else order.price <= opposite)
        )
        if new and order.tif == "PostOnly" and crosses:
            order.status = "Cancelled"
        elif crosses and opposite is not None:
            self._fill(order, opposite if new else (order.price or opposite), taker=new)
        elif new and (order.tif in ("IOC", "FOK") or order.price is None):
            order.status = "Cancelled"
        else:
            return
        self._emit_order(order)

    def _fill(self, order: PaperOrder, price: Decimal, *, taker: bool) -> None:
        order.status, order.avg = "Filled", str(price)
        now = self.now_ms()
        key = (order.category, order.symbol)
        pos = self.positions.get(key, Decimal(0)) + (order.qty if order.side == "Buy" else -order.qty)
        self.positions[key] = pos
        self._frame(
            "execution",
            {
                "category": order.category,
                "symbol": order.symbol,
                "orderId": order.order_id,
                "orderLinkId": order.link,
                "side": order.side,
                "execId": f"pe-{next(self._ids)}",
                "execPrice": str(price),
                "execQty": str(order.qty),
                "execType": "Trade",
                "execTime": str(now),
                "isMaker": not taker,
                "leavesQty": "0",
                "orderQty": str(order.qty),
            },
        )
        if order.category != "spot":
            self._frame(
                "position",
                {
                    "category": order.category,
                    "symbol": order.symbol,
                    "side": "Buy" if pos > 0 else "Sell" if pos < 0 else "",
                    "size": str(abs(pos)),
                    "positionIdx": 0,
                    "updatedTime": str(now),
                },
            )

    def tick(self) -> None:
        """Re-check resting orders against the book (called about once a second)."""
        for order in list(self.orders.values()):
            if order.status == "New":
                self._try_fill(order)

    # --- frames --------------------------------------------------------------------------------
    def _emit_order(self, order: PaperOrder) -> None:
        self._frame("order", order.record(self.now_ms()))

    def _frame(self, topic: str, record: dict[str, Any]) -> None:
        now = self.now_ms()
        self.push.send(
            _enc.encode({"topic": topic, "id": f"paper-{now}", "creationTime": now, "data": [record]})
        )

    @staticmethod
    def _ok(result: dict[str, Any], ext: dict[str, Any] | None = None) -> HttpResult:
        return PaperVenue._reply(0, "OK", result, ext)

    @staticmethod
    def _reply(
        code: int, msg: str, result: dict[str, Any] | None, ext: dict[str, Any] | None = None
    ) -> HttpResult:
        body = {
            "retCode": code,
            "retMsg": msg,
            "result": result or {},
            "retExtInfo": ext or {},
            "time": time.time_ns() // 1_000_000,
        }
        return HttpResult(200, _enc.encode(body), {})

    def close(self) -> None:
        self.push.close(linger=0)
