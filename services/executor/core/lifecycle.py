"""Order lifecycle as journaled: statuses, Bybit status mapping, and crash-recovery decisions. Pure.

Journal status of an order (``orders.status``)::

    pending ──send──► accepted ──stream──► new ─► partially_filled ─► filled
       │  │                                  └──────────┴──────────► cancelled
       │  └─(timeout/5xx)─► unknown ──query: found──► (exchange's status)
       │                        └───query: absent──► pending (re-sent with the same orderLinkId)
       └─(business error)─► rejected

``pending`` means "journaled, maybe on the wire": the executor commits the journal *before* the
request is written, so after a crash a ``pending`` or ``unknown`` order is looked up by its
orderLinkId before anything is re-sent; the exchange's duplicate-orderLinkId check (110072/170141)
guards the re-send in the window where a lookup can miss an order still being processed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

UNSENT_OR_UNSURE = frozenset({"pending", "unknown"})
LIVE = frozenset({"accepted", "new", "partially_filled"})
FINAL = frozenset({"filled", "cancelled", "rejected"})

_BYBIT_STATUS = {
    "Created": "accepted",
    "New": "new",
    "Untriggered": "new",
    "Triggered": "new",
    "Active": "new",
    "PartiallyFilled": "partially_filled",
    "Filled": "filled",
    "Cancelled": "cancelled",
    "PartiallyFilledCanceled": "cancelled",
    "Deactivated": "cancelled",
    "Rejected": "rejected",
}
_RANK = {"pending": 0, "unknown": 0, "accepted": 1, "new": 2, "partially_filled": 3}


def map_status(order_status: str) -> str:
    """Bybit ``orderStatus`` → report status (``new`` if unknown to us)."""
    return _BYBIT_STATUS.get(order_status, "new")


def is_final(status: str) -> bool:
    return status in FINAL


def should_apply(current: str, incoming: str) -> bool:
    """Whether an exchange status may replace the journaled one (never leave a final status;
    never go back from partially_filled to new, e.g. a late push)."""
    if current in FINAL:
        return False
    if incoming in FINAL:
        return True
    return _RANK.get(incoming, 0) >= _RANK.get(current, 0)


class Recovery(Enum):
    ADOPT = "adopt"  # take the exchange's status
    RESEND = "resend"  # not on the exchange: send again, same orderLinkId
    KEEP = "keep"  # nothing to do now (live order no longer listed: left for the periodic check)
    DONE = "done"  # already final


@dataclass(frozen=True, slots=True)
class RecoveryDecision:
    action: Recovery
    status: str


def recover(journal_status: str, exchange_status: str | None) -> RecoveryDecision:
    """Decide what to do with one journaled create after a restart.

    ``exchange_status`` is the Bybit ``orderStatus`` found by orderLinkId (open orders list or a
    lookup), or None when the exchange does not know the orderLinkId.
    """
    if journal_status in FINAL:
        return RecoveryDecision(Recovery.DONE, journal_status)
    if exchange_status is not None:
        return RecoveryDecision(Recovery.ADOPT, map_status(exchange_status))
    if journal_status in UNSENT_OR_UNSURE:
        return RecoveryDecision(Recovery.RESEND, "pending")
    return RecoveryDecision(Recovery.KEEP, journal_status)


def recover_intent(action: str, state: str) -> bool:
    """Whether a journaled cancel/amend/cancel_all intent must be re-issued after a restart.

    They are idempotent towards the target state (cancel twice = cancelled; amend to the same
    absolute price/qty twice = same order), so an unfinished one is simply sent again.
    """
    return action in ("cancel", "amend", "cancel_all") and state in UNSENT_OR_UNSURE
