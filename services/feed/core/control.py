"""Requests of the feed's control endpoint (JSON over ZMQ ROUTER), parsed into typed structs.

``{"op":"resnapshot","category":"linear","symbol":"BTCUSDT"}``, ``{"op":"status"}`` and
``{"op":"ping"}``. Replies are JSON objects with ``ok``; errors carry a stable ``code``
(``bad_request``, ``unknown_op``, ``unknown_symbol``) as in :func:`services.common.rpc.error_reply`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from services.common.rpc import error_reply


class Resnapshot(msgspec.Struct, tag="resnapshot", tag_field="op", forbid_unknown_fields=False):
    category: str
    symbol: str


class StatusRequest(msgspec.Struct, tag="status", tag_field="op"):
    pass


class PingRequest(msgspec.Struct, tag="ping", tag_field="op"):
    pass


ControlRequest = Resnapshot | StatusRequest | PingRequest
_decoder = msgspec.json.Decoder(ControlRequest)
KNOWN_OPS = ("resnapshot", "status", "ping")


class BadRequest(Exception):
    """The request cannot be served; ``reply`` is the error reply to send."""

    def __init__(self, reply: dict[str, Any]) -> None:
        super().__init__(reply["error"]["message"])
        self.reply = reply


def parse_request(body: bytes) -> ControlRequest:
    """Decode a control request.

    Raises:
        BadRequest: not JSON, not an object, unknown ``op`` or missing fields.
    """
    try:
        req: ControlRequest = _decoder.decode(body)
        return req
    except msgspec.ValidationError as exc:
        op = _op_of(body)
        if op is not None and op not in KNOWN_OPS:
            raise BadRequest(
                error_reply("unknown_op", f"unknown op {op!r}; use {', '.join(KNOWN_OPS)}")
            ) from None
        raise BadRequest(error_reply("bad_request", str(exc))) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(error_reply("bad_request", f"not JSON: {exc}")) from None


def _op_of(body: bytes) -> str | None:
    try:
        obj = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    op = obj.get("op") if isinstance(obj, dict) else None
    return op if isinstance(op, str) else None
