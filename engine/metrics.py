"""Performance metrics of a return series and of a list of closed trades (pure Python).

Two families, kept apart on purpose:

**Return-series metrics** take a series of periodic simple returns (daily by default,
``periods=252`` per year, the ``APPROX_BDAYS_PER_YEAR`` of empyrical and the default of
quantstats). They match ``empyrical`` (``empyrical-reloaded``) and ``quantstats`` on the same
series (the tests compare them to 1e-12 relative):

* total return = prod(1 + r) - 1.
* annual return / CAGR = (prod(1 + r)) ** (periods / n) - 1: years are counted as ``n / periods``
  (empyrical ``annual_return``; quantstats ``cagr`` since it switched from calendar days to
  periods: older quantstats releases differ, so the oracle version is pinned in the tests).
* annual volatility = sample standard deviation (ddof = 1) * sqrt(periods).
* Sharpe = mean(r - rf) / std(r - rf, ddof = 1) * sqrt(periods); NaN when n < 2 or std = 0.
* Sortino = mean(r - rf) / downside * sqrt(periods) with
  downside = sqrt(sum(min(r - rf, 0) ** 2) / n): the squared shortfalls are averaged over **all**
  n periods, not only the negative ones (both libraries). +inf when there is no shortfall and the
  mean is positive, NaN when there is no shortfall otherwise.
* max drawdown = min over t of equity_t / max(equity_0..t) - 1 (a negative number or 0), with the
  equity starting at 1 **before** the first return, so a loss on the first day is a drawdown.
* max drawdown duration = the longest run of consecutive periods spent below the previous peak
  (in periods: trading days for a daily series). For a series on consecutive calendar days this
  is quantstats' ``drawdown_details`` "days" (last underwater day - first underwater day + 1).
* Calmar = annual return / |max drawdown|; NaN when there is no drawdown (as empyrical).

**The risk-free rate.** The two libraries take it differently: empyrical's ``risk_free`` /
``required_return`` is a constant **per period** (a daily rate for daily returns); quantstats'
``rf`` is an **annual** rate that it converts with ``(1 + rf) ** (1 / periods) - 1``. Here
``risk_free`` is an annual rate, converted like quantstats (:func:`per_period_rate`); to
reproduce an empyrical figure computed with a daily rate ``d``, pass
``risk_free=(1 + d) ** periods - 1`` (or call :func:`sharpe_ratio` with ``risk_free_per_period``).
With ``rf = 0`` (the default) the two libraries agree exactly.

**Trade-level metrics** (:func:`trade_stats`) take closed trades with their P&L in paise. Win
rate, profit factor, expectancy and the average win/loss here are **per trade**, not the
quantstats functions of the same names, which work on the return series (``win_rate`` there
counts winning periods among non-zero periods and ``profit_factor`` sums period returns).
Money stays exact: averages of paise are :class:`fractions.Fraction`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

TRADING_DAYS_PER_YEAR = 252
"""Periods per year of a daily series (empyrical ``APPROX_BDAYS_PER_YEAR``)."""

NAN = math.nan


def _checked(returns: Iterable[float]) -> list[float]:
    out: list[float] = []
    for i, r in enumerate(returns):
        value = float(r)
        if not math.isfinite(value):
            raise ValueError(f"returns[{i}] must be a finite number, got {r!r}")
        if value <= -1.0 and value != -1.0:
            raise ValueError(
                f"returns[{i}] = {r!r} is below -100%: a simple return cannot lose more than all"
            )
        out.append(value)
    return out


def _check_periods(periods: int) -> None:
    if isinstance(periods, bool) or not isinstance(periods, int) or periods <= 0:
        raise ValueError(
            f"periods must be a positive int (252 for daily returns), got {periods!r}"
        )


def per_period_rate(annual_rate: float, periods: int = TRADING_DAYS_PER_YEAR) -> float:
    """An annual rate as the equivalent compounded per-period rate: (1 + a) ** (1 / p) - 1."""
    _check_periods(periods)
    if not math.isfinite(annual_rate) or annual_rate <= -1.0:
        raise ValueError(f"annual_rate must be a finite rate above -100%, got {annual_rate!r}")
    if annual_rate == 0.0:
        return 0.0
    return float((1.0 + annual_rate) ** (1.0 / periods) - 1.0)


def _excess(
    returns: Iterable[float], risk_free: float, periods: int, risk_free_per_period: float | None
) -> list[float]:
    values = _checked(returns)
    _check_periods(periods)
    if risk_free_per_period is not None:
        if risk_free != 0.0:
            raise ValueError("give either risk_free (annual) or risk_free_per_period, not both")
        rf = float(risk_free_per_period)
    else:
        rf = per_period_rate(risk_free, periods)
    if rf == 0.0:
        return values
    return [r - rf for r in values]


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _sample_std(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof = 1), two-pass with exactly rounded sums."""
    n = len(values)
    if n < 2:
        return NAN
    mean = _mean(values)
    return math.sqrt(math.fsum((v - mean) * (v - mean) for v in values) / (n - 1))


