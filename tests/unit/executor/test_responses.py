"""Classification of REST results: Accepted, Rejected, Retryable, Duplicate, Ambiguous."""

from __future__ import annotations

import msgspec
import pytest

from services.executor.core.responses import (
    Accepted,
    Ambiguous,
    Duplicate,
    HttpResult,
    Rejected,
    Retryable,
    classify,
    classify_batch,
    server_time_ms,
)


def ok(body: dict[str, object], status: int = 200, reset: int = 0) -> HttpResult:
    return HttpResult(status, msgspec.json.encode(body), {}, reset_ms=reset)


def env(code: int, msg: str = "", result: object = None, ext: object = None) -> dict[str, object]:
    return {"retCode": code, "retMsg": msg, "result": result or {}, "retExtInfo": ext or {}, "time": 1}


def test_accepted() -> None:
    out = classify(
        ok(env(0, "OK", {"orderId": "1321003749386327552", "orderLinkId": "usdt-test-01"})), is_create=True
    )
    assert out == Accepted(
        "1321003749386327552",
        "usdt-test-01",
        {"orderId": "1321003749386327552", "orderLinkId": "usdt-test-01"},
    )


@pytest.mark.parametrize(
    ("res", "create", "kind", "detail"),
    [
        (ok(env(10006, "Too many visits!"), reset=123), True, Retryable, "rate_limit"),
        (ok(env(10002, "invalid request")), True, Retryable, "clock"),
        (ok(env(110072, "OrderLinkedID is duplicate")), True, Duplicate, "110072"),
        (ok(env(170141, "Duplicate clientOrderId")), True, Duplicate, "170141"),
        (ok(env(10016, "server error")), True, Ambiguous, "busy"),
        (ok(env(10016, "server error")), False, Retryable, "busy"),
        (ok(env(110007, "ab not enough for new order")), True, Rejected, "110007"),
        (ok(env(110001, "order not exists")), False, Rejected, "110001"),
        (HttpResult(503, b"<html>", {}), True, Ambiguous, "http_5xx"),
        (HttpResult(0, b"", {}, error="timeout"), True, Ambiguous, "timeout"),
        (HttpResult(0, b"", {}, error="connection"), True, Ambiguous, "connection"),
        (HttpResult(200, b"garbage", {}), True, Ambiguous, "bad_response"),
        (HttpResult(429, b"", {}), True, Retryable, "rate_limit"),
        (HttpResult(403, b"", {}), True, Rejected, "http_403"),
        (ok({"retMsg": "no code"}), True, Ambiguous, "bad_response"),
    ],
)
def test_classify(res: HttpResult, create: bool, kind: type, detail: str) -> None:
    out = classify(res, is_create=create)
    assert isinstance(out, kind)
    assert detail in (getattr(out, "cause", "") or getattr(out, "code", ""))


def test_rate_limit_carries_reset() -> None:
    out = classify(ok(env(10006), reset=1700000000123), is_create=True)
    assert isinstance(out, Retryable) and out.until_ms == 1700000000123


def test_batch_mixed_items() -> None:
    body = env(
        0,
        "OK",
        {
            "list": [
                {"orderId": "1", "orderLinkId": "a"},
                {"orderId": "", "orderLinkId": "b"},
                {"orderId": "", "orderLinkId": "c"},
                {"orderId": "", "orderLinkId": "d"},
            ]
        },
        {
            "list": [
                {"code": 0, "msg": "OK"},
                {"code": 10001, "msg": "position idx not match position mode"},
                {"code": 10006, "msg": "Too many visits!"},
                {"code": 110072, "msg": "dup"},
            ]
        },
    )
    outs = classify_batch(ok(body), 4)
    assert isinstance(outs[0], Accepted) and outs[0].order_id == "1"
    assert isinstance(outs[1], Rejected) and outs[1].code == "10001"
    assert isinstance(outs[2], Retryable) and outs[2].cause == "rate_limit"
    assert isinstance(outs[3], Duplicate)


def test_batch_envelope_errors_apply_to_all() -> None:
    assert all(isinstance(o, Ambiguous) for o in classify_batch(HttpResult(502, b"", {}), 3))
    assert all(isinstance(o, Retryable) for o in classify_batch(ok(env(10002)), 2))
    short = env(0, "OK", {"list": [{}]}, {"list": [{"code": 0}]})
    assert all(isinstance(o, Ambiguous) for o in classify_batch(ok(short), 2))


def test_server_time() -> None:
    assert (
        server_time_ms({"result": {"timeSecond": "1688639403", "timeNano": "1688639403423213947"}})
        == 1688639403423
    )
    assert server_time_ms({"result": {}, "time": 5}) == 5
