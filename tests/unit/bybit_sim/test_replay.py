"""Replay file parsing (byte-exact frames) and pacing."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.bybit_sim.core.replay import ReplayError, delays, load_replay, parse_replay
from tests.helpers import SAMPLES

XRP = SAMPLES / "ws_public_orderbook_linear_ob500_XRPUSDT_sequence_50msgs.jsonl"


def test_parse_real_xrp_file_byte_exact() -> None:
    frames = load_replay(XRP)
    lines = XRP.read_bytes().splitlines()
    assert len(frames) == 50
    assert [f.raw for f in frames] == lines
    assert frames[0].type == "snapshot" and {f.topic for f in frames} == {"orderbook.500.XRPUSDT"}
    assert frames[0].ts == 1733011200691


def test_delays() -> None:
    frames = load_replay(XRP)
    assert delays(frames, 0) == [0.0] * 50
    d1 = delays(frames, 1)
    assert d1[0] == 0 and d1[1] == pytest.approx(0.002) and d1[2] == pytest.approx(0.097)
    assert sum(delays(frames, 10)) == pytest.approx(sum(d1) / 10)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ReplayError):
        parse_replay(b"")
    with pytest.raises(ReplayError):
        parse_replay(b'{"op":"ping"}\n')
    with pytest.raises(ReplayError):
        load_replay(tmp_path / "missing.jsonl")
