"""Parsing private-stream frames (``order``, ``execution``, ``position``, ``wallet``) into records. Pure.

A frame is ``{"topic", "id", "creationTime", "data": [...]}``; control frames (auth, subscribe,
pong) are snake_case ``{"op", "success", "ret_msg"}`` (PROTOCOL.md §5). Values that reach a report
are kept as Bybit's strings; nested objects are JSON-encoded into one string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from services.common.errors import ProtocolError


@dataclass(frozen=True, slots=True)
class Control:
    op: str
    success: bool
    message: str


@dataclass(frozen=True, slots=True)
class Record:
    """One data record: ``kind`` is order, execution, position or wallet."""

    kind: str
    fields: dict[str, Any]


def _kind(topic: str) -> str | None:
    base = topic.split(".", 1)[0]
    return base if base in ("order", "execution", "position", "wallet") else None


def parse_frame(raw: bytes | str) -> Control | list[Record] | None:
    """A private-stream frame → a control reply, data records, or None (ignorable)."""
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"undecodable private frame: {exc}", code="bad_frame") from None
    if not isinstance(obj, dict):
        raise ProtocolError("private frame is not an object", code="bad_frame")
    topic = obj.get("topic")
    if isinstance(topic, str):
        kind = _kind(topic)
        data = obj.get("data")
        if kind is None or not isinstance(data, list):
            return None
        return [Record(kind, item) for item in data if isinstance(item, dict)]
    op = obj.get("op")
    if isinstance(op, str):
        success = obj.get("success")
        if success is None:
            success = obj.get("retCode", 0) == 0
        return Control(op, bool(success), str(obj.get("ret_msg", obj.get("retMsg", ""))))
    return None


def as_strings(fields: dict[str, Any]) -> dict[str, str]:
    """Report ``data``: every value as a string (bools lower-case, nested values as JSON)."""
    out = {}
    for key, value in fields.items():
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, int | float) or value is None:
            out[key] = "" if value is None else str(value)
        else:
            out[key] = msgspec.json.encode(value).decode()
    return out


def signed_position(fields: dict[str, Any]) -> str | None:
    """A position record's signed size as a decimal string (Sell negative), or None if unreadable."""
    size = fields.get("size")
    side = fields.get("side")
    if not isinstance(size, str) or not size:
        return None
    if side == "Sell" and size not in ("0", "0.0") and not size.startswith("-"):
        return "-" + size
    return size
