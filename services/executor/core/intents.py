"""Order intents: the typed schema of what strategies PUSH to the executor, and its decoding.

An intent is a JSON object with Bybit v5's own field names plus ``action``
(``create``, ``cancel``, ``amend``, ``cancel_all``, ``kill_switch``). Unknown fields, unknown
actions, wrong types and malformed decimal strings are refused (:class:`IntentError`).
A ``create`` without ``orderLinkId`` gets one derived from its canonical content
(:func:`services.common.order_client.derive_order_link_id`), so identical intents dedupe.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from services.common.errors import TickwireError
from services.common.order_client import derive_order_link_id

Decimal_ = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,20}(\.[0-9]{1,20})?$")]
LinkId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,36}$")]
Symbol = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{2,30}$")]
Category = Literal["spot", "linear", "inverse"]


class IntentError(TickwireError):
    """An intent that does not decode or is incomplete; ``code`` is ``schema``."""

    code = "schema"


class _Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="action", omit_defaults=True):
    pass


class CreateIntent(_Base, tag="create"):
    """``POST /v5/order/create`` fields (a supported subset)."""

    category: Category
    symbol: Symbol
    side: Literal["Buy", "Sell"]
    orderType: Literal["Market", "Limit"]
    qty: Decimal_
    price: Decimal_ | UnsetType = UNSET
    timeInForce: Literal["GTC", "IOC", "FOK", "PostOnly", "RPI"] | UnsetType = UNSET
    orderLinkId: LinkId | UnsetType = UNSET
    positionIdx: Literal[0, 1, 2] | UnsetType = UNSET
    reduceOnly: bool | UnsetType = UNSET
    closeOnTrigger: bool | UnsetType = UNSET
    marketUnit: Literal["baseCoin", "quoteCoin"] | UnsetType = UNSET
    isLeverage: Literal[0, 1] | UnsetType = UNSET
    takeProfit: Decimal_ | UnsetType = UNSET
    stopLoss: Decimal_ | UnsetType = UNSET
    smpType: str | UnsetType = UNSET


class CancelIntent(_Base, tag="cancel"):
    """``POST /v5/order/cancel``: by ``orderLinkId`` or ``orderId``."""

    category: Category
    symbol: Symbol
    orderId: str | UnsetType = UNSET
    orderLinkId: LinkId | UnsetType = UNSET


class AmendIntent(_Base, tag="amend"):
    """``POST /v5/order/amend``: only the fields to change."""

    category: Category
    symbol: Symbol
    orderId: str | UnsetType = UNSET
    orderLinkId: LinkId | UnsetType = UNSET
    qty: Decimal_ | UnsetType = UNSET
    price: Decimal_ | UnsetType = UNSET
    takeProfit: Decimal_ | UnsetType = UNSET
    stopLoss: Decimal_ | UnsetType = UNSET


class CancelAllIntent(_Base, tag="cancel_all"):
    """``POST /v5/order/cancel-all``; linear/inverse need symbol, baseCoin or settleCoin."""

    category: Category
    symbol: Symbol | UnsetType = UNSET
    baseCoin: str | UnsetType = UNSET
    settleCoin: str | UnsetType = UNSET


class KillSwitchIntent(_Base, tag="kill_switch"):
    """Turn the runtime kill switch on (refuse new orders and amends) or off."""

    on: bool


Intent = CreateIntent | CancelIntent | AmendIntent | CancelAllIntent | KillSwitchIntent
OrderIntent = CreateIntent | CancelIntent | AmendIntent | CancelAllIntent

_decoder = msgspec.json.Decoder(Intent)


def decode_intent(raw: bytes, max_bytes: int | None = None) -> Intent:
    """Decode and complete one intent; raise :class:`IntentError` with a readable reason.

    ``max_bytes`` (``executor_max_intent_bytes``) refuses larger bodies before decoding them.
    """
    if max_bytes is not None and len(raw) > max_bytes:
        raise IntentError(f"intent of {len(raw)} bytes is larger than {max_bytes} bytes")
    try:
        intent: Intent = _decoder.decode(raw)
    except msgspec.ValidationError as exc:  # (a subclass of DecodeError)
        raise IntentError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise IntentError(f"not a JSON intent: {exc}") from None
    except (UnicodeDecodeError, RecursionError) as exc:  # msgspec raises these, not DecodeError
        raise IntentError(f"not a JSON intent: {type(exc).__name__}") from None
    if isinstance(intent, CreateIntent):
        if intent.orderType == "Limit" and intent.price is UNSET:
            raise IntentError("a Limit order needs `price`")
        if intent.orderLinkId is UNSET:
            intent.orderLinkId = derive_order_link_id(msgspec.to_builtins(intent))
    elif isinstance(intent, CancelIntent | AmendIntent):
        if intent.orderId is UNSET and intent.orderLinkId is UNSET:
            raise IntentError(f"{type(intent).__name__[:-6].lower()} needs `orderLinkId` or `orderId`")
        if isinstance(intent, AmendIntent) and all(
            v is UNSET for v in (intent.qty, intent.price, intent.takeProfit, intent.stopLoss)
        ):
            raise IntentError("amend needs at least one of qty, price, takeProfit, stopLoss")
    elif (
        isinstance(intent, CancelAllIntent)
        and intent.category != "spot"
        and intent.symbol is UNSET
        and intent.baseCoin is UNSET
        and intent.settleCoin is UNSET
    ):
        raise IntentError(f"cancel_all on {intent.category} needs symbol, baseCoin or settleCoin")
    return intent


def action_of(intent: Intent) -> str:
    """The ``action`` tag of an intent."""
    return str(type(intent).__struct_config__.tag)


def link_id_of(intent: Intent) -> str:
    """The ``orderLinkId`` an intent is about, or ``""``."""
    value = getattr(intent, "orderLinkId", UNSET)
    return "" if value is UNSET else str(value)


def order_id_of(intent: Intent) -> str:
    value = getattr(intent, "orderId", UNSET)
    return "" if value is UNSET else str(value)


def peek_fields(raw: bytes) -> dict[str, str]:
    """Best-effort ``action``/``category``/``symbol``/``orderLinkId`` of a refused intent, for its report."""
    try:
        obj: Any = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return {}
    if not isinstance(obj, dict):
        return {}
    out = {}
    for key in ("action", "category", "symbol", "orderLinkId"):
        value = obj.get(key)
        if isinstance(value, str) and len(value) <= 64:
            out[key] = value
    return out


def to_json(intent: Intent) -> bytes:
    """The intent as canonical JSON (journal form)."""
    return msgspec.json.encode(intent)


def from_json(raw: bytes) -> Intent:
    """Decode an intent from the journal (already validated)."""
    intent: Intent = _decoder.decode(raw)
    return intent
