"""Metrics against the reference libraries (empyrical-reloaded 0.7.1 and quantstats 0.0.86, test
dependencies only) on random daily series, and trade-level metrics on hand-computed cases."""

from __future__ import annotations

import math
import warnings
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.metrics import (
    ClosedTrade,
    annual_return,
    annual_volatility,
    calmar_ratio,
    drawdown_periods,
    exposure,
    exposure_from_positions,
    max_drawdown,
    max_drawdown_duration,
    per_period_rate,
    return_stats,
    returns_from_equity,
    sharpe_ratio,
    sortino_ratio,
    total_return,
    trade_stats,
)


def oracles() -> tuple[Any, Any, Any]:
    """pandas, empyrical and quantstats: test-only dependencies (the oracle tests skip, and
    say so, where they are not installed; the trade-level tests never need them)."""
    return (pytest.importorskip("pandas"), pytest.importorskip("empyrical"),
            pytest.importorskip("quantstats"))

REL = 1e-12
# Where a metric is near 0 its value is a difference of nearly equal sums, and numpy's pairwise
# summation in the oracles is itself only accurate to ~1e-16 * sum(|r|): compare absolutely there.
ABS = 1e-13


def close(ours: float, theirs: float) -> bool:
    if math.isnan(ours) or math.isnan(theirs):
        return math.isnan(ours) and math.isnan(theirs)
    return math.isclose(ours, theirs, rel_tol=REL, abs_tol=ABS)


# Daily returns to 1e-7 (a paisa on Rs 1 lakh) up to +/-20%: subnormal "returns" would only
# test how each library underflows when squaring them.
daily = st.integers(-2_000_000, 2_000_000).map(lambda i: i / 10_000_000)
series = st.lists(daily, min_size=3, max_size=400).filter(
    lambda xs: any(x < 0 for x in xs) and any(x > 0 for x in xs) and len(set(xs)) > 1
)


