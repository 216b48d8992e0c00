"""The ``tickwire book`` ladder printer (rendering and argument errors; no service needed)."""

from __future__ import annotations

from services.book_cli import cli, render

REPLY = {
    "category": "linear", "symbol": "BTCUSDT", "state": "live", "u": 7, "seq": 70, "age_ms": 3,
    "bids": [["65000.5", "1.234"], ["65000.0", "0.5"]],
    "asks": [["65000.6", "0.100"], ["65001.0", "2"]],
}  # fmt: skip


def test_ladder_layout() -> None:
    out = render(REPLY, {"mid": "65000.55", "spread": "0.1"})
    assert out.splitlines()[0] == "linear:BTCUSDT  state=live  u=7  seq=70  age=3ms"
    assert out.index("65001.0") < out.index("65000.6") < out.index("mid 65000.55") < out.index("65000.5")
    assert "   1.234  65000.5" in out  # exact strings, bid size left of the price
    assert "65000.6  0.100" in out  # ask size right of the price


def test_empty_book() -> None:
    out = render({**REPLY, "state": "syncing", "bids": [], "asks": []}, {"mid": None})
    assert "state=syncing" in out and "(empty book)" in out


def test_bad_arguments() -> None:
    assert cli(["BTCUSDT"]) == 2
    assert cli(["linear:BTCUSDT", "--depth", "0"]) == 2
    assert cli(["--nope"]) == 2


def test_no_service_times_out() -> None:
    assert cli(["linear:BTCUSDT", "--endpoint", "tcp://127.0.0.1:1", "--timeout", "0.2"]) == 2
