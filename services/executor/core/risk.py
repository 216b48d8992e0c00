"""Risk limits from configuration, checked before an intent leaves. Pure: state and time come in.

* kill switch: creates and amends refused (cancels always allowed);
* ``max_order_notional`` per order (0 disables), in quote coin (USD for inverse);
* ``max_position`` per symbol: |position + resting orders on the same side + this order| (0 disables;
  reduce-only orders are exempt);
* ``max_open_orders`` across all symbols;
* ``max_orders_per_second`` for creates and amends (a token bucket);
* ``price_band_pct``: a limit price at most this far from the book's mid (0 disables); without a
  live book the order is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.executor.core.intents import CreateIntent
from services.executor.core.ratelimit import TokenBucket
from services.executor.core.validation import Checked, Refusal


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_order_notional: Decimal
    max_position: Decimal
    max_open_orders: int
    max_orders_per_second: float
    price_band_pct: Decimal

    @property
    def band_enabled(self) -> bool:
        return self.price_band_pct > 0


@dataclass(slots=True)
class Exposure:
    """What is known about one symbol: signed position and resting quantity per side (base units)."""

    position: Decimal = Decimal(0)
    open_buy: Decimal = Decimal(0)
    open_sell: Decimal = Decimal(0)


def check_band(limits: RiskLimits, price: Decimal, mid: Decimal | None, book_state: str) -> None:
    """Refuse a price outside ``mid ± price_band_pct %``; refuse when there is no live mid."""
    if not limits.band_enabled:
        return
    if mid is None or mid <= 0:
        raise Refusal(f"price band check needs a live book ({book_state})", code="no_reference_price")
    if abs(price - mid) * 100 > limits.price_band_pct * mid:
        raise Refusal(
            f"price {price} is more than {limits.price_band_pct}% from mid {mid}", code="price_band"
        )


class RiskGate:
    """Holds the order-rate bucket and the kill switch; checks each intent against the limits."""

    def __init__(self, limits: RiskLimits, *, kill_switch: bool, now_ms: float) -> None:
        self.limits = limits
        self.kill_switch = kill_switch
        rate = max(limits.max_orders_per_second, 0.001)
        self.rate = TokenBucket.full(rate, now_ms) if limits.max_orders_per_second > 0 else None

    def check_kill(self) -> None:
        if self.kill_switch:
            raise Refusal("kill switch is on: no new orders or amends", code="kill_switch")

    def check_rate(self, now_ms: float) -> None:
        if self.rate is not None and self.rate.take(1, now_ms) > 0:
            raise Refusal(
                f"more than {self.limits.max_orders_per_second} orders per second", code="risk_rate"
            )

    def check_create(
        self,
        intent: CreateIntent,
        checked: Checked,
        exposure: Exposure,
        open_orders: int,
        mid: Decimal | None,
        book_state: str,
        now_ms: float,
    ) -> None:
        """All limits for one create; raises :class:`Refusal` on the first one broken."""
        lim = self.limits
        self.check_kill()
        if open_orders >= lim.max_open_orders:
            raise Refusal(
                f"{open_orders} open orders already (max {lim.max_open_orders})", code="risk_open_orders"
            )
        if lim.max_order_notional > 0:
            if checked.notional is None:
                raise Refusal("market order notional unknown: no live book", code="no_reference_price")
            if checked.notional > lim.max_order_notional:
                raise Refusal(
                    f"notional {checked.notional} above max_order_notional {lim.max_order_notional}",
                    code="risk_notional",
                )
        if lim.max_position > 0 and intent.reduceOnly is not True and checked.base_qty is not None:
            if intent.side == "Buy":
                worst = exposure.position + exposure.open_buy + checked.base_qty
            else:
                worst = exposure.position - exposure.open_sell - checked.base_qty
            if abs(worst) > lim.max_position:
                raise Refusal(f"position could reach {worst} (max {lim.max_position})", code="risk_position")
        if checked.price is not None:
            check_band(lim, checked.price, mid, book_state)
        self.check_rate(now_ms)
