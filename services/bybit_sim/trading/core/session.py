"""Sans-I/O private WebSocket session (``/v5/private``): auth, ping, subscribe, and push envelopes.

Pure: :meth:`PrivateSession.handle` takes one received text frame and the server time and
returns the replies to send; the shell owns the socket. Reply shapes follow the real captures
(PROTOCOL.md §5.1/§5.2): snake_case control frames ``{"req_id"?, "success", "ret_msg", "op",
"conn_id"}``, pong ``{"req_id"?, "op":"pong", "args":["<ms>"], "conn_id"}``. Topics: ``order``,
``execution``, ``execution.fast``, ``position``, ``wallet`` and the category variants
(``order.linear`` ...; no ``position.spot``). An all-in-one topic and its categorised form cannot
be in one subscribe request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.bybit_sim.trading.core.engine import Push
from services.bybit_sim.trading.core.signing import ApiKey, WsAuthError, authenticate_ws

_CATS = ("spot", "linear", "inverse", "option")
TOPICS = frozenset(
    ["order", "execution", "execution.fast", "position", "wallet"]
    + [f"order.{c}" for c in _CATS]
    + [f"execution.{c}" for c in _CATS]
    + [f"execution.fast.{c}" for c in _CATS]
    + [f"position.{c}" for c in _CATS if c != "spot"]
)
_FAST_FIELDS = ("category", "symbol", "execId", "execPrice", "execQty", "orderId", "isMaker", "orderLinkId",
                "side", "execTime", "seq")  # fmt: skip


def _base(topic: str) -> str:
    if topic.startswith("execution.fast"):
        return "execution.fast"
    return topic.split(".", 1)[0]


class PrivateSession:
    """State of one private connection: its account once authenticated and its topics."""

    def __init__(self, conn_id: str, keys: Mapping[str, ApiKey]) -> None:
        self.conn_id = conn_id
        self.keys = keys
        self.key: ApiKey | None = None
        self.topics: set[str] = set()
        self.bad_frames = 0

    @property
    def uid(self) -> int | None:
        return None if self.key is None else self.key.uid

    def _control(self, req: Mapping[str, Any], op: str, success: bool, ret_msg: str) -> dict[str, Any]:
        reply: dict[str, Any] = {}
        if "req_id" in req:
            reply["req_id"] = req["req_id"]
        reply.update(success=success, ret_msg=ret_msg, op=op, conn_id=self.conn_id)
        return reply

    def handle(self, text: str | bytes, now_ms: int) -> list[dict[str, Any]]:
        """Process one client frame; return the replies (usually one)."""
        try:
            req = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            self.bad_frames += 1
            return [
                {
                    "success": False,
                    "ret_msg": f"Failed to decode incoming data:{exc}",
                    "conn_id": self.conn_id,
                }
            ]
        if not isinstance(req, dict):
            self.bad_frames += 1
            return [{"success": False, "ret_msg": "error:invalid op", "conn_id": self.conn_id}]
        op = req.get("op")
        if op == "ping":
            pong: dict[str, Any] = {}
            if "req_id" in req:
                pong["req_id"] = req["req_id"]
            pong.update(op="pong", args=[str(now_ms)], conn_id=self.conn_id)
            return [pong]
        if op == "auth":
            return [self._auth(req, now_ms)]
        if op in ("subscribe", "unsubscribe"):
            return [self._subscribe(req, op)]
        self.bad_frames += 1
        return [self._control(req, str(op), False, "error:invalid op")]

    def _auth(self, req: Mapping[str, Any], now_ms: int) -> dict[str, Any]:
        if self.key is not None:
            return self._control(req, "auth", False, "Repeat auth")
        try:
            self.key = authenticate_ws(self.keys, req.get("args"), now_ms)
        except WsAuthError as exc:
            return self._control(req, "auth", False, exc.ret_msg)
        return self._control(req, "auth", True, "")

    def _subscribe(self, req: Mapping[str, Any], op: str) -> dict[str, Any]:
        if self.key is None:
            return self._control(req, op, False, "Request not authorized")
        args = req.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            return self._control(req, op, False, "Params Error")
        for topic in args:
            if topic not in TOPICS:
                return self._control(req, op, False, f"error:handler not found,topic:{topic}")
        for topic in args:
            base = _base(topic)
            if topic != base and base in args:
                msg = f"error:topic {base} and {topic} cannot be subscribed together"
                return self._control(req, op, False, msg)
        if op == "subscribe":
            for topic in args:
                if topic in self.topics:
                    return self._control(req, op, False, f"error:already subscribed,topic:{topic}")
            self.topics.update(args)
        else:
            self.topics.difference_update(args)
        return self._control(req, op, True, "")

    def deliveries(self, push: Push) -> list[tuple[str, list[dict[str, Any]]]]:
        """The ``(topic, data)`` messages this session gets for ``push`` (none if not its account)."""
        if self.key is None or push.uid != self.key.uid:
            return []
        out: list[tuple[str, list[dict[str, Any]]]] = []
        names = [push.topic]
        if push.category:
            names.append(f"{push.topic}.{push.category}")
        for name in names:
            if name in self.topics:
                out.append((name, push.data))
        if push.topic == "execution":
            fast = [{k: r[k] for k in _FAST_FIELDS if k in r} for r in push.data]
            for name in ("execution.fast", f"execution.fast.{push.category}"):
                if name in self.topics:
                    out.append((name, fast))
        return out