# ---------------------------------------------------------------------------------------------
# Return series


def returns_from_equity(equity: Sequence[int | float]) -> list[float]:
    """Simple returns of an equity curve: e[i] / e[i - 1] - 1 (one fewer than the curve).

    Equity values are paise (ints) or any positive amounts; every value must be > 0.
    """
    for i, value in enumerate(equity):
        if not value > 0:
            raise ValueError(
                f"equity[{i}] must be positive to take a return from it, got {value!r}"
            )
    return [equity[i] / equity[i - 1] - 1.0 for i in range(1, len(equity))]


def cumulative_returns(returns: Iterable[float]) -> list[float]:
    """Compounded growth after each period: prod(1 + r[0..t]) - 1."""
    out: list[float] = []
    growth = 1.0
    for r in _checked(returns):
        growth *= 1.0 + r
        out.append(growth - 1.0)
    return out


def total_return(returns: Iterable[float]) -> float:
    """Compounded return over the whole series: prod(1 + r) - 1 (0 for an empty series)."""
    growth = 1.0
    for r in _checked(returns):
        growth *= 1.0 + r
    return growth - 1.0


def annual_return(returns: Iterable[float], periods: int = TRADING_DAYS_PER_YEAR) -> float:
    """Compound annual growth rate: prod(1 + r) ** (periods / n) - 1; NaN for an empty series."""
    values = _checked(returns)
    _check_periods(periods)
    if not values:
        return NAN
    growth = 1.0
    for r in values:
        growth *= 1.0 + r
    if growth <= 0.0:
        return -1.0
    return float(growth ** (periods / len(values)) - 1.0)


cagr = annual_return
"""CAGR is the annual return (years counted as n / periods)."""


def annual_volatility(returns: Iterable[float], periods: int = TRADING_DAYS_PER_YEAR) -> float:
    """Sample standard deviation (ddof = 1) times sqrt(periods); NaN when n < 2."""
    values = _checked(returns)
    _check_periods(periods)
    return _sample_std(values) * math.sqrt(periods)


def sharpe_ratio(
    returns: Iterable[float],
    risk_free: float = 0.0,
    periods: int = TRADING_DAYS_PER_YEAR,
    *,
    risk_free_per_period: float | None = None,
) -> float:
    """Annualised Sharpe ratio: mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods).

    ``risk_free`` is an annual rate (quantstats); ``risk_free_per_period`` a per-period constant
    (empyrical). NaN when there are fewer than two returns or they do not vary.
    """
    excess = _excess(returns, risk_free, periods, risk_free_per_period)
    if len(excess) < 2:
        return NAN
    std = _sample_std(excess)
    if std == 0.0 or not math.isfinite(std):
        return NAN
    return _mean(excess) / std * math.sqrt(periods)


def downside_risk(
    returns: Iterable[float],
    risk_free: float = 0.0,
    periods: int = TRADING_DAYS_PER_YEAR,
    *,
    risk_free_per_period: float | None = None,
) -> float:
    """Annualised downside deviation: sqrt(sum(min(r - rf, 0)^2) / n) * sqrt(periods)."""
    excess = _excess(returns, risk_free, periods, risk_free_per_period)
    if not excess:
        return NAN
    shortfall = math.fsum(r * r for r in excess if r < 0.0)
    return math.sqrt(shortfall / len(excess)) * math.sqrt(periods)


