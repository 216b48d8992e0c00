"""Asks the feed for fresh snapshots (``resnapshot`` on its control endpoint) from a worker
thread, so a slow or absent feed never blocks the book's main loop. With CURVE client keys
configured, it connects as a CURVE client (the feed's endpoint must then have server keys).

The main loop calls :meth:`FeedControl.request` (never blocks; a symbol already waiting is
not queued twice) and collects outcomes with :meth:`FeedControl.take_results`.
"""

from __future__ import annotations

import queue
import threading
from collections import deque

import zmq

from services.common.rpc import JsonClient, RpcTimeout

Key = tuple[str, str]
#: Outcome labels: ``ok``, ``error`` (feed said ok=false or bad reply), ``timeout``.
Result = tuple[Key, str, str]


class FeedControl:
    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        *,
        timeout: float = 1.0,
        curve: tuple[bytes, bytes, bytes] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        #: CURVE client keys (see :func:`services.common.security.client_curve`); None = plain
        self._curve = curve
        self._ctx = ctx
        self._queue: queue.SimpleQueue[Key | None] = queue.SimpleQueue()
        self._results: deque[Result] = deque()
        self._pending: set[Key] = set()
        self._again: set[Key] = set()
        self._thread = threading.Thread(target=self._run, name="feed-control", daemon=True)
        self._thread.start()

    def request(self, key: Key) -> bool:
        """Queue a resnapshot request. If one for ``key`` is already in flight, it is sent again
        once that one completes (the trigger may postdate it); returns False then."""
        if key in self._pending:
            self._again.add(key)
            return False
        self._pending.add(key)
        self._queue.put(key)
        return True

    def take_results(self) -> list[Result]:
        out: list[Result] = []
        while self._results:
            result = self._results.popleft()
            key = result[0]
            if key in self._again:
                self._again.discard(key)
                self._queue.put(key)
            else:
                self._pending.discard(key)
            out.append(result)
        return out

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def _run(self) -> None:
        client = JsonClient(self.endpoint, timeout=self.timeout, ctx=self._ctx, curve=self._curve)
        try:
            while True:
                key = self._queue.get()
                if key is None:
                    return
                payload = {"op": "resnapshot", "category": key[0], "symbol": key[1]}
                try:
                    reply = client.request(payload)
                except RpcTimeout:
                    self._results.append((key, "timeout", f"no reply within {self.timeout}s"))
                    continue
                except Exception as exc:
                    self._results.append((key, "error", f"{type(exc).__name__}: {exc}"))
                    continue
                if reply.get("ok") is True:
                    self._results.append((key, "ok", ""))
                else:
                    err = reply.get("error")
                    self._results.append((key, "error", str(err)[:200]))
        finally:
            client.close()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=self.timeout + 1.0)
