"""``python -m services.demo`` (``make demo``): the whole system as local processes, no Docker.

Starts bybit_sim, feed, book, executor (sim mode) and monitor as subprocesses on 127.0.0.1
(default ports when all are free, else free ports; ``--free-ports`` forces free ones), waits
until each is healthy and the book is live, prints the metrics URLs, sends a demo order intent
(a small limit buy below the market, then its cancel) and prints the reports, and shows a live
ladder of one book in the terminal. Ctrl-C (or ``--duration N`` seconds) stops everything.

Exit code: 0 when the run ended as asked and every service stopped cleanly; 1 if a service
failed to start or died; 2 on bad arguments. Service logs (JSON lines) go to ``--log-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from services.book_cli import render
from services.common.book_client import BookClient
from services.common.config import parse_symbols
from services.common.errors import ConfigError
from services.common.localnet import free_ports, port_free
from services.common.order_client import OrderClient
from services.common.rpc import RpcError, RpcTimeout
from services.common.wire import ExecReport

#: (name, module) in start order.
SERVICES = (
    ("bybit_sim", "services.bybit_sim"),
    ("feed", "services.feed"),
    ("book", "services.book"),
    ("executor", "services.executor"),
    ("monitor", "services.monitor"),
)
DEFAULT_PORTS = {
    "book_rep": 5555,
    "feed_pub": 5556,
    "feed_ctl": 5557,
    "executor_pull": 5558,
    "executor_pub": 5559,
    "book_pub": 5560,
    "monitor_port": 9100,
    "feed_metrics_port": 9101,
    "book_metrics_port": 9102,
    "executor_metrics_port": 9103,
    "sim_metrics_port": 9104,
    "sim_ws_port": 8765,
    "sim_http_port": 8766,
}
METRICS_PORT = {
    "monitor": "monitor_port",
    "feed": "feed_metrics_port",
    "book": "book_metrics_port",
    "executor": "executor_metrics_port",
    "bybit_sim": "sim_metrics_port",
}
SIM_KEY, SIM_SECRET = "sim-key", "sim-secret"


def choose_ports(force_free: bool) -> dict[str, int]:
    """The default ports if all are free (and not ``force_free``), else free ports from the OS."""
    if not force_free and all(port_free(p) for p in DEFAULT_PORTS.values()):
        return dict(DEFAULT_PORTS)
    return dict(zip(DEFAULT_PORTS, free_ports(len(DEFAULT_PORTS)), strict=True))


def service_env(ports: dict[str, int], symbols: str, state_dir: Path) -> dict[str, str]:
    """One environment for every process: this one's without TICKWIRE_*/BYBIT_*, plus the demo's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKWIRE_", "BYBIT_"))}
    tcp = {k: f"tcp://127.0.0.1:{v}" for k, v in ports.items()}
    settings = {
        "symbols": symbols,
        "sim_symbols": symbols,
        "log_format": "json",
        "metrics_host": "127.0.0.1",
        "sim_host": "127.0.0.1",
        "executor_mode": "sim",
        "executor_journal": str(state_dir / "executor.sqlite3"),
        "bybit_public_ws_url": f"ws://127.0.0.1:{ports['sim_ws_port']}/v5/public/{{category}}",
        **{
            k: tcp[k]
            for k in ("feed_pub", "feed_ctl", "book_rep", "book_pub", "executor_pull", "executor_pub")
        },
        **{k: str(v) for k, v in ports.items() if k.endswith("_port")},
    }
    env.update({f"TICKWIRE_{k.upper()}": v for k, v in settings.items()})
    env.update(BYBIT_API_KEY=SIM_KEY, BYBIT_API_SECRET=SIM_SECRET, PYTHONUNBUFFERED="1")
    return env


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own 127.0.0.1 URL
            return bool(resp.status == 200)
    except OSError:
        return False