def sortino_ratio(
    returns: Iterable[float],
    risk_free: float = 0.0,
    periods: int = TRADING_DAYS_PER_YEAR,
    *,
    risk_free_per_period: float | None = None,
) -> float:
    """Annualised Sortino ratio: mean(r - rf) / sqrt(mean(min(r - rf, 0)^2)) * sqrt(periods).

    +inf when nothing fell short and the mean is positive; NaN for no returns or no shortfall
    with a mean of 0 or less.
    """
    excess = _excess(returns, risk_free, periods, risk_free_per_period)
    if not excess:
        return NAN
    mean = _mean(excess)
    shortfall = math.fsum(r * r for r in excess if r < 0.0)
    if shortfall == 0.0:
        return math.inf if mean > 0.0 else NAN
    return mean / math.sqrt(shortfall / len(excess)) * math.sqrt(periods)


def drawdown_series(returns: Iterable[float]) -> list[float]:
    """Drawdown after each period: equity / running peak - 1 (equity starts at 1 before r[0])."""
    out: list[float] = []
    equity = 1.0
    peak = 1.0
    for r in _checked(returns):
        equity *= 1.0 + r
        if equity > peak:
            peak = equity
        # (equity - peak) is exact here (Sterbenz), so shallow drawdowns keep full precision.
        out.append((equity - peak) / peak)
    return out


def max_drawdown(returns: Iterable[float]) -> float:
    """The deepest drawdown, a number <= 0 (-0.25 is a 25% fall from a peak); 0 when none."""
    return min(drawdown_series(returns), default=0.0)


@dataclass(frozen=True, slots=True)
class DrawdownPeriod:
    """One stretch below a previous peak, by period index.

    ``start`` is the first period below the peak, ``valley`` the deepest, ``end`` the last period
    below the peak (the next one recovered it, unless ``recovered`` is False: the series ended
    underwater). ``length`` = end - start + 1 periods; ``depth`` <= 0.
    """

    start: int
    valley: int
    end: int
    depth: float
    recovered: bool

    @property
    def length(self) -> int:
        """Periods spent below the peak."""
        return self.end - self.start + 1


def drawdown_periods(returns: Iterable[float]) -> list[DrawdownPeriod]:
    """Every stretch of consecutive periods below a previous peak, in order."""
    out: list[DrawdownPeriod] = []
    start = -1
    valley = -1
    depth = 0.0
    dd = drawdown_series(returns)
    for i, value in enumerate(dd):
        if value < 0.0:
            if start < 0:
                start, valley, depth = i, i, value
            elif value < depth:
                valley, depth = i, value
        elif start >= 0:
            out.append(DrawdownPeriod(start, valley, i - 1, depth, True))
            start = -1
    if start >= 0:
        out.append(DrawdownPeriod(start, valley, len(dd) - 1, depth, False))
    return out


def max_drawdown_duration(returns: Iterable[float]) -> int:
    """The longest stretch below a previous peak, in periods (0 when never below a peak)."""
    return max((p.length for p in drawdown_periods(returns)), default=0)


def calmar_ratio(returns: Iterable[float], periods: int = TRADING_DAYS_PER_YEAR) -> float:
    """Annual return / |max drawdown|; NaN when there is no drawdown or no return."""
    values = _checked(returns)
    mdd = max_drawdown(values)
    if mdd >= 0.0:
        return NAN
    return annual_return(values, periods) / abs(mdd)


@dataclass(frozen=True, slots=True)
class ReturnStats:
    """Every return-series metric of one series (see the module docstring for definitions)."""

    periods: int
    observations: int
    total_return: float
    annual_return: float
    annual_volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_duration: int


def return_stats(
    returns: Iterable[float],
    risk_free: float = 0.0,
    periods: int = TRADING_DAYS_PER_YEAR,
) -> ReturnStats:
    """All return-series metrics at once (``risk_free`` annual, as quantstats)."""
    values = _checked(returns)
    _check_periods(periods)
    return ReturnStats(
        periods=periods,
        observations=len(values),
        total_return=total_return(values),
        annual_return=annual_return(values, periods),
        annual_volatility=annual_volatility(values, periods),
        sharpe=sharpe_ratio(values, risk_free, periods),
        sortino=sortino_ratio(values, risk_free, periods),
        calmar=calmar_ratio(values, periods),
        max_drawdown=max_drawdown(values),
        max_drawdown_duration=max_drawdown_duration(values),
    )


