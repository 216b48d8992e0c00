"""Bybit v5 business errors as a typed exception with Bybit's retCodes and message texts.

Pure: no I/O. :class:`ApiError` is raised by the core and rendered by the REST/WS adapters as
``{"retCode": code, "retMsg": msg, ...}`` with HTTP 200, as Bybit does (PROTOCOL.md §7.2, §7.7).
"""

from __future__ import annotations

from services.common.errors import ProtocolError

# retCodes (PROTOCOL.md §7.7)
OK = 0
PARAMS = 10001
TIMESTAMP = 10002
API_KEY = 10003
SIGN = 10004
TOO_MANY_VISITS = 10006
ORDER_NOT_EXISTS = 110001
INSUFFICIENT_AB = 110007
REDUCE_ONLY = 110017
DUP_LINK_ID = 110072
MIN_NOTIONAL = 110094
SPOT_INVALID_SYMBOL = 170121
SPOT_BAD_VALUE = 170130
SPOT_INSUFFICIENT = 170131
SPOT_PRICE_DECIMALS = 170134
SPOT_QTY_TOO_LARGE = 170135
SPOT_QTY_TOO_SMALL = 170136
SPOT_QTY_DECIMALS = 170137
SPOT_VALUE_TOO_SMALL = 170140
SPOT_DUP_LINK_ID = 170141
SPOT_ORDER_NOT_EXISTS = 170213


class ApiError(ProtocolError):
    """A request Bybit would refuse: carries the retCode and the exact retMsg."""

    def __init__(self, ret_code: int, ret_msg: str) -> None:
        super().__init__(ret_msg, code=f"ret_{ret_code}")
        self.ret_code = ret_code
        self.ret_msg = ret_msg

    def __repr__(self) -> str:
        return f"ApiError({self.ret_code}, {self.ret_msg!r})"


def params_error(detail: str) -> ApiError:
    """10001 with Bybit's ``params error: ...`` wording."""
    return ApiError(PARAMS, f"params error: {detail}")


def order_not_exists(category: str) -> ApiError:
    """110001 (derivatives) / 170213 (spot): unknown or already finished order."""
    if category == "spot":
        return ApiError(SPOT_ORDER_NOT_EXISTS, "Order does not exist.")
    return ApiError(ORDER_NOT_EXISTS, "Order does not exist")


def duplicate_link_id(category: str) -> ApiError:
    """110072 (derivatives) / 170141 (spot)."""
    if category == "spot":
        return ApiError(SPOT_DUP_LINK_ID, "Duplicate clientOrderId.")
    return ApiError(DUP_LINK_ID, "OrderLinkedID is duplicate")


def missing_scope() -> ApiError:
    """10001 when a derivatives query or cancel-all names no symbol, baseCoin or settleCoin."""
    return ApiError(
        PARAMS, "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin"
    )


TOO_MANY = ApiError(TOO_MANY_VISITS, "Too many visits!")