def as_series(xs: list[float]) -> Any:
    pd = oracles()[0]
    return pd.Series(xs, index=pd.date_range("2024-01-01", periods=len(xs), freq="D"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(series)
def test_return_metrics_equal_empyrical_and_quantstats(xs: list[float]) -> None:
    r = as_series(xs)
    _, ep, qs = oracles()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e_sharpe, q_sharpe = ep.sharpe_ratio(r), qs.stats.sharpe(r)
        e_sortino, q_sortino = ep.sortino_ratio(r), qs.stats.sortino(r)
        e_mdd, q_mdd = ep.max_drawdown(r), qs.stats.max_drawdown(r)
        e_ann, q_cagr = ep.annual_return(r), qs.stats.cagr(r)
        e_vol, q_vol = ep.annual_volatility(r), qs.stats.volatility(r)
        e_calmar = ep.calmar_ratio(r)
        e_total = ep.cum_returns_final(r)
    assert close(sharpe_ratio(xs), e_sharpe) and close(sharpe_ratio(xs), q_sharpe)
    assert close(sortino_ratio(xs), e_sortino) and close(sortino_ratio(xs), q_sortino)
    assert close(max_drawdown(xs), e_mdd) and close(max_drawdown(xs), q_mdd)
    assert close(annual_return(xs), e_ann) and close(annual_return(xs), q_cagr)
    assert close(annual_volatility(xs), e_vol) and close(annual_volatility(xs), q_vol)
    assert close(total_return(xs), e_total)
    # Calmar divides by the max drawdown, whose value a shallow drawdown only carries to about
    # 1e-16 / |mdd| relative in any float implementation (the oracles' included).
    mdd = abs(max_drawdown(xs))
    assert math.isclose(calmar_ratio(xs), e_calmar, rel_tol=REL + 1e-15 / mdd)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(series)
def test_max_drawdown_duration_equals_quantstats_drawdown_days(xs: list[float]) -> None:
    # quantstats' drawdown_details misses a drawdown that starts on the series' first day when
    # no other one starts later (it looks for a 0 -> negative step): a leading flat day, which
    # changes no drawdown, gives it the step to see.
    r = as_series([0.0, *xs])
    qs = oracles()[2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        details = qs.stats.drawdown_details(qs.stats.to_drawdown_series(r))
    theirs = int(details["days"].max()) if len(details) else 0
    assert max_drawdown_duration(xs) == theirs


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(series, st.floats(min_value=0.0, max_value=0.15))
def test_risk_free_conventions(xs: list[float], annual_rf: float) -> None:
    """Our rf is annual like quantstats'; empyrical needs the per-period equivalent."""
    r = as_series(xs)
    _, ep, qs = oracles()
    daily_rf = per_period_rate(annual_rf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = qs.stats.sharpe(r, rf=annual_rf)
        e = ep.sharpe_ratio(r, risk_free=daily_rf)
        q_sortino = qs.stats.sortino(r, rf=annual_rf)
        e_sortino = ep.sortino_ratio(r, required_return=daily_rf)
    ours = sharpe_ratio(xs, annual_rf)
    assert math.isclose(ours, q, rel_tol=1e-11, abs_tol=1e-12)
    assert math.isclose(ours, e, rel_tol=1e-11, abs_tol=1e-12)
    assert math.isclose(sharpe_ratio(xs, risk_free_per_period=daily_rf), e, rel_tol=1e-11,
                        abs_tol=1e-12)
    s = sortino_ratio(xs, annual_rf)
    assert math.isclose(s, q_sortino, rel_tol=1e-11, abs_tol=1e-12)
    assert math.isclose(s, e_sortino, rel_tol=1e-11, abs_tol=1e-12)


def test_hand_computed_series() -> None:
    xs = [0.10, -0.20, 0.05]
    assert total_return(xs) == pytest.approx(1.1 * 0.8 * 1.05 - 1, rel=1e-15)
    assert max_drawdown(xs) == pytest.approx(0.8 - 1, rel=1e-15)  # 1.1 -> 0.88
    [period] = drawdown_periods(xs)
    assert (period.start, period.valley, period.end, period.recovered) == (1, 1, 2, False)
    assert period.depth == pytest.approx(-0.2) and period.length == 2
    assert max_drawdown_duration(xs) == 2
    # A loss on the first day is a drawdown from the starting equity.
    assert max_drawdown([-0.1, 0.2]) == pytest.approx(-0.1)
    assert max_drawdown_duration([-0.1, 0.2, -0.01]) == 1
    assert max_drawdown([0.01, 0.02]) == 0.0 and math.isnan(calmar_ratio([0.01, 0.02]))
    assert sortino_ratio([0.01, 0.02]) == math.inf
    assert math.isnan(sharpe_ratio([0.01]))
    assert math.isnan(sharpe_ratio([0.01, 0.01]))
    assert annual_return([0.01] * 252) == pytest.approx(1.01**252 - 1, rel=1e-13)


def test_return_stats_and_equity() -> None:
    equity = [100_000, 110_000, 99_000, 105_930]
    rets = returns_from_equity(equity)
    assert rets == pytest.approx([0.1, -0.1, 0.07])
    stats = return_stats(rets)
    assert stats.observations == 3
    assert stats.total_return == pytest.approx(105_930 / 100_000 - 1)
    assert stats.max_drawdown == pytest.approx(-0.1)
    assert stats.max_drawdown_duration == 2
    with pytest.raises(ValueError, match=r"equity\[1\] must be positive"):
        returns_from_equity([1, 0])


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"returns\[1\] must be a finite number"):
        sharpe_ratio([0.1, math.nan])
    with pytest.raises(ValueError, match="below -100%"):
        total_return([-1.5])
    with pytest.raises(ValueError, match="periods must be a positive int"):
        annual_return([0.1], periods=0)
    with pytest.raises(ValueError, match="either risk_free"):
        sharpe_ratio([0.1, 0.2], 0.05, risk_free_per_period=0.0001)


# ---------------------------------------------------------------------------------------------
# Trades

S = 1_000_000_000


def test_trade_stats_hand_computed() -> None:
    trades = [
        ClosedTrade(pnl=300_00, entry_ts=0, exit_ts=10 * S),
        ClosedTrade(pnl=-100_00, entry_ts=5 * S, exit_ts=20 * S),  # overlaps the first
        ClosedTrade(pnl=0, entry_ts=40 * S, exit_ts=50 * S),
        ClosedTrade(pnl=150_00, entry_ts=60 * S, exit_ts=61 * S),
        ClosedTrade(pnl=-50_01, entry_ts=90 * S, exit_ts=120 * S),  # runs past the window
    ]
    stats = trade_stats(trades, start_ns=0, end_ns=100 * S)
    assert stats.trades == 5 and stats.winners == 2 and stats.losers == 2
    assert stats.breakeven == 1
    assert stats.win_rate == 2 / 5
    assert stats.gross_profit == 450_00 and stats.gross_loss == -150_01
    assert stats.net_pnl == 299_99
    assert stats.profit_factor == 450_00 / 150_01
    assert stats.expectancy == Fraction(299_99, 5)
    assert stats.avg_win == Fraction(450_00, 2)
    assert stats.avg_loss == Fraction(-150_01, 2)
    assert stats.payoff_ratio == pytest.approx(22_500 / 7_500.5)
    assert stats.largest_win == 300_00 and stats.largest_loss == -100_00
    assert stats.avg_holding_ns == Fraction((10 + 15 + 10 + 1 + 30) * S, 5)
    # Open: 0-20 (union of the first two), 40-50, 60-61, 90-100 (clipped) = 41 of 100 s.
    assert stats.exposure == pytest.approx(0.41)


def test_trade_stats_edges() -> None:
    empty = trade_stats([])
    assert empty.trades == 0 and math.isnan(empty.win_rate) and math.isnan(empty.profit_factor)
    assert empty.expectancy == 0 and math.isnan(empty.exposure)
    only_wins = trade_stats([ClosedTrade(pnl=5, entry_ts=0, exit_ts=1)])
    assert only_wins.profit_factor == math.inf and math.isnan(only_wins.payoff_ratio)
    assert exposure_from_positions([0, 10, -5, 0]) == 0.5
    with pytest.raises(ValueError, match="cannot close before it opens"):
        ClosedTrade(pnl=1, entry_ts=5, exit_ts=4)
    with pytest.raises(TypeError, match="int number of paise"):
        ClosedTrade(pnl=1.5, entry_ts=0, exit_ts=4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="end_ns > start_ns"):
        exposure([], 5, 5)
    with pytest.raises(ValueError, match="both start_ns and end_ns"):
        trade_stats([], start_ns=0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 100)), max_size=30))
def test_exposure_equals_a_unit_grid_count(spans: list[tuple[int, int]]) -> None:
    trades = [ClosedTrade(pnl=0, entry_ts=a, exit_ts=a + d) for a, d in spans]
    grid = [False] * 1000
    for a, d in spans:
        for t in range(a, min(a + d, 1000)):
            grid[t] = True
    assert exposure(trades, 0, 1000) == pytest.approx(sum(grid) / 1000)