# ---------------------------------------------------------------------------------------------
# Closed trades


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One round trip: opened at ``entry_ts``, closed at ``exit_ts`` (ns), net P&L in paise.

    ``pnl`` is after charges when the producer had them (``charges`` says how much was taken).
    """

    pnl: int
    entry_ts: int
    exit_ts: int
    token: str = ""
    qty: int = 0
    charges: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.pnl, bool) or not isinstance(self.pnl, int):
            raise TypeError(f"pnl must be an int number of paise, got {self.pnl!r}")
        if self.exit_ts < self.entry_ts:
            raise ValueError(
                f"a trade cannot close before it opens: entry_ts {self.entry_ts} > "
                f"exit_ts {self.exit_ts}"
            )

    @property
    def holding_ns(self) -> int:
        """How long the trade was open, in ns."""
        return self.exit_ts - self.entry_ts


@dataclass(frozen=True, slots=True)
class TradeStats:
    """Per-trade statistics (money in paise, exact).

    ``win_rate`` = winners / all trades (a break-even trade is a trade but not a win);
    ``profit_factor`` = gross profit / |gross loss| (+inf with profits and no losses, NaN with
    neither); ``expectancy`` = mean P&L per trade; ``avg_win`` / ``avg_loss`` are the means of the
    winners / losers (``avg_loss`` is negative; 0 when there are none); ``exposure`` is the
    fraction of the window during which at least one trade was open (NaN without a window).
    """

    trades: int
    winners: int
    losers: int
    breakeven: int
    net_pnl: int
    gross_profit: int
    gross_loss: int
    win_rate: float
    profit_factor: float
    expectancy: Fraction
    avg_win: Fraction
    avg_loss: Fraction
    payoff_ratio: float
    largest_win: int
    largest_loss: int
    avg_holding_ns: Fraction
    exposure: float


def exposure(trades: Iterable[ClosedTrade], start_ns: int, end_ns: int) -> float:
    """Fraction of [start_ns, end_ns] during which at least one trade was open.

    Overlapping trades count once; the parts of trades outside the window are ignored.
    """
    if end_ns <= start_ns:
        raise ValueError(
            f"the exposure window must have end_ns > start_ns, got {start_ns}..{end_ns}"
        )
    spans = sorted(
        (max(t.entry_ts, start_ns), min(t.exit_ts, end_ns))
        for t in trades
        if t.exit_ts > start_ns and t.entry_ts < end_ns
    )
    covered = 0
    cur_start, cur_end = -1, -1
    for a, b in spans:
        if b <= a:
            continue
        if a > cur_end:
            covered += max(0, cur_end - cur_start)
            cur_start, cur_end = a, b
        elif b > cur_end:
            cur_end = b
    covered += max(0, cur_end - cur_start)
    return covered / (end_ns - start_ns)


def exposure_from_positions(positions: Iterable[int]) -> float:
    """Fraction of periods with a non-zero position (e.g. one net quantity per bar)."""
    flags = [p != 0 for p in positions]
    if not flags:
        return NAN
    return sum(flags) / len(flags)


def trade_stats(
    trades: Iterable[ClosedTrade],
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> TradeStats:
    """Per-trade statistics of closed trades; ``start_ns``/``end_ns`` bound the exposure window."""
    items = list(trades)
    pnls = [t.pnl for t in items]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_profit = sum(wins)
    gross_loss = sum(losses)
    n = len(items)
    no_loss_factor = math.inf if gross_profit > 0 else NAN
    profit_factor = gross_profit / -gross_loss if losses else no_loss_factor
    avg_win = Fraction(gross_profit, len(wins)) if wins else Fraction(0)
    avg_loss = Fraction(gross_loss, len(losses)) if losses else Fraction(0)
    payoff = float(avg_win / -avg_loss) if wins and losses else NAN
    if (start_ns is None) != (end_ns is None):
        raise ValueError("give both start_ns and end_ns for the exposure window, or neither")
    window_exposure = (
        exposure(items, start_ns, end_ns) if start_ns is not None and end_ns is not None else NAN
    )
    return TradeStats(
        trades=n,
        winners=len(wins),
        losers=len(losses),
        breakeven=n - len(wins) - len(losses),
        net_pnl=sum(pnls),
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        win_rate=len(wins) / n if n else NAN,
        profit_factor=profit_factor,
        expectancy=Fraction(sum(pnls), n) if n else Fraction(0),
        avg_win=avg_win,
        avg_loss=avg_loss,
        payoff_ratio=payoff,
        largest_win=max(wins, default=0),
        largest_loss=min(losses, default=0),
        avg_holding_ns=Fraction(sum(t.holding_ns for t in items), n) if n else Fraction(0),
        exposure=window_exposure,
    )