def http_json(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own 127.0.0.1 URL
            doc = json.load(resp)
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Demo:
    """The running processes and the run's settings."""

    ports: dict[str, int]
    log_dir: Path
    out: TextIO
    procs: list[Proc] = field(default_factory=list)
    #: Lines repeated above the live ladder (metrics URLs, the demo order's outcome).
    header: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def start(self, env: dict[str, str]) -> None:
        for name, module in SERVICES:
            log_path = self.log_dir / f"{name}.log"
            with log_path.open("wb") as log:
                popen = subprocess.Popen(
                    [sys.executable, "-m", module],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C reaches the demo only; it stops them in order
                )
            self.procs.append(Proc(name, popen, log_path))

    def dead(self) -> list[Proc]:
        return [p for p in self.procs if p.popen.poll() is not None]

    def wait_for(self, what: str, cond: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            died = self.dead()
            if died:
                raise RuntimeError(f"{died[0].name} exited while waiting for {what}:\n{died[0].tail()}")
            if self.stop.is_set():
                raise KeyboardInterrupt
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.2)

    def metrics_url(self, name: str) -> str:
        path = "health" if name == "monitor" else "metrics"
        return f"http://127.0.0.1:{self.ports[METRICS_PORT[name]]}/{path}"

    def shutdown(self) -> bool:
        """SIGTERM in reverse start order, SIGKILL after 10 s; True if all exited with 0."""
        clean = True
        for proc in reversed(self.procs):
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                code = proc.popen.wait(10)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                code = proc.popen.wait()
            if code not in (0, -signal.SIGTERM):
                clean = False
                self.say(f"{proc.name} exited with {code}; last log lines:\n{proc.tail()}")
        return clean


def format_report(r: ExecReport) -> str:
    extra = f" code={r.code}" if r.code and r.code != "0" else ""
    reason = f" ({r.reason})" if r.reason else ""
    order = f" orderId={r.order_id}" if r.order_id else ""
    return f"  report: {r.action:<6} {r.status:<22}{order}{extra}{reason}"


def demo_order(demo: Demo, category: str, symbol: str, price: str, qty: str) -> None:
    """Send a small limit buy at ``price`` (a resting bid level: a valid tick, below the market),
    print its reports, then cancel it and print those."""
    tcp = {k: f"tcp://127.0.0.1:{demo.ports[k]}" for k in ("executor_pull", "executor_pub")}
    link = f"demo-{time.time_ns()}"
    intent = {
        "action": "create",
        "category": category,
        "symbol": symbol,
        "side": "Buy",
        "orderType": "Limit",
        "qty": qty,
        "price": price,
        "timeInForce": "GTC",
        "orderLinkId": link,
    }
    with OrderClient(tcp["executor_pull"], tcp["executor_pub"]) as oc:
        if not oc.wait_ready(timeout=15):
            demo.say("executor sends no heartbeat: skipping the demo order")
            return
        demo.say(f"demo order intent: {json.dumps(intent)}")
        oc.send(intent)
        for r in oc.wait(link, until={"new", "rejected", "filled"}, timeout=15):
            demo.say(format_report(r))
        cancel = {"action": "cancel", "category": category, "symbol": symbol, "orderLinkId": link}
        demo.say(f"cancel intent: {json.dumps(cancel)}")
        seen = len(oc.for_link(link))
        oc.send(cancel)
        reports = oc.wait(link, until={"cancelled", "rejected"}, timeout=15)
        for r in reports[seen:]:
            demo.say(format_report(r))
        demo.header.append(f"demo order {link}: " + " -> ".join(f"{r.action}/{r.status}" for r in reports))


def status_line(demo: Demo) -> str:
    health = http_json(demo.metrics_url("monitor"))
    services = health.get("services", {})
    ups = " ".join(f"{n}={'up' if s.get('up') else 'DOWN'}" for n, s in sorted(services.items()))
    return f"monitor: {health.get('status', '?')}  {ups}"


def show_ladder(demo: Demo, client: BookClient, category: str, symbol: str, clear: bool) -> None:
    try:
        book = client.book(category, symbol, depth=8)
        top: dict[str, Any] | None = client.top(category, symbol)
    except (RpcError, RpcTimeout) as exc:
        demo.say(f"book: {exc}")
        return
    screen = [*demo.header, "", render(book, top), "", status_line(demo), "Ctrl-C stops the demo."]
    prefix = "\x1b[H\x1b[2J" if clear else ""
    demo.say(prefix + "\n".join(screen))


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m services.demo", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--duration", type=float, default=0, help="run N seconds then exit 0 (default: until Ctrl-C)"
    )
    p.add_argument("--no-ladder", action="store_true", help="no live ladder: a status line every 5 s")
    p.add_argument("--symbol", default="linear:BTCUSDT", help="book shown and traded (category:SYMBOL)")
    p.add_argument("--symbols", default="linear:BTCUSDT,linear:ETHUSDT,spot:BTCUSDT", help="symbols to run")
    p.add_argument("--free-ports", action="store_true", help="always use free ports, not the defaults")
    p.add_argument("--no-order", action="store_true", help="do not send the demo order")
    p.add_argument("--log-dir", default="", help="service logs (default: a new temporary directory)")
    p.add_argument("--info-file", default="", help="write the endpoints as JSON here once healthy")
    return p.parse_args(list(argv))


