"""Bollinger bounce (20, 2.0): fade closes outside the bands, exit at the middle band.

Mean reversion on every closed bar of the strategy's first interval, with
:class:`engine.indicators.BollingerBands` (SMA of ``period`` closes +/- ``k`` population
standard deviations; the bands include the current close):

* flat and the close is **below** the lower band: ``ENTER_LONG`` (expecting a bounce back);
* long and the close is at or above the middle band: ``EXIT_LONG``;
* flat and the close is **above** the upper band: ``ENTER_SHORT`` when ``allow_short``;
* short and the close is at or below the middle band: ``EXIT_SHORT``.

Orders are MARKET orders to the target position (``+qty``, 0, ``-qty`` units) through the core.
"""

from __future__ import annotations

from pydantic import Field

from engine.models import Bar
from engine.strategy import SignalAction, Strategy, StrategyParams


class BollingerBounceParams(StrategyParams):
    """Parameters of :class:`BollingerBounce`."""

    period: int = Field(default=20, ge=2, description="bars in the moving window")
    k: float = Field(default=2.0, gt=0, le=10, description="band width in standard deviations")
    qty: int = Field(default=1, ge=1, description="position size in units (whole lots)")
    allow_short: bool = Field(default=False, description="fade closes above the upper band")


class BollingerBounce(Strategy[BollingerBounceParams]):
    """Mean reversion between the Bollinger Bands (see the module docstring)."""

    params_model = BollingerBounceParams
    kind = "bollinger_bounce"

    async def on_start(self) -> None:
        """Create the bands (warmed from closed history) and check the size is whole lots."""
        p = self.params
        interval = self.intervals[0]
        self._bands = {t: self.ctx.bollinger(t, interval, p.period, p.k) for t in self.tokens}
        self._side: dict[str, int] = {}
        for token in self.tokens:
            self.ctx.whole_lots(token, p.qty)
            position = self.ctx.position(token).net_qty
            self._side[token] = (position > 0) - (position < 0)

    async def on_bar(self, bar: Bar) -> None:
        """Compare the close with the bands and trade to the new target."""
        if bar.interval != self.intervals[0] or bar.token not in self._bands:
            return
        bands = self._bands[bar.token].value
        if bands is None:
            return
        close = bar.close
        token, ts = bar.token, bar.start
        side = self._side.get(token, 0)
        target = side
        if side > 0 and close >= bands.middle:
            self.signal(ts, token, SignalAction.EXIT_LONG, "close reached the middle band", close)
            target = 0
        elif side < 0 and close <= bands.middle:
            self.signal(ts, token, SignalAction.EXIT_SHORT, "close reached the middle band", close)
            target = 0
        elif side == 0 and close < bands.lower:
            self.signal(ts, token, SignalAction.ENTER_LONG, "close below the lower band", close)
            target = 1
        elif side == 0 and self.params.allow_short and close > bands.upper:
            self.signal(ts, token, SignalAction.ENTER_SHORT, "close above the upper band", close)
            target = -1
        if target != side:
            self._side[token] = target
            await self.ctx.order_target(token, target * self.params.qty)
