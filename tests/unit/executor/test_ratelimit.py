"""Token buckets and their correction by Bybit's X-Bapi-Limit* headers."""

from __future__ import annotations

from services.executor.core.ratelimit import RateLimiter, TokenBucket, parse_limit_headers


def test_bucket_take_and_refill() -> None:
    b = TokenBucket.full(10, now_ms=0)
    assert all(b.take(1, 0) == 0 for _ in range(10))
    assert b.take(1, 0) == 100.0  # one token every 100 ms
    assert b.take(1, 100) == 0
    assert b.take(5, 100) == 500.0  # nothing consumed when refused


def test_batch_weight_capped_by_capacity() -> None:
    b = TokenBucket.full(10, now_ms=0)
    assert b.take(20, 0) == 0  # a 20-order batch on a 10/s bucket waits for a full bucket only
    assert b.tokens == 0


def test_header_correction() -> None:
    b = TokenBucket.full(10, now_ms=0)
    b.correct(limit=20, remaining=3, reset_ms=1000, now_ms=0)
    assert b.capacity == 20 and b.tokens == 3
    b.correct(limit=20, remaining=0, reset_ms=700, now_ms=10)
    assert b.take(1, 10) == 690  # blocked until the reset time
    assert b.take(1, 700) == 0


def test_block_after_10006() -> None:
    lim = RateLimiter()
    lim.block("/v5/order/create", "linear", 1500, 1000)
    assert lim.acquire("/v5/order/create", "inverse", 1, 1000) == 500  # linear and inverse share limits
    assert lim.acquire("/v5/order/create", "spot", 1, 1000) == 0  # spot has its own bucket


def test_defaults_from_protocol_table() -> None:
    lim = RateLimiter()
    assert lim.bucket("/v5/order/create", "linear", 0).capacity == 10
    assert lim.bucket("/v5/order/create", "spot", 0).capacity == 20
    assert lim.bucket("/v5/order/realtime", "linear", 0).capacity == 50


def test_observe_headers_and_headroom() -> None:
    lim = RateLimiter()
    lim.observe(
        "/v5/order/create",
        "linear",
        {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "5", "X-Bapi-Limit-Reset-Timestamp": "1"},
        0,
    )
    assert lim.headroom(0)[("/v5/order/create", "linear")] == 0.5
    assert parse_limit_headers({"X-Bapi-Limit": "x", "X-Bapi-Limit-Status": "1"}) is None
    assert parse_limit_headers({}) is None
