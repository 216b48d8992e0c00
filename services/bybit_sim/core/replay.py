"""Replay of Bybit historical order-book files (one WebSocket message per line).

:func:`load_replay` parses the file into :class:`ReplayFrame` records keeping each line's exact
bytes (frames are re-sent byte for byte) plus its topic and ``ts``; :func:`delays` gives the
pause before each frame for a speed factor (0 = no pauses).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import msgspec


class ReplayError(ValueError):
    """The replay file is unreadable or a line is not a Bybit data message."""


class _Head(msgspec.Struct):
    topic: str
    ts: int
    type: str


@dataclass(frozen=True, slots=True)
class ReplayFrame:
    topic: str
    ts: int
    type: str
    raw: bytes


_decoder = msgspec.json.Decoder(_Head)


def parse_replay(data: bytes) -> list[ReplayFrame]:
    """Frames of a replay file's content; blank lines are skipped."""
    frames: list[ReplayFrame] = []
    for n, line in enumerate(data.splitlines(), 1):
        raw = line.rstrip(b"\r")
        if not raw.strip():
            continue
        try:
            head = _decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise ReplayError(f"line {n}: not a Bybit data message: {exc}") from exc
        frames.append(ReplayFrame(head.topic, head.ts, head.type, raw))
    if not frames:
        raise ReplayError("replay file holds no message")
    return frames


def load_replay(path: str | Path) -> list[ReplayFrame]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ReplayError(f"cannot read replay file {path}: {exc.strerror}") from exc
    return parse_replay(data)


def delays(frames: list[ReplayFrame], speed: float) -> list[float]:
    """Seconds to wait before each frame (the first is 0) at ``speed`` (0 = as fast as possible)."""
    if speed <= 0:
        return [0.0] * len(frames)
    out = [0.0]
    for prev, cur in pairwise(frames):
        out.append(max(0, cur.ts - prev.ts) / 1000.0 / speed)
    return out
