"""Sans-I/O public WebSocket session: parse client frames, answer in each category's dialect.

Spot acks carry ``ret_msg:"subscribe"`` and ``req_id`` only when the client sent one;
linear/inverse acks carry ``ret_msg:""`` and always ``req_id`` (``""`` if none). Pongs echo
``op:"ping"`` with ``ret_msg:"pong"`` (linear/inverse add ``req_id``). A subscribe request is
atomic: the first invalid topic (unknown symbol, unsupported depth, wrong category) or already
subscribed topic refuses the whole request, as does a spot request with more than 10 args.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.bybit_sim.core.streams import encode

SPOT_MAX_ARGS = 10
BOOK_DEPTHS = frozenset((1, 50, 200, 1000))


def parse_topic(topic: str) -> tuple[str, int, str] | None:
    """``("orderbook", depth, SYMBOL)``, ``("publicTrade", 0, SYMBOL)``, ``("tickers", 0, SYMBOL)``."""
    parts = topic.split(".")
    if len(parts) == 3 and parts[0] == "orderbook" and parts[1].isdigit():
        return "orderbook", int(parts[1]), parts[2]
    if len(parts) == 2 and parts[0] in ("publicTrade", "tickers") and parts[1]:
        return parts[0], 0, parts[1]
    return None


@dataclass(slots=True)
class Outcome:
    """What the shell must do for one client frame, in order: send ``frames``, and
    (un)subscribe ``topics``. For a subscribe the ack is ``frames[0]`` (the shell decides
    whether snapshots go before or after it). ``kind`` is for metrics."""

    kind: str  # subscribe | unsubscribe | ping | error
    frames: list[bytes] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)


class PublicSession:
    """State of one public connection: its category, conn_id and subscribed topics."""

    def __init__(self, category: str, conn_id: str, topic_ok: Callable[[str, str], bool]) -> None:
        self.category = category
        self.conn_id = conn_id
        self.topic_ok = topic_ok
        self.topics: set[str] = set()

    def _frame(self, success: bool, ret_msg: str, op: str, req_id: Any) -> bytes:
        msg: dict[str, Any] = {"success": success, "ret_msg": ret_msg, "conn_id": self.conn_id}
        if self.category != "spot":
            msg["req_id"] = "" if req_id is None else req_id
        elif req_id is not None:
            msg["req_id"] = req_id
        msg["op"] = op
        return encode(msg)

    def handle(self, raw: str | bytes) -> Outcome:
        """Process one text frame from the client."""
        try:
            req = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            req = None
        if not isinstance(req, dict):
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            found = text.lstrip()[:1] or "EOF"
            snippet = text[:10]
            msg = (
                f"Failed to decode incoming data:readObjectStart: expect {{ or n, but found {found}, "
                f"error found in #1 byte of ...|{snippet}|..., bigger context ...|{snippet}|..."
            )
            return Outcome("error", [self._frame(False, msg, "", None)])
        op = req.get("op")
        req_id = req.get("req_id")
        if op == "ping":
            return Outcome("ping", [self._frame(True, "pong", "ping", req_id)])
        if op not in ("subscribe", "unsubscribe"):
            return Outcome(
                "error", [self._frame(False, "error:invalid op", op if isinstance(op, str) else "", req_id)]
            )
        args = req.get("args")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args) or not args:
            return Outcome("error", [self._frame(False, "error:args invalid", op, req_id)])
        if self.category == "spot" and len(args) > SPOT_MAX_ARGS:
            return Outcome("error", [self._frame(False, f"args size >{SPOT_MAX_ARGS}", op, req_id)])
        ok_msg = op if self.category == "spot" else ""  # spot echoes the op in ret_msg
        if op == "subscribe":
            seen: set[str] = set()
            for topic in args:
                if not self.topic_ok(self.category, topic):
                    return Outcome(
                        "error", [self._frame(False, f"error:handler not found,topic:{topic}", op, req_id)]
                    )
                if topic in self.topics or topic in seen:
                    return Outcome(
                        "error", [self._frame(False, f"error:already subscribed,topic:{topic}", op, req_id)]
                    )
                seen.add(topic)
            self.topics.update(args)
            return Outcome("subscribe", [self._frame(True, ok_msg, op, req_id)], list(args))
        for topic in args:
            if not self.topic_ok(self.category, topic):
                return Outcome(
                    "error", [self._frame(False, f"error:handler not found,topic:{topic}", op, req_id)]
                )
        gone = [t for t in args if t in self.topics]
        self.topics.difference_update(args)
        return Outcome("unsubscribe", [self._frame(True, ok_msg, op, req_id)], gone)
