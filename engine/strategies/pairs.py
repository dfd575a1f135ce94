"""Pairs trade on two instruments: rolling OLS hedge ratio, z-score entry and exit, half-life.

The strategy's ``tokens`` are ``(y, x)``. Every closed bar of its first interval that both
instruments have (matched by the bar's start) adds the pair of closes ``(y, x)`` to a rolling
window of ``lookback`` bars. Once the window is full:

* **hedge ratio**: ordinary least squares of y on x with an intercept over the window,
  ``y = alpha + beta * x`` (:func:`ols`);
* **spread**: the window's residuals ``s = y - alpha - beta * x`` (their mean is 0 by
  construction); **z-score** = the newest residual / the sample standard deviation (ddof = 1)
  of the window's residuals (:func:`zscore`);
* **half-life** of mean reversion of the spread, as in Chan's *Algorithmic Trading*: regress
  ``s[t] - s[t-1]`` on ``s[t-1]`` (with an intercept) to get ``lambda``; the half-life is
  ``-ln 2 / lambda`` bars, infinite when ``lambda >= 0`` (no mean reversion) (:func:`half_life`).

Signals: flat and ``z > entry_z``: the spread is rich, ``ENTER_SHORT`` (sell ``qty`` of y, buy
``hedge`` of x); flat and ``z < -entry_z``: ``ENTER_LONG`` (buy y, sell x). A long spread is
closed (``EXIT_LONG``) once ``z >= -exit_z`` and a short one (``EXIT_SHORT``) once
``z <= exit_z``. Entries need ``beta > 0`` (a positive hedge) and, when ``max_half_life`` is
set, a half-life at most that many bars. The hedge quantity of x is ``round(beta * qty)`` floored
to x's lot size, fixed at entry; no entry when it is 0. Orders are MARKET orders to the target
positions of both legs, through the core.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Sequence
from typing import Any, Self

from pydantic import Field, model_validator

from engine.models import Bar
from engine.sizing import fixed_quantity
from engine.strategy import SignalAction, Strategy, StrategyError, StrategyParams


def ols(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """``(alpha, beta)`` of the least-squares line ``y = alpha + beta * x``.

    Raises ValueError when the lengths differ, there are fewer than two points, or x is constant.
    """
    n = len(xs)
    if n != len(ys):
        raise ValueError(f"xs and ys must have the same length, got {n} and {len(ys)}")
    if n < 2:
        raise ValueError(f"a regression needs at least two points, got {n}")
    mx = math.fsum(xs) / n
    my = math.fsum(ys) / n
    sxx = math.fsum((x - mx) * (x - mx) for x in xs)
    if sxx == 0.0:
        raise ValueError("x does not vary over the window: no hedge ratio can be estimated")
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    beta = sxy / sxx
    return my - beta * mx, beta


def zscore(spread: Sequence[float]) -> float:
    """(newest - mean) / sample std (ddof = 1) of ``spread``; 0 when it does not vary."""
    n = len(spread)
    if n < 2:
        raise ValueError(f"a z-score needs at least two values, got {n}")
    mean = math.fsum(spread) / n
    var = math.fsum((s - mean) * (s - mean) for s in spread) / (n - 1)
    if var <= 0.0:
        return 0.0
    return (spread[-1] - mean) / math.sqrt(var)


def half_life(spread: Sequence[float]) -> float:
    """Bars for the spread to revert half way: ``-ln 2 / lambda`` from regressing its change on
    its previous level; ``inf`` when it does not revert (lambda >= 0) or cannot be estimated."""
    if len(spread) < 3:
        return math.inf
    lagged = list(spread[:-1])
    delta = [b - a for a, b in itertools.pairwise(spread)]
    try:
        _, lam = ols(lagged, delta)
    except ValueError:
        return math.inf
    if lam >= 0.0:
        return math.inf
    return -math.log(2.0) / lam


class PairsParams(StrategyParams):
    """Parameters of :class:`PairsTrade`."""

    lookback: int = Field(default=60, ge=3, description="bars in the rolling regression")
    entry_z: float = Field(default=2.0, gt=0, description="|z| that opens a trade")
    exit_z: float = Field(default=0.5, ge=0, description="|z| that closes it")
    qty: int = Field(default=1, ge=1, description="units of the first instrument (y) per trade")
    max_half_life: float | None = Field(
        default=None, gt=0, description="only enter when the half-life is at most this (bars)"
    )

    @model_validator(mode="after")
    def _exit_inside_entry(self) -> Self:
        if self.exit_z >= self.entry_z:
            raise ValueError(
                f"exit_z: must be below entry_z, got exit {self.exit_z} / entry {self.entry_z}"
            )
        return self


class PairsTrade(Strategy[PairsParams]):
    """Statistical arbitrage on the spread of two instruments (see the module docstring)."""

    params_model = PairsParams
    kind = "pairs"

    def __init__(self, strategy_id: str, **kwargs: Any) -> None:
        super().__init__(strategy_id, **kwargs)
        if len(self.tokens) != 2:
            raise StrategyError(
                f"a pairs trade needs exactly two instruments (y, x), got {list(self.tokens)}"
            )
        self.y, self.x = self.tokens
        self.window: deque[tuple[float, float]] = deque(maxlen=self.params.lookback)
        self.beta: float | None = None
        self.alpha: float | None = None
        self.z: float | None = None
        self.half_life: float | None = None
        self._closes: dict[int, dict[str, int]] = {}
        self._side = 0
        self._hedge = 0

    async def on_start(self) -> None:
        """Check the size is whole lots and pick up a spread position already held."""
        self.ctx.whole_lots(self.y, self.params.qty)
        y_net = self.ctx.position(self.y).net_qty
        x_net = self.ctx.position(self.x).net_qty
        self._side = (y_net > 0) - (y_net < 0)
        self._hedge = abs(x_net)

    async def on_bar(self, bar: Bar) -> None:
        """Pair this close with the other leg's close of the same bar; trade on the z-score."""
        if bar.interval != self.intervals[0] or bar.token not in (self.y, self.x):
            return
        row = self._closes.setdefault(bar.start, {})
        row[bar.token] = bar.close
        if len(row) < 2:
            return
        for start in [s for s in self._closes if s <= bar.start]:
            del self._closes[start]
        self.window.append((float(row[self.y]), float(row[self.x])))
        if len(self.window) < self.params.lookback:
            return
        ys = [p[0] for p in self.window]
        xs = [p[1] for p in self.window]
        try:
            alpha, beta = ols(xs, ys)
        except ValueError:
            return
        spread = [y - alpha - beta * x for y, x in self.window]
        self.alpha, self.beta = alpha, beta
        self.z = z = zscore(spread)
        self.half_life = hl = half_life(spread)
        await self._decide(bar.start, z, beta, hl)

    async def _decide(self, ts: int, z: float, beta: float, hl: float) -> None:
        p = self.params
        if self._side > 0 and z >= -p.exit_z:
            self.signal(ts, self.y, SignalAction.EXIT_LONG, "spread reverted", z)
            await self._trade(0)
            return
        if self._side < 0 and z <= p.exit_z:
            self.signal(ts, self.y, SignalAction.EXIT_SHORT, "spread reverted", z)
            await self._trade(0)
            return
        if self._side != 0 or abs(z) <= p.entry_z or beta <= 0:
            return
        if p.max_half_life is not None and not hl <= p.max_half_life:
            return
        hedge = fixed_quantity(round(beta * p.qty), self.ctx.instrument(self.x).lot_size)
        if hedge == 0:
            return
        self._hedge = hedge
        if z > 0:
            self.signal(ts, self.y, SignalAction.ENTER_SHORT, "spread rich", z)
            await self._trade(-1)
        else:
            self.signal(ts, self.y, SignalAction.ENTER_LONG, "spread cheap", z)
            await self._trade(1)

    async def _trade(self, side: int) -> None:
        self._side = side
        await self.ctx.order_target(self.y, side * self.params.qty)
        await self.ctx.order_target(self.x, -side * self._hedge)