def run(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    args = parse_args(argv)
    try:
        symbols = parse_symbols(args.symbols)
        ((category, symbol),) = parse_symbols(args.symbol)
    except (ConfigError, ValueError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    if (category, symbol) not in symbols:
        symbols.append((category, symbol))
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="tickwire-demo-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    demo = Demo(choose_ports(args.free_ports), log_dir, out)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: demo.stop.set())
    sym_text = ",".join(f"{c}:{s}" for c, s in symbols)
    ok = True
    try:
        demo.say(f"starting {', '.join(n for n, _ in SERVICES)}; logs in {log_dir}")
        demo.start(service_env(demo.ports, sym_text, log_dir))
        for name in METRICS_PORT:
            demo.wait_for(f"{name} /metrics", lambda n=name: http_ok(demo.metrics_url(n)), 60)  # type: ignore[misc]
        demo.header = ["tickwire demo: all services up. Metrics:"]
        demo.header += [f"  {name:<9} {demo.metrics_url(name)}" for name in METRICS_PORT]
        demo.say("\n".join(demo.header))
        book_rep = f"tcp://127.0.0.1:{demo.ports['book_rep']}"
        if args.info_file:
            info = {"ports": demo.ports, "metrics": {n: demo.metrics_url(n) for n in METRICS_PORT}}
            Path(args.info_file).write_text(json.dumps(info))
        with BookClient(book_rep, timeout=2.0) as client:

            def live() -> bool:
                try:
                    return client.book(category, symbol, depth=1).get("state") == "live"
                except (RpcError, RpcTimeout):
                    return False

            demo.wait_for(f"a live {category}:{symbol} book", live, 90)
            top = client.top(category, symbol)
            demo.say(f"{category}:{symbol} is live: bid {top.get('bid')} / ask {top.get('ask')}")
            bids = client.book(category, symbol, depth=10).get("bids") or []
            if not args.no_order and bids:
                qty = "0.001" if Decimal(bids[-1][0]) > 1000 else "1"
                demo_order(demo, category, symbol, bids[-1][0], qty)
            clear = out.isatty() and not args.no_ladder
            every = 0.5 if clear else 5.0
            # --duration counts from here: the system is up and the order round trip is done.
            deadline = time.monotonic() + args.duration if args.duration > 0 else float("inf")
            while not demo.stop.is_set() and time.monotonic() < deadline:
                died = demo.dead()
                if died:
                    raise RuntimeError(f"{died[0].name} died:\n{died[0].tail()}")
                if args.no_ladder:
                    demo.say(status_line(demo))
                else:
                    show_ladder(demo, client, category, symbol, clear)
                demo.stop.wait(min(every, max(0.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    except (RuntimeError, RpcError, RpcTimeout) as exc:
        demo.say(f"demo failed: {exc}")
        ok = False
    finally:
        demo.say("stopping services ...")
        clean = demo.shutdown()
    demo.say("stopped cleanly" if clean else "some services did not stop cleanly")
    return 0 if ok and clean else 1


def main() -> int:
    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
