"""RSI breakout (14, 70/30): buy strength when RSI breaks above 70, short weakness below 30.

On every closed bar of the strategy's first interval, with Wilder's RSI of closes
(:class:`engine.indicators.RSI`, ready at the ``period + 1``-th close), comparing the previous
bar's RSI with this bar's:

* RSI crosses **above** ``upper`` (previous <= upper < now) while not long: ``ENTER_LONG``
  (``EXIT_SHORT`` first when short);
* a long is closed (``EXIT_LONG``) when RSI crosses **below** ``exit_level`` (50 by default:
  the momentum that justified the breakout is gone);
* RSI crosses **below** ``lower`` (previous >= lower > now) while flat: ``ENTER_SHORT`` when
  ``allow_short``;
* a short is closed (``EXIT_SHORT``) when RSI crosses **above** ``exit_level``.

Orders are MARKET orders to the target position (``+qty``, 0, ``-qty`` units) through the core.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from engine.models import Bar
from engine.strategy import SignalAction, Strategy, StrategyParams


class RsiBreakoutParams(StrategyParams):
    """Parameters of :class:`RsiBreakout`."""

    period: int = Field(default=14, ge=1, description="RSI period (changes)")
    upper: float = Field(default=70.0, gt=0, lt=100, description="breakout level for longs")
    lower: float = Field(default=30.0, gt=0, lt=100, description="breakdown level for shorts")
    exit_level: float = Field(default=50.0, gt=0, lt=100, description="RSI that closes a trade")
    qty: int = Field(default=1, ge=1, description="position size in units (whole lots)")
    allow_short: bool = Field(default=False, description="short a breakdown below lower")

    @model_validator(mode="after")
    def _levels_in_order(self) -> Self:
        if not self.lower < self.exit_level < self.upper:
            raise ValueError(
                f"exit_level: need lower < exit_level < upper, got {self.lower} / "
                f"{self.exit_level} / {self.upper}"
            )
        return self


class RsiBreakout(Strategy[RsiBreakoutParams]):
    """Momentum entries on RSI breakouts (see the module docstring)."""

    params_model = RsiBreakoutParams
    kind = "rsi_breakout"

    async def on_start(self) -> None:
        """Create the RSIs (warmed from closed history) and check the size is whole lots."""
        interval = self.intervals[0]
        self._rsi = {t: self.ctx.rsi(t, interval, self.params.period) for t in self.tokens}
        self._prev: dict[str, float] = {}
        self._side: dict[str, int] = {}
        for token, rsi in self._rsi.items():
            self.ctx.whole_lots(token, self.params.qty)
            if rsi.value is not None:
                self._prev[token] = rsi.value
            position = self.ctx.position(token).net_qty
            self._side[token] = (position > 0) - (position < 0)

    async def on_bar(self, bar: Bar) -> None:
        """Compare this bar's RSI with the previous one and trade to the new target."""
        if bar.interval != self.intervals[0] or bar.token not in self._rsi:
            return
        now = self._rsi[bar.token].value
        if now is None:
            return
        prev = self._prev.get(bar.token)
        self._prev[bar.token] = now
        if prev is None:
            return
        p = self.params
        token, ts = bar.token, bar.start
        side = self._side.get(token, 0)
        target = side
        if side > 0 and prev >= p.exit_level > now:
            self.signal(ts, token, SignalAction.EXIT_LONG, "RSI fell below the exit level", now)
            target = 0
        elif side < 0 and prev <= p.exit_level < now:
            self.signal(ts, token, SignalAction.EXIT_SHORT, "RSI rose above the exit level", now)
            target = 0
        if target <= 0 and prev <= p.upper < now:
            if target < 0:
                self.signal(ts, token, SignalAction.EXIT_SHORT, "RSI broke out upwards", now)
            self.signal(ts, token, SignalAction.ENTER_LONG, "RSI broke above upper", now)
            target = 1
        elif target == 0 and p.allow_short and prev >= p.lower > now:
            self.signal(ts, token, SignalAction.ENTER_SHORT, "RSI broke below lower", now)
            target = -1
        if target != side:
            self._side[token] = target
            await self.ctx.order_target(token, target * p.qty)
