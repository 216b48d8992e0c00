"""``POST /v5/order/create-batch`` semantics: per-item results, index-aligned.

Pure. The response's ``result.list[i]`` and ``retExtInfo.list[i]`` describe request item ``i``;
failed items carry ``orderId: ""`` and ``createAt: ""`` and their own ``code``/``msg``, while the
envelope's retCode stays 0 (PROTOCOL.md §7.5, §6). At most 20 items on linear/inverse/option and
10 on spot (more: the whole request fails with 10001). Items beyond the rate-limit grant fail
with 10006 individually.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.bybit_sim.trading.core import errors as e
from services.bybit_sim.trading.core.engine import Engine, Push
from services.bybit_sim.trading.core.errors import ApiError, params_error
from services.bybit_sim.trading.core.model import BookLike
from services.bybit_sim.trading.core.validation import check_category

BATCH_MAX = {"spot": 10, "linear": 20, "inverse": 20, "option": 20}


def batch_size(body: Mapping[str, Any]) -> int:
    """Rate-limit units a batch asks for: one per item (at least 1)."""
    items = body.get("request")
    return max(1, len(items)) if isinstance(items, list) else 1


def create_batch(
    engine: Engine,
    uid: int,
    body: Mapping[str, Any],
    books: Mapping[tuple[str, str], BookLike],
    granted: int,
    now_ms: int,
) -> tuple[dict[str, Any], dict[str, Any], list[Push]]:
    """Place each item of a batch; return ``(result, retExtInfo, pushes)``.

    Raises:
        ApiError: the request as a whole is invalid (category, empty or oversized ``request``).
    """
    category = check_category(body.get("category"))
    items = body.get("request")
    if not isinstance(items, list) or not items:
        raise params_error("request is required")
    if len(items) > BATCH_MAX[category]:
        raise params_error(f"batch size exceeds the limit of {BATCH_MAX[category]}")
    rows: list[dict[str, Any]] = []
    codes: list[dict[str, Any]] = []
    pushes: list[Push] = []
    for i, item in enumerate(items):
        fields = item if isinstance(item, dict) else {}
        row = {"category": category, "symbol": fields.get("symbol", ""), "orderId": "",
               "orderLinkId": fields.get("orderLinkId", ""), "createAt": ""}  # fmt: skip
        try:
            if i >= granted:
                raise e.TOO_MANY
            if not isinstance(item, dict):
                raise params_error("request item must be an object")
            order_body = {**item, "category": category}
            book = books.get((category, str(item.get("symbol", ""))))
            order, item_pushes = engine.create(uid, order_body, book, now_ms)
        except ApiError as exc:
            codes.append({"code": exc.ret_code, "msg": exc.ret_msg})
        else:
            pushes.extend(item_pushes)
            row.update(
                orderId=order.order_id, orderLinkId=order.order_link_id, createAt=str(order.created_ms)
            )
            codes.append({"code": 0, "msg": "OK"})
        rows.append(row)
    return {"list": rows}, {"list": codes}, pushes
