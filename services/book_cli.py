"""``tickwire book linear:BTCUSDT [--depth N] [--watch] [--endpoint URL]``: print a readable
price ladder from the book service (asks above, bids below, best levels in the middle)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from services.common.book_client import DEFAULT_ENDPOINT, BookClient
from services.common.config import load_settings, parse_symbols
from services.common.errors import ConfigError
from services.common.rpc import RpcError, RpcTimeout


def _default_endpoint() -> str:
    try:
        return load_settings().book_rep
    except ConfigError:
        return DEFAULT_ENDPOINT


def render(reply: dict[str, Any], top: dict[str, Any] | None = None) -> str:
    """A ladder: asks (worst to best) above, a mid/spread line, bids (best to worst) below.

    Columns: bid size | price | ask size; every value is the exact string the service sent.
    """
    bids: list[list[str]] = reply.get("bids", [])
    asks: list[list[str]] = reply.get("asks", [])
    pw = max([len(p) for p, _ in bids + asks] + [5])
    sw = max([len(s) for _, s in bids + asks] + [8])
    lines = [
        f"{reply['category']}:{reply['symbol']}  state={reply['state']}  u={reply['u']}  "
        f"seq={reply['seq']}  age={reply['age_ms']}ms",
        f"{'bid size':>{sw}}  {'price':>{pw}}  {'ask size':<{sw}}".rstrip(),
    ]
    for price, size in reversed(asks):
        lines.append(f"{'':>{sw}}  {price:>{pw}}  {size}")
    if top is not None and top.get("mid") is not None:
        lines.append(f"{'':>{sw}}  mid {top['mid']}  spread {top['spread']}")
    else:
        lines.append(f"{'':>{sw}}  {'-' * pw}")
    for price, size in bids:
        lines.append(f"{size:>{sw}}  {price:>{pw}}")
    if not bids and not asks:
        lines.append("(empty book)")
    return "\n".join(lines)


def cli(argv: Sequence[str], out: TextIO | None = None) -> int:
    """Run ``tickwire book``; return the exit code (0 ok, 1 error reply, 2 no reply / usage)."""
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="tickwire book", description="Print an order-book ladder.")
    parser.add_argument("market", help="category:SYMBOL, e.g. linear:BTCUSDT")
    parser.add_argument("--depth", type=int, default=10, help="levels per side (default 10)")
    parser.add_argument("--watch", action="store_true", help="refresh until interrupted")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes with --watch")
    parser.add_argument("--endpoint", default=None, help="book query endpoint (default: TICKWIRE_BOOK_REP)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a reply")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        ((category, symbol),) = parse_symbols(args.market)
    except (ConfigError, ValueError):
        print(f"tickwire book: bad market {args.market!r}: expected category:SYMBOL", file=sys.stderr)
        return 2
    if not 1 <= args.depth <= 1000:
        print("tickwire book: --depth must be from 1 to 1000", file=sys.stderr)
        return 2
    endpoint = args.endpoint or _default_endpoint()
    with BookClient(endpoint, timeout=args.timeout) as client:
        try:
            while True:
                try:
                    reply = client.book(category, symbol, args.depth)
                    top = client.top(category, symbol)
                except RpcError as exc:
                    print(f"tickwire book: {exc.code}: {exc.message}", file=sys.stderr)
                    return 1
                except RpcTimeout:
                    print(f"tickwire book: no reply from {endpoint}", file=sys.stderr)
                    if not args.watch:
                        return 2
                else:
                    if args.watch:
                        out.write("\x1b[2J\x1b[H")
                    out.write(render(reply, top) + "\n")
                    out.flush()
                if not args.watch:
                    return 0
                time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0


def main() -> int:
    return cli(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
