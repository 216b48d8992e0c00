"""Runs inside bench/.peers-venv: feeds the same frames to each peer's order-book handling, offline.

``python peers_runner.py FRAMES TRUTH OUT``. Imports nothing from tickwire. For each peer: the time
to handle every frame from the raw JSON text (as the library does on receipt: its own JSON parse
plus its book merge) and whether its final books equal the true books. Rates use the thread's CPU
time, as tickwire's in-process figure does.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import sys
import time
from decimal import Decimal
from typing import Any


def _dec_book(levels: Any) -> dict[Decimal, Decimal]:
    return {Decimal(p): Decimal(q) for p, q in levels}


def _equal(got: dict[str, tuple[Any, Any]], truth: dict[str, Any]) -> bool:
    for sym, (tb, ta) in truth.items():
        if sym not in got:
            return False
        gb, ga = got[sym]
        if _dec_book(gb) != _dec_book(tb) or _dec_book(ga) != _dec_book(ta):
            return False
    return True


def run_pybit(frames: list[str], topics: list[str]) -> tuple[float, dict[str, Any], str]:
    from pybit._websocket_stream import _V5WebSocketManager

    mgr = _V5WebSocketManager("bench", testnet=False)
    got: list[Any] = []
    for t in topics:
        mgr._set_callback(t, got.append)  # the user's callback receives the merged book
    on_message = mgr._on_message
    t0 = time.thread_time_ns()
    for f in frames:
        on_message(f)
        got.clear()
    elapsed = time.thread_time_ns() - t0
    books = {d["s"]: (d["b"], d["a"]) for d in mgr.data.values()}
    sorted_ok = all(
        [float(p) for p, _ in b] == sorted((float(p) for p, _ in b), reverse=True) for b, _ in books.values()
    )
    return (
        elapsed,
        books,
        f"levels kept sorted: {sorted_ok} (inserts are appended); deep-copies the book per message",
    )


def run_ccxt(frames: list[str], topics: list[str]) -> tuple[float, dict[str, Any], str]:
    import ccxt.pro

    class Client:
        url = "wss://stream.bybit.com/v5/public/linear"

        def resolve(self, result: Any, message_hash: str) -> None:
            pass

    ex = ccxt.pro.bybit()
    client = Client()
    handle = ex.handle_order_book
    loads = json.loads
    t0 = time.thread_time_ns()
    for f in frames:
        handle(client, loads(f))
    elapsed = time.thread_time_ns() - t0
    books = {}
    for ob in ex.orderbooks.values():
        sym = ob["symbol"]
        books[sym] = (
            [[repr(p), repr(q)] for p, q in ob["bids"]],
            [[repr(p), repr(q)] for p, q in ob["asks"]],
        )
    # ccxt keeps floats: compare by the float value of the true strings
    asyncio.run(ex.close())
    return elapsed, books, "prices/sizes as floats (compared by float value); markets not loaded (offline)"


def run_cryptofeed(frames: list[str], topics: list[str]) -> tuple[float, dict[str, Any], str]:
    from cryptofeed.defines import L2_BOOK
    from cryptofeed.exchanges import Bybit
    from cryptofeed.symbols import Symbols

    symbols = sorted({t.rsplit(".", 1)[1] for t in topics})
    # Offline: fill cryptofeed's symbol table (normally fetched over REST) with identity mappings.
    Symbols.set(Bybit.id, {s: s for s in symbols}, {})

    async def on_book(*args: Any, **kwargs: Any) -> None:
        pass

    feed = Bybit(symbols=symbols, channels=[L2_BOOK], callbacks={L2_BOOK: on_book})
    feed.exchange_symbol_mapping = {s: s for s in symbols}

    class Conn:
        address = "wss://stream.bybit.com/v5/public/linear"
        uuid = "bench"

    conn = Conn()

    async def drive() -> int:
        handler = feed.message_handler
        t0 = time.thread_time_ns()
        for f in frames:
            await handler(f, conn, 0.0)
        return time.thread_time_ns() - t0

    elapsed = asyncio.run(drive())
    books = {}
    for pair, ob in feed._l2_book.items():
        bids = (
            [[str(p), str(q)] for p, q in ob.book.bids.to_list()]
            if hasattr(ob.book.bids, "to_list")
            else [[str(p), str(q)] for p, q in dict(ob.book["bid"]).items()]
        )
        asks = (
            [[str(p), str(q)] for p, q in ob.book.asks.to_list()]
            if hasattr(ob.book.asks, "to_list")
            else [[str(p), str(q)] for p, q in dict(ob.book["ask"]).items()]
        )
        books[pair] = (bids, asks)
    return elapsed, books, "Decimal prices; symbol table filled offline"


def main() -> None:
    frames_path, truth_path, out_path = sys.argv[1:4]
    with open(frames_path) as fh:
        frames = fh.read().splitlines()
    with open(truth_path) as fh:
        truth = json.load(fh)
    topics = sorted({json.loads(f)["topic"] for f in frames[: len(truth)]})
    out: dict[str, Any] = {}
    for name, fn in (("pybit", run_pybit), ("ccxt", run_ccxt), ("cryptofeed", run_cryptofeed)):
        try:
            elapsed, books, note = fn(frames, topics)
            if name == "ccxt":
                equal = all(
                    sym in books
                    and {float(p): float(q) for p, q in books[sym][0]} == {float(p): float(q) for p, q in tb}
                    and {float(p): float(q) for p, q in books[sym][1]} == {float(p): float(q) for p, q in ta}
                    for sym, (tb, ta) in truth.items()
                )
            else:
                equal = _equal(books, truth)
            out[name] = {
                "rate": len(frames) / (elapsed / 1e9),
                "equal": equal,
                "note": note,
                "version": importlib.metadata.version(name),
            }
        except Exception as exc:
            out[name] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
    with open(out_path, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main()
