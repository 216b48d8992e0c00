"""Probe thread: asks the book service ``status`` and ``symbols`` over REQ every few seconds.

Uses :class:`services.common.rpc.JsonClient` (lazy-pirate REQ: a timeout resets the socket).
The pure :func:`services.monitor.core.probe.interpret` turns replies into a result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import msgspec
import zmq

from services.common.errors import TickwireError
from services.common.log import get_logger
from services.common.rpc import JsonClient
from services.monitor.core.probe import ProbeResult, interpret
from services.monitor.core.state import MonitorState


class ProbeThread(threading.Thread):
    """Probes ``endpoint`` every ``interval`` seconds until stopped."""

    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        state: MonitorState,
        lock: threading.Lock,
        now_ns: Callable[[], int],
        *,
        interval: float = 2.0,
        timeout: float = 1.0,
    ) -> None:
        super().__init__(name="monitor-probe", daemon=True)
        self.log = get_logger("monitor.probe").bind(service="monitor")
        self.ctx = ctx
        self.endpoint = endpoint
        self.state = state
        self.lock = lock
        self.now_ns = now_ns
        self.interval = interval
        self.timeout = timeout
        self.stopping = threading.Event()

    def probe_once(self, client: JsonClient) -> ProbeResult:
        started = time.monotonic()
        try:
            status = client.request({"op": "status"}, timeout=self.timeout)
            symbols = client.request({"op": "symbols"}, timeout=self.timeout)
        except (TickwireError, msgspec.DecodeError) as exc:
            return ProbeResult(False, time.monotonic() - started, error=type(exc).__name__)
        return interpret(status, symbols, time.monotonic() - started)

    def run(self) -> None:
        client = JsonClient(self.endpoint, timeout=self.timeout, ctx=self.ctx)
        was_ok: bool | None = None
        try:
            while True:
                result = self.probe_once(client)
                with self.lock:
                    self.state.on_probe(result, self.now_ns())
                if result.ok != was_ok:
                    self.log.info("book probe", ok=result.ok, error=result.error, endpoint=self.endpoint)
                    was_ok = result.ok
                if self.stopping.wait(self.interval):
                    break
        finally:
            client.close()

    def stop(self, timeout: float = 3.0) -> None:
        self.stopping.set()
        self.join(timeout)
