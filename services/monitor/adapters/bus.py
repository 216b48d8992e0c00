"""Bus thread: one SUB socket per publisher, polled together, drained in batches into the state.

A dedicated thread (not the asyncio loop) so the receive timestamp taken right after each drain
is not delayed by HTTP scrapes; the state lock is held only while a batch is applied.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

import zmq

from services.common.bus import Subscriber
from services.common.log import get_logger
from services.monitor.core.state import MonitorState


class BusThread(threading.Thread):
    """Subscribes to every topic of each publisher in ``endpoints`` (name -> endpoint)."""

    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        endpoints: Mapping[str, str],
        state: MonitorState,
        lock: threading.Lock,
        now_ns: Callable[[], int],
        *,
        batch: int = 2000,
    ) -> None:
        super().__init__(name="monitor-bus", daemon=True)
        self.log = get_logger("monitor.bus").bind(service="monitor")
        self.ctx = ctx
        self.endpoints = dict(endpoints)
        self.state = state
        self.lock = lock
        self.now_ns = now_ns
        self.batch = batch
        self.stopping = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        subs = {name: Subscriber(self.ctx, [ep]) for name, ep in self.endpoints.items()}
        poller = zmq.Poller()
        by_sock = {}
        for name, sub in subs.items():
            poller.register(sub.sock, zmq.POLLIN)
            by_sock[sub.sock] = (name, sub)
        seen_errors = dict.fromkeys(subs, 0)
        self.log.info("bus connected", endpoints=self.endpoints)
        self.ready.set()
        try:
            while not self.stopping.is_set():
                for sock, _ in poller.poll(100):
                    name, sub = by_sock[sock]
                    msgs = sub.drain(self.batch)
                    now = self.now_ns()
                    errors = sub.decode_errors - seen_errors[name]
                    seen_errors[name] = sub.decode_errors
                    with self.lock:
                        self.state.on_batch(name, msgs, now)
                        self.state.on_decode_errors(name, errors)
        finally:
            for sub in subs.values():
                sub.close()

    def stop(self, timeout: float = 2.0) -> None:
        self.stopping.set()
        self.join(timeout)
