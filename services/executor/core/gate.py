"""The per-key gate that orders REST calls in flight (pure: no I/O, no threads, no clocks).

Several REST calls may be in flight at once (docs/orders.md "Calls in flight"); the gate keeps
the ones that must not overlap apart. Every call *claims* keys, each either **exclusive** or
**shared**:

* a call about one order (create, cancel, amend, lookup) claims ``("link", orderLinkId)``
  exclusive (``("oid", orderId)`` when only the orderId is known), plus ``("cat", category)``
  and ``ALL`` shared;
* a cancel-all claims ``("cat", category)`` exclusive and ``ALL`` shared;
* the kill switch's barrier claims ``ALL`` exclusive.

An exclusive key conflicts with any other holder of that key, a shared key only with an exclusive
holder. A call whose claim conflicts with a call in flight - **or with an earlier call that is
itself held back** - is held back, and held calls are let go strictly in arrival order as keys are
released. So a cancel never overtakes its order's create, a cancel-all waits for every call of its
category in flight before it and everything of that category after it waits for it, and a
barrier on ``ALL`` waits for everything.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Key = tuple[str, str]
ALL: Key = ("all", "")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Claim:
    """Keys a call holds while it is in flight (tuples may repeat keys: merged calls add up)."""

    exclusive: tuple[Key, ...] = ()
    shared: tuple[Key, ...] = ()

    def __add__(self, other: Claim) -> Claim:
        return Claim(self.exclusive + other.exclusive, self.shared + other.shared)


def order_claim(category: str, *keys: Key) -> Claim:
    """The claim of a call about one or more orders of ``category``."""
    return Claim(tuple(keys), (("cat", category), ALL))


def category_claim(category: str) -> Claim:
    """The claim of a cancel-all of ``category`` (a barrier for that category)."""
    return Claim((("cat", category),), (ALL,))


BARRIER = Claim((ALL,), ())


def link_key(link: str) -> Key:
    return ("link", link)


class _Counts:
    """Multiset of keys (exclusive and shared counts)."""

    __slots__ = ("excl", "shared")

    def __init__(self) -> None:
        self.excl: dict[Key, int] = {}
        self.shared: dict[Key, int] = {}

    def conflicts(self, claim: Claim) -> bool:
        excl, shared = self.excl, self.shared
        for k in claim.exclusive:
            if k in excl or k in shared:
                return True
        return any(k in excl for k in claim.shared)

    def add(self, claim: Claim) -> None:
        for k in claim.exclusive:
            self.excl[k] = self.excl.get(k, 0) + 1
        for k in claim.shared:
            self.shared[k] = self.shared.get(k, 0) + 1

    def remove(self, claim: Claim) -> None:
        for table, keys in ((self.excl, claim.exclusive), (self.shared, claim.shared)):
            for k in keys:
                n = table.get(k, 0) - 1
                if n > 0:
                    table[k] = n
                else:
                    table.pop(k, None)

    def has(self, key: Key) -> bool:
        return key in self.excl or key in self.shared


class KeyGate(Generic[T]):
    """Admits items whose claim is free, holds the others in arrival order (see module docstring)."""

    def __init__(self) -> None:
        self._busy = _Counts()
        self._waiting = _Counts()
        self._held: deque[tuple[T, Claim]] = deque()

    def offer(self, item: T, claim: Claim) -> bool:
        """True: ``claim`` is now held for ``item`` (send it). False: the gate holds ``item``."""
        if self._busy.conflicts(claim) or (self._held and self._waiting.conflicts(claim)):
            self._held.append((item, claim))
            self._waiting.add(claim)
            return False
        self._busy.add(claim)
        return True

    def release(self, claim: Claim, keep: Iterable[Claim] = ()) -> list[T]:
        """Release ``claim``; first take every claim in ``keep`` (follow-up calls of the finished one,
        which go before anything held); return the held items admitted now, in arrival order."""
        self._busy.remove(claim)
        for k in keep:
            self._busy.add(k)
        if not self._held:
            return []
        admitted: list[T] = []
        earlier = _Counts()  # claims of items still held ahead of the one looked at
        still: deque[tuple[T, Claim]] = deque()
        for item, c in self._held:
            if self._busy.conflicts(c) or earlier.conflicts(c):
                earlier.add(c)
                still.append((item, c))
            else:
                self._busy.add(c)
                self._waiting.remove(c)
                admitted.append(item)
        self._held = still
        return admitted

    def busy(self, key: Key) -> bool:
        """Some admitted (in-flight) item holds ``key``."""
        return self._busy.has(key)

    def claimed(self, key: Key) -> bool:
        """An admitted or a held item holds or waits for ``key``."""
        return self._busy.has(key) or self._waiting.has(key)

    @property
    def held(self) -> int:
        return len(self._held)

    def held_items(self) -> Sequence[T]:
        return [item for item, _ in self._held]

    @property
    def idle(self) -> bool:
        """Nothing admitted and nothing held."""
        return not self._held and not self._busy.excl and not self._busy.shared
