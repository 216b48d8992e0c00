"""SimControl: a small ``requests`` client of the simulator's ``/sim/`` HTTP control API.

Used by tests and the chaos suite::

    ctl = SimControl("http://127.0.0.1:8766")
    ctl.fault("skip_delta", topic="orderbook.50.BTCUSDT")
    ctl.book("linear", "BTCUSDT", 50)   # {"bids": [[p, s], ...], "asks": ..., "u": .., "seq": ..}
"""

from __future__ import annotations

import time
from typing import Any

import requests


class SimControl:
    """Client of ``/sim/*`` on ``base_url`` (``http://host:port``)."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def _req(self, method: str, path: str, **kw: Any) -> Any:
        resp = self._http.request(method, self.base_url + path, timeout=self.timeout, **kw)
        resp.raise_for_status()
        return resp.json()

    def health(self) -> dict[str, Any]:
        return dict(self._req("GET", "/sim/health"))

    def wait_ready(self, timeout: float = 15.0) -> dict[str, Any]:
        """Poll ``/sim/health`` until it answers; raise TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.health()
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"simulator at {self.base_url} not ready") from None
                time.sleep(0.05)

    def stats(self) -> dict[str, Any]:
        return dict(self._req("GET", "/sim/stats"))

    def fault(self, name: str, **params: Any) -> dict[str, Any]:
        """Arm fault ``name`` with ``params`` (see docs/bybit_sim.md for the names)."""
        return dict(self._req("POST", "/sim/fault", json={"name": name, **params}))

    def clear_faults(self, name: str | None = None) -> dict[str, Any]:
        return dict(self._req("DELETE", "/sim/fault", params={"name": name} if name else None))

    def faults(self) -> dict[str, Any]:
        return dict(self._req("GET", "/sim/faults"))

    def book(self, category: str, symbol: str, depth: int = 50, *, truth: bool = False) -> dict[str, Any]:
        """The topic's book as a correct client holds it after the last message sent
        (``truth=True``: the current true top-N window)."""
        params = {"category": category, "symbol": symbol, "depth": str(depth)}
        if truth:
            params["truth"] = "1"
        return dict(self._req("GET", "/sim/book", params=params))

    def freeze(self, category: str, symbol: str, frozen: bool = True) -> dict[str, Any]:
        """Stop (or restart) the generator of one symbol; its book then changes only by trades."""
        body = {"category": category, "symbol": symbol, "frozen": frozen}
        return dict(self._req("POST", "/sim/freeze", json=body))

    def close(self) -> None:
        self._http.close()
