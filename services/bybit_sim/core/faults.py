"""A generic fault registry: faults are named, carry free-form params, and may be one-shot.

``set(name, **params)`` arms a fault. Two params are understood by the registry itself:

* ``count``: number of uses; :meth:`Faults.take` consumes one and the fault disappears at 0.
  Without ``count`` the fault is persistent until cleared (take returns it without consuming).
* ``ttl_s``: the fault expires that many seconds after it was set (needs the injected clock).

``get``/``take`` accept keyword filters: a fault matches when every filter key it *has* among
its params equals the filter value (a param the fault does not set is a wildcard). So
``take("skip_delta", topic="orderbook.50.BTCUSDT")`` consumes a ``skip_delta`` armed for that
topic or for any topic. ``injected`` counts uses per name (exported as a metric). Names are
free: the market side and the trading side each read the names they know.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

_RESERVED = ("count", "ttl_s")


class FaultError(ValueError):
    """A malformed fault specification."""


class Faults:
    """Named faults with params, one-shot counters and optional expiry."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock
        self._faults: dict[str, dict[str, Any]] = {}
        self._expiry: dict[str, float] = {}
        self.injected: Counter[str] = Counter()
        #: Bumped on every change; lets hot loops skip work while nothing is armed.
        self.version = 0

    def __bool__(self) -> bool:
        return bool(self._faults)

    def set(self, name: str, **params: Any) -> None:
        """Arm (or re-arm, replacing params) fault ``name``."""
        if not name or not isinstance(name, str):
            raise FaultError("fault name must be a non-empty string")
        count = params.get("count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise FaultError("count must be a positive integer")
        ttl = params.get("ttl_s")
        if ttl is not None:
            if not isinstance(ttl, int | float) or ttl <= 0:
                raise FaultError("ttl_s must be a positive number")
            if self._clock is not None:
                self._expiry[name] = self._clock() + float(ttl)
        self._faults[name] = dict(params)
        self.version += 1

    def _live(self, name: str) -> dict[str, Any] | None:
        params = self._faults.get(name)
        if params is None:
            return None
        exp = self._expiry.get(name)
        if exp is not None and self._clock is not None and self._clock() >= exp:
            self.clear(name)
            return None
        return params

    @staticmethod
    def _matches(params: dict[str, Any], match: dict[str, Any]) -> bool:
        return all(params[k] == v for k, v in match.items() if k in params)

    def get(self, name: str, **match: Any) -> dict[str, Any] | None:
        """Params of ``name`` if armed and matching ``match`` (not consumed); else None."""
        params = self._live(name)
        if params is None or not self._matches(params, match):
            return None
        return {k: v for k, v in params.items() if k not in _RESERVED}

    def take(self, name: str, **match: Any) -> dict[str, Any] | None:
        """Like :meth:`get`, but uses the fault once: a ``count`` fault is decremented."""
        params = self._live(name)
        if params is None or not self._matches(params, match):
            return None
        count = params.get("count")
        if count is not None:
            if count <= 1:
                self.clear(name)
            else:
                params["count"] = count - 1
        self.injected[name] += 1
        return {k: v for k, v in params.items() if k not in _RESERVED}

    def clear(self, name: str | None = None) -> None:
        """Disarm ``name``, or every fault."""
        if name is None:
            self._faults.clear()
            self._expiry.clear()
        else:
            self._faults.pop(name, None)
            self._expiry.pop(name, None)
        self.version += 1

    def active(self) -> dict[str, dict[str, Any]]:
        """Every armed fault with its params (including ``count``), expired ones dropped."""
        for name in list(self._faults):
            self._live(name)
        return {k: dict(v) for k, v in self._faults.items()}


def parse_fault_specs(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse start-up faults: a JSON list of ``{"name": .., ...params}`` objects, or a
    comma-separated list of names (``"snapshot_before_ack,pong_delay"``)."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FaultError(f"bad fault JSON: {exc}") from exc
        out = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise FaultError(f"bad fault item {item!r}: need an object with a name")
            params = {k: v for k, v in item.items() if k != "name"}
            out.append((item["name"], params))
        return out
    return [(name.strip(), {}) for name in text.split(",") if name.strip()]
