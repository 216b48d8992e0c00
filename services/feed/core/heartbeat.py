"""Application-level ping/pong decisions for one Bybit connection. Pure: times are passed in.

Bybit sends no protocol pings; the client sends ``{"op":"ping"}`` every ``interval`` seconds and
expects a pong (``ret_msg == "pong"`` on spot/linear/inverse, ``op == "pong"`` elsewhere). If no
pong arrives within ``timeout`` of a ping, the connection is considered dead. Data frames do not
count as pongs: a server that streams but stops answering pings is still reconnected.
"""

from __future__ import annotations

from typing import Literal

PING_PAYLOAD = b'{"op":"ping"}'


class PingState:
    """When to ping and when a missing pong means the connection is dead."""

    def __init__(self, interval: float, timeout: float) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError("ping interval and pong timeout must be positive")
        self.interval = interval
        self.timeout = timeout
        self.next_ping = 0.0
        self.deadline: float | None = None

    def start(self, now: float) -> None:
        """A connection opened at ``now``: first ping one interval later, no pong awaited."""
        self.next_ping = now + self.interval
        self.deadline = None

    def on_pong(self) -> None:
        self.deadline = None

    def poll(self, now: float) -> Literal["ping", "timeout"] | None:
        """``"timeout"`` if a pong is overdue, ``"ping"`` if a ping should be sent now, else None."""
        if self.deadline is not None and now >= self.deadline:
            return "timeout"
        if now >= self.next_ping:
            self.next_ping = now + self.interval
            if self.deadline is None:
                self.deadline = now + self.timeout
            return "ping"
        return None

    def next_wakeup(self, now: float) -> float:
        """Seconds until :meth:`poll` may return something."""
        due = self.next_ping if self.deadline is None else min(self.next_ping, self.deadline)
        return max(0.0, due - now)
