"""``tickwire order ...`` and ``tickwire cancel ...``: send intents to the executor, print its reports.

Examples::

    tickwire order create linear BTCUSDT Buy 0.010 --price 65000.5            # Limit GTC
    tickwire order create linear BTCUSDT Sell 0.010 --market --link-id s1-42
    tickwire order amend linear BTCUSDT --link-id s1-42 --price 65010
    tickwire order kill-switch on
    tickwire order json '{"action":"create", ...}'
    tickwire cancel linear BTCUSDT --link-id s1-42
    tickwire cancel linear BTCUSDT --all

Each command waits (``--wait`` seconds, default 5; ``--wait 0`` = fire and forget) for the
intent's outcome and prints one line per report. Exit status: 0 done, 1 rejected, 2 usage or
configuration error, 3 no answer from the executor in time.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import msgspec

from services.common.config import load_settings
from services.common.errors import ConfigError
from services.common.order_client import OrderClient
from services.common.security import CurveConfig, client_curve
from services.common.wire import ExecReport

CATEGORIES = ("linear", "spot", "inverse")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait", type=float, default=5.0, help="seconds to wait for the outcome (0: do not wait)")
    p.add_argument("--pull", help="executor intent endpoint (default: TICKWIRE_EXECUTOR_PULL)")
    p.add_argument("--pub", help="executor report endpoint (default: TICKWIRE_EXECUTOR_PUB)")


def _target(p: argparse.ArgumentParser) -> None:
    p.add_argument("category", choices=CATEGORIES)
    p.add_argument("symbol")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--link-id", dest="link_id")
    g.add_argument("--order-id", dest="order_id")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tickwire", description="send intents to the executor")
    cmds = top.add_subparsers(dest="command", required=True)
    order = cmds.add_parser("order", help="create/amend orders, kill switch, raw JSON intents")
    sub = order.add_subparsers(dest="sub", required=True)
    create = sub.add_parser("create", help="place an order")
    create.add_argument("category", choices=CATEGORIES)
    create.add_argument("symbol")
    create.add_argument("side", choices=("Buy", "Sell"))
    create.add_argument("qty")
    kind = create.add_mutually_exclusive_group(required=True)
    kind.add_argument("--price", help="limit price")
    kind.add_argument("--market", action="store_true", help="market order")
    create.add_argument("--tif", choices=("GTC", "IOC", "FOK", "PostOnly"), help="time in force")
    create.add_argument("--link-id", dest="link_id", help="orderLinkId (default: derived from the intent)")
    create.add_argument("--reduce-only", action="store_true")
    _common(create)
    amend = sub.add_parser("amend", help="change an open order's price and/or qty")
    _target(amend)
    amend.add_argument("--price")
    amend.add_argument("--qty")
    _common(amend)
    kill = sub.add_parser("kill-switch", help="refuse (on) or allow (off) new orders at runtime")
    kill.add_argument("state", choices=("on", "off"))
    _common(kill)
    raw = sub.add_parser("json", help="send one intent given as JSON")
    raw.add_argument("intent")
    _common(raw)
    cancel = cmds.add_parser("cancel", help="cancel one order, or all of a category/symbol")
    cancel.add_argument("category", choices=CATEGORIES)
    cancel.add_argument("symbol", nargs="?")
    g = cancel.add_mutually_exclusive_group(required=True)
    g.add_argument("--link-id", dest="link_id")
    g.add_argument("--order-id", dest="order_id")
    g.add_argument("--all", action="store_true")
    _common(cancel)
    return top


def build_intent(args: argparse.Namespace) -> dict[str, Any]:
    """The intent for parsed arguments (pure). Raises ValueError on an inconsistent command."""
    if args.command == "cancel":
        if args.all:
            intent: dict[str, Any] = {"action": "cancel_all", "category": args.category}
            if args.symbol:
                intent["symbol"] = args.symbol
            return intent
        if not args.symbol:
            raise ValueError("cancel needs a symbol")
        intent = {"action": "cancel", "category": args.category, "symbol": args.symbol}
        intent.update({"orderLinkId": args.link_id} if args.link_id else {"orderId": args.order_id})
        return intent
    if args.sub == "create":
        intent = {
            "action": "create",
            "category": args.category,
            "symbol": args.symbol,
            "side": args.side,
            "orderType": "Market" if args.market else "Limit",
            "qty": args.qty,
        }
        if args.price:
            intent["price"] = args.price
        if args.tif:
            intent["timeInForce"] = args.tif
        if args.link_id:
            intent["orderLinkId"] = args.link_id
        if args.reduce_only:
            intent["reduceOnly"] = True
        return intent
    if args.sub == "amend":
        if not args.price and not args.qty:
            raise ValueError("amend needs --price and/or --qty")
        intent = {"action": "amend", "category": args.category, "symbol": args.symbol}
        intent.update({"orderLinkId": args.link_id} if args.link_id else {"orderId": args.order_id})
        intent.update({k: v for k, v in (("price", args.price), ("qty", args.qty)) if v})
        return intent
    if args.sub == "kill-switch":
        return {"action": "kill_switch", "on": args.state == "on"}
    obj = msgspec.json.decode(args.intent)
    if not isinstance(obj, dict):
        raise ValueError("the intent must be a JSON object")
    return obj


#: Report statuses that end the wait, per action.
_UNTIL = {
    "create": {"new", "partially_filled", "filled", "cancelled", "rejected"},
    "amend": {"amended", "rejected", "unknown_pending_check"},
    "cancel": {"cancelled", "rejected", "unknown_pending_check"},
    "cancel_all": {"accepted", "rejected", "unknown_pending_check"},
    "kill_switch": {"accepted", "rejected"},
}


def format_report(r: ExecReport) -> str:
    where = f"{r.category}:{r.symbol}" if r.symbol else r.category
    parts = [r.status, r.action, where, r.order_link_id or "-", r.order_id or "-"]
    if r.code:
        parts.append(f"code={r.code}")
    if r.reason:
        parts.append(r.reason)
    return " ".join(parts)


def cli(argv: list[str]) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        intent = build_intent(args)
        settings = load_settings()
    except (ValueError, ConfigError) as exc:
        print(f"tickwire: {exc}", file=sys.stderr)
        return 2
    action = str(intent.get("action", ""))
    try:
        curve = client_curve(CurveConfig.from_settings(settings))
    except ConfigError as exc:
        print(f"tickwire: {exc}", file=sys.stderr)
        return 2
    with OrderClient(
        args.pull or settings.executor_pull, args.pub or settings.executor_pub, curve=curve
    ) as oc:
        if args.wait > 0 and not oc.wait_ready(min(args.wait, 3.0)):
            print("tickwire: no heartbeat from the executor (is it running?)", file=sys.stderr)
            return 3
        link = oc.send(intent)
        if args.wait <= 0:
            print(f"sent {action} {link}".rstrip())
            return 0
        until = _UNTIL.get(action, {"accepted", "rejected"})
        if action in ("cancel_all", "kill_switch") or not link:
            reports = _wait_action(oc, action, until, args.wait)
        else:
            reports = oc.wait(link, until=until, timeout=args.wait)
        for r in reports:
            print(format_report(r))
    if not any(r.status in until for r in reports):
        print(f"tickwire: no outcome within {args.wait}s", file=sys.stderr)
        return 3
    return 1 if reports[-1].status == "rejected" else 0


def _wait_action(oc: OrderClient, action: str, until: set[str], timeout: float) -> list[ExecReport]:
    """Reports of an intent without an orderLinkId: matched by action (the first outcome)."""
    deadline = time.monotonic() + timeout
    while True:
        got = [r for r in oc.reports if r.action == action]
        if any(r.status in until for r in got) or time.monotonic() >= deadline:
            return got
        oc.poll(min(0.1, max(0.0, deadline - time.monotonic())))
