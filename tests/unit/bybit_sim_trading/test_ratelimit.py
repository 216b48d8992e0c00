"""Unit tests of the rolling 1-s rate-limit windows (core/ratelimit.py, PROTOCOL.md §7.3)."""

from __future__ import annotations

from services.bybit_sim.trading.core.ratelimit import RateLimiter, limit_for

CREATE = "/v5/order/create"


def test_limits_table() -> None:
    """Per-endpoint, per-category limits as documented."""
    assert limit_for(CREATE, "linear") == 10
    assert limit_for(CREATE, "spot") == 20
    assert limit_for("/v5/order/cancel-all", "option") == 1
    assert limit_for("/v5/order/realtime", "linear") == 50
    assert limit_for("/v5/position/list", "linear") == 50


def test_window_fills_then_refuses_then_rolls() -> None:
    """10 requests pass, the 11th in the same second is refused; a unit frees 1000 ms later."""
    rl = RateLimiter()
    grants = [rl.acquire(1, CREATE, "linear", 1000 + i) for i in range(11)]
    later = rl.acquire(1, CREATE, "linear", 2000)  # the hit at t=1000 left the window

    assert [g.granted for g in grants] == [1] * 10 + [0]
    assert [g.remaining for g in grants[:3]] == [9, 8, 7]
    assert grants[10].remaining == 0 and grants[10].reset_ms == 2000
    assert later.granted == 1 and later.remaining == 0


def test_headers() -> None:
    """X-Bapi-Limit* headers carry limit, remaining and the reset time."""
    rl = RateLimiter()
    g = rl.acquire(1, CREATE, "linear", 5000)
    assert g.headers() == {
        "X-Bapi-Limit": "10",
        "X-Bapi-Limit-Status": "9",
        "X-Bapi-Limit-Reset-Timestamp": "6000",
    }


def test_windows_are_per_uid_endpoint_category() -> None:
    """Other UIDs, endpoints and categories have their own budget."""
    rl = RateLimiter()
    for i in range(10):
        rl.acquire(1, CREATE, "linear", 1000 + i)
    assert rl.acquire(1, CREATE, "linear", 1010).granted == 0
    assert rl.acquire(2, CREATE, "linear", 1010).granted == 1
    assert rl.acquire(1, CREATE, "spot", 1010).granted == 1
    assert rl.acquire(1, "/v5/order/amend", "linear", 1010).granted == 1
    assert rl.acquire(1, "/v5/order/create-batch", "linear", 1010).granted == 1


def test_batch_grants_first_k_units() -> None:
    """A batch consumes one unit per order; when the budget runs out only the first k pass."""
    rl = RateLimiter()
    first = rl.acquire(1, "/v5/order/create-batch", "linear", 1000, units=7)
    second = rl.acquire(1, "/v5/order/create-batch", "linear", 1001, units=7)
    third = rl.acquire(1, "/v5/order/create-batch", "linear", 1002, units=1)
    assert (first.granted, second.granted, third.granted) == (7, 3, 0)
    assert second.remaining == 0


def test_scale_raises_limits_and_headers() -> None:
    """``sim_rate_limit_scale``: the window and the X-Bapi-Limit header scale together."""
    rl = RateLimiter(100.0)
    grants = [rl.acquire(1, CREATE, "linear", 1000) for _ in range(1001)]

    assert [g.granted for g in grants] == [1] * 1000 + [0]
    assert grants[0].headers()["X-Bapi-Limit"] == "1000"
    assert grants[0].remaining == 999
    assert RateLimiter(0.01).acquire(1, CREATE, "linear", 0).limit == 1  # never below one
