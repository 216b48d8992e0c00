"""Account state of the simulated exchange: a unified wallet and one-way positions.

Pure. Positions are one-way (``positionIdx`` 0), leverage 10; linear PnL is in the settle coin,
inverse PnL in the base coin. The wallet holds a balance and a spot ``locked`` amount per coin.
Renderers give the private ``position``/``wallet`` topic records and the REST list items
(PROTOCOL.md §5.5, §5.6, §7.5: REST ``avgPrice`` is the WS ``entryPrice``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services.bybit_sim.trading.core.model import ZERO, fmt, q8

LEVERAGE = Decimal(10)
MM_RATE = Decimal("0.005")
STABLE = frozenset({"USDT", "USDC", "USD"})


@dataclass(slots=True)
class Position:
    """A one-way position; ``size`` is signed (long > 0)."""

    category: str
    symbol: str
    settle_coin: str
    size: Decimal = ZERO
    entry: Decimal = ZERO
    cur_realised: Decimal = ZERO
    cum_realised: Decimal = ZERO
    created_ms: int = 0
    updated_ms: int = 0
    seq: int = 0

    def apply_fill(self, side: str, qty: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
        """Apply a fill; return ``(closed_size, realised_pnl)`` (PnL before fees)."""
        signed = qty if side == "Buy" else -qty
        closed = ZERO
        pnl = ZERO
        if self.size != 0 and (self.size > 0) != (signed > 0):
            closed = min(abs(self.size), qty)
            direction = Decimal(1) if self.size > 0 else Decimal(-1)
            if self.category == "inverse":
                pnl = q8(closed * (1 / self.entry - 1 / price) * direction)
            else:
                pnl = q8(closed * (price - self.entry) * direction)
            opening = qty - closed
            self.size += signed
            if self.size == 0:
                self.entry = ZERO
            elif opening > 0:  # flipped through zero
                self.entry = price
        else:
            old = abs(self.size)
            new = old + qty
            if self.category == "inverse":  # contracts: harmonic average
                value = (old / self.entry if old else ZERO) + qty / price
                self.entry = q8(new / value)
            else:
                self.entry = q8((old * self.entry + qty * price) / new)
            self.size += signed
        self.cur_realised += pnl
        self.cum_realised += pnl
        return closed, pnl

    def value(self) -> Decimal:
        if self.size == 0 or self.entry == 0:
            return ZERO
        if self.category == "inverse":
            return q8(abs(self.size) / self.entry)
        return q8(abs(self.size) * self.entry)

    def unrealised(self, mark: Decimal | None) -> Decimal:
        if self.size == 0 or mark is None or mark == 0:
            return ZERO
        if self.category == "inverse":
            return q8(self.size * (1 / self.entry - 1 / mark))
        return q8(self.size * (mark - self.entry))

    def render(self, mark: Decimal | None, *, rest: bool = False) -> dict[str, Any]:
        """The ``position`` topic record (``rest=True``: the ``/v5/position/list`` item)."""
        value = self.value()
        side = "" if self.size == 0 else ("Buy" if self.size > 0 else "Sell")
        record: dict[str, Any] = {
            "positionIdx": 0,
            "tradeMode": 0,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "symbol": self.symbol,
            "side": side,
            "size": fmt(abs(self.size)),
            ("avgPrice" if rest else "entryPrice"): fmt(self.entry),
            "sessionAvgPrice": "",
            "leverage": fmt(LEVERAGE),
            "breakEvenPrice": fmt(self.entry),
            "positionValue": fmt(value),
            "positionBalance": "0",
            "markPrice": fmt(mark) if mark is not None else "",
            "positionIM": fmt(q8(value / LEVERAGE)),
            "positionMM": fmt(q8(value * MM_RATE)),
            "positionIMByMp": fmt(q8(value / LEVERAGE)),
            "positionMMByMp": fmt(q8(value * MM_RATE)),
            "takeProfit": "0",
            "stopLoss": "0",
            "trailingStop": "0",
            "unrealisedPnl": fmt(self.unrealised(mark)),
            "curRealisedPnl": fmt(self.cur_realised),
            "cumRealisedPnl": fmt(self.cum_realised),
            "createdTime": str(self.created_ms),
            "updatedTime": str(self.updated_ms or self.created_ms),
            "tpslMode": "Full",
            "liqPrice": "",
            "bustPrice": "",
            "category": self.category,
            "positionStatus": "Normal",
            "adlRankIndicator": 0 if self.size == 0 else 2,
            "autoAddMargin": 0,
            "leverageSysUpdatedTime": "",
            "mmrSysUpdatedTime": "",
            "seq": self.seq,
            "isReduceOnly": False,
        }
        return record


@dataclass(slots=True)
class Wallet:
    """Unified wallet: balance and spot-locked amount per coin, realised PnL per coin."""

    balances: dict[str, Decimal] = field(default_factory=dict)
    locked: dict[str, Decimal] = field(default_factory=dict)
    realised: dict[str, Decimal] = field(default_factory=dict)

    def add(self, coin: str, amount: Decimal) -> None:
        self.balances[coin] = self.balances.get(coin, ZERO) + amount

    def lock(self, coin: str, amount: Decimal) -> None:
        self.locked[coin] = self.locked.get(coin, ZERO) + amount

    def available(self, coin: str) -> Decimal:
        return self.balances.get(coin, ZERO) - self.locked.get(coin, ZERO)

    def render(
        self,
        usd_price: Callable[[str], Decimal | None],
        upl: dict[str, Decimal],
        position_im: dict[str, Decimal],
    ) -> dict[str, Any]:
        """The ``wallet`` topic record / ``wallet-balance`` list item (accountType UNIFIED)."""
        coins = []
        total_equity = total_wallet = total_upl_usd = total_im = ZERO
        for coin in sorted(self.balances):
            balance = self.balances[coin]
            coin_upl = upl.get(coin, ZERO)
            equity = balance + coin_upl
            price = Decimal(1) if coin in STABLE else usd_price(coin)
            usd = q8(equity * price) if price is not None else ZERO
            if price is not None:
                total_equity += usd
                total_wallet += q8(balance * price)
                total_upl_usd += q8(coin_upl * price)
                total_im += q8(position_im.get(coin, ZERO) * price)
            locked = self.locked.get(coin, ZERO)
            coins.append(
                {
                    "coin": coin,
                    "equity": fmt(equity),
                    "usdValue": fmt(usd),
                    "walletBalance": fmt(balance),
                    "availableToWithdraw": fmt(balance - locked),
                    "availableToBorrow": "",
                    "borrowAmount": "0",
                    "accruedInterest": "0",
                    "totalOrderIM": "0",
                    "totalPositionIM": fmt(position_im.get(coin, ZERO)),
                    "totalPositionMM": "0",
                    "unrealisedPnl": fmt(coin_upl),
                    "cumRealisedPnl": fmt(self.realised.get(coin, ZERO)),
                    "bonus": "0",
                    "collateralSwitch": True,
                    "marginCollateral": True,
                    "locked": fmt(locked),
                    "spotHedgingQty": "0",
                }
            )
        return {
            "accountType": "UNIFIED",
            "accountIMRate": "0",
            "accountMMRate": "0",
            "accountLTV": "0",
            "totalEquity": fmt(total_equity),
            "totalWalletBalance": fmt(total_wallet),
            "totalMarginBalance": fmt(total_equity),
            "totalAvailableBalance": fmt(total_equity - total_im),
            "totalPerpUPL": fmt(total_upl_usd),
            "totalInitialMargin": fmt(total_im),
            "totalMaintenanceMargin": "0",
            "coin": coins,
        }


def parse_wallet(text: str) -> dict[str, Decimal]:
    """Parse ``"USDT:100000,BTC:1"`` into starting balances.

    Raises:
        ValueError: a malformed item.
    """
    balances: dict[str, Decimal] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        coin, sep, amount = item.partition(":")
        if not sep or not coin.isalnum():
            raise ValueError(f"bad wallet item {item!r}: expected COIN:amount")
        balances[coin.upper()] = Decimal(amount)
    return balances
