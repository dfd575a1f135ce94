"""EMA crossover (9/21): long while the fast EMA of closes is above the slow one.

On every closed bar of the strategy's first interval, for each of its instruments:

* the fast EMA crosses **above** the slow one (the previous bar's fast - slow was <= 0 and this
  bar's is > 0): ``ENTER_LONG`` (and ``EXIT_SHORT`` first when short);
* it crosses **below** (previous >= 0, now < 0): ``EXIT_LONG`` when long, then ``ENTER_SHORT``
  when ``allow_short``.

EMAs are :class:`engine.indicators.EMA` (seeded with the SMA of the first ``period`` closes); no
signal is taken on the bar where the slow EMA first becomes ready (there is no previous
difference to cross from). Orders are MARKET orders for the difference between the target
position (``+qty``, 0 or ``-qty`` units) and the strategy's own position plus its working orders,
sent through the core (risk applies).
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from engine.models import Bar
from engine.strategy import SignalAction, Strategy, StrategyParams


class EmaCrossParams(StrategyParams):
    """Parameters of :class:`EmaCross`."""

    fast: int = Field(default=9, ge=1, description="fast EMA period (bars)")
    slow: int = Field(default=21, ge=2, description="slow EMA period (bars)")
    qty: int = Field(default=1, ge=1, description="position size in units (whole lots)")
    allow_short: bool = Field(default=False, description="go short on a downward cross")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> Self:
        if self.fast >= self.slow:
            raise ValueError(
                f"fast: the fast period must be shorter than the slow one, got {self.fast}/"
                f"{self.slow}"
            )
        return self


class EmaCross(Strategy[EmaCrossParams]):
    """Trend following on a fast/slow EMA crossover (see the module docstring)."""

    params_model = EmaCrossParams
    kind = "ema_cross"

    async def on_start(self) -> None:
        """Create the EMAs (warmed from closed history) and check the size is whole lots."""
        p = self.params
        interval = self.intervals[0]
        self._emas = {
            t: (self.ctx.ema(t, interval, p.fast), self.ctx.ema(t, interval, p.slow))
            for t in self.tokens
        }
        self._prev: dict[str, float] = {}
        self._side: dict[str, int] = {}
        for token, (fast, slow) in self._emas.items():
            self.ctx.whole_lots(token, p.qty)
            if fast.value is not None and slow.value is not None:
                self._prev[token] = fast.value - slow.value
            position = self.ctx.position(token).net_qty
            self._side[token] = (position > 0) - (position < 0)

    async def on_bar(self, bar: Bar) -> None:
        """Look for a cross on this bar and trade to the new target."""
        if bar.interval != self.intervals[0] or bar.token not in self._emas:
            return
        fast, slow = self._emas[bar.token]
        if fast.value is None or slow.value is None:
            return
        diff = fast.value - slow.value
        prev = self._prev.get(bar.token)
        self._prev[bar.token] = diff
        if prev is None:
            return
        ts, token = bar.start, bar.token
        side = self._side.get(token, 0)
        target = side
        if prev <= 0 < diff:
            if side < 0:
                self.signal(ts, token, SignalAction.EXIT_SHORT, "fast crossed above", diff)
            if side <= 0:
                self.signal(ts, token, SignalAction.ENTER_LONG, "fast crossed above", diff)
                target = 1
        elif prev >= 0 > diff:
            if side > 0:
                self.signal(ts, token, SignalAction.EXIT_LONG, "fast crossed below", diff)
                target = 0
            if self.params.allow_short and side >= 0:
                self.signal(
                    bar.start, bar.token, SignalAction.ENTER_SHORT, "fast crossed below", diff
                )
                target = -1
        if target != side:
            self._side[token] = target
            await self.ctx.order_target(token, target * self.params.qty)
