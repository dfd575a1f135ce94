"""The sample strategies: expected signals at expected bars on hand-built price series (orders
through a real core over the simulated market), the pairs maths on hand-computed cases, and EMA
crossover end to end on the real simulated market with risk applied."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from engine.models import Bar, Interval, OrderStatus, Product
from engine.risk_config import RiskConfig
from engine.strategies import (
    STRATEGIES,
    BollingerBounce,
    EmaCross,
    PairsTrade,
    RsiBreakout,
    strategy_class,
)
from engine.strategies.pairs import half_life, ols, zscore
from engine.strategy import SignalAction, Strategy, StrategyError, StrategyParamsError
from tests.engine.test_strategy import MINUTE, OPEN, Rig, bar, build

A = SignalAction


@pytest.fixture()
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = build(tmp_path / "journal.sqlite")
    await r.core.start()
    await r.step(1)
    yield r
    await r.runner.close()
    await r.core.stop()
    r.journal.close()


async def run_series(rig: Rig, strategy: Strategy[Any], closes: dict[str, list[int]]) -> None:
    """Start ``strategy`` and push one closed 1m bar per close (all tokens per minute)."""
    await rig.runner.start(strategy)
    length = max(len(v) for v in closes.values())
    for i in range(length):
        for token, series in closes.items():
            if i < len(series):
                rig.runner.on_bar(bar(token, i, series[i]))
        await rig.runner.drain()


def at(strategy: Strategy[Any]) -> list[tuple[int, SignalAction]]:
    return [((s.ts - OPEN) // MINUTE, s.action) for s in strategy.signals]


def test_registry() -> None:
    assert set(STRATEGIES) == {"ema_cross", "rsi_breakout", "bollinger_bounce", "pairs"}
    assert strategy_class("pairs") is PairsTrade
    with pytest.raises(StrategyError, match="known: bollinger_bounce, ema_cross"):
        strategy_class("nope")
    with pytest.raises(StrategyParamsError, match="lower < exit_level < upper"):
        RsiBreakout("r", tokens=["1"], params={"exit_level": 80})
    with pytest.raises(StrategyParamsError, match="exit_z: must be below entry_z"):
        PairsTrade("p", tokens=["1", "2"], params={"exit_z": 3})
    with pytest.raises(StrategyError, match="exactly two instruments"):
        PairsTrade("p", tokens=["1"])


async def test_ema_cross_signals_at_the_expected_bars(rig: Rig) -> None:
    token = rig.token()
    # Flat at 100 (fast = slow), a jump to 110 at bar 30 (fast moves more: crosses above),
    # flat (they converge from below, fast stays above), a drop to 90 at bar 60 (crosses below).
    closes = [100_00] * 30 + [110_00] * 30 + [90_00] * 5
    s = EmaCross("ema", tokens=[token], params={"allow_short": True, "qty": 2})
    await run_series(rig, s, {token: closes})
    assert at(s) == [(30, A.ENTER_LONG), (60, A.EXIT_LONG), (60, A.ENTER_SHORT)]
    assert s.ctx.position(token).net_qty == -2
    orders = s.ctx.orders()
    assert [o.strategy_id for o in orders] == ["ema"] * 2 and [o.qty for o in orders] == [2, 4]
    assert all(o.status is OrderStatus.FILLED for o in orders)


async def test_ema_cross_long_only_and_lots(rig: Rig) -> None:
    token = rig.token(1)
    closes = [100_00] * 30 + [110_00] * 30 + [90_00] * 5
    s = EmaCross("ema2", tokens=[token])
    await run_series(rig, s, {token: closes})
    assert at(s) == [(30, A.ENTER_LONG), (60, A.EXIT_LONG)]
    assert s.ctx.position(token).net_qty == 0 and len(s.ctx.closed_trades()) == 1


async def test_rsi_breakout_signals_at_the_expected_bars(rig: Rig) -> None:
    token = rig.token()
    # 15 closes alternating +1/-1: RSI(14) = 50 at bar 14 (average gain = loss = 0.5). With
    # steps of 1, avg gain + avg loss stays 1, so after k rises RSI = 100 (1 - 0.5 (13/14)^k):
    # above 70 first at k = 7 (bar 21). Then falling, RSI = 100 g (13/14)^m with g = 0.7023:
    # below 50 at m = 5 (bar 26), below 30 at m = 12 (bar 33). Rising again, RSI = 100 (1 -
    # (1 - g') (13/14)^k) with g' = 0.2886: above 50 at k = 5 (bar 38).
    closes = [100_00 + (i % 2) for i in range(15)]
    for _ in range(7):
        closes.append(closes[-1] + 1)
    for _ in range(12):
        closes.append(closes[-1] - 1)
    for _ in range(5):
        closes.append(closes[-1] + 1)
    s = RsiBreakout("rsi", tokens=[token], params={"allow_short": True})
    await run_series(rig, s, {token: closes})
    assert at(s) == [(21, A.ENTER_LONG), (26, A.EXIT_LONG), (33, A.ENTER_SHORT),
                     (38, A.EXIT_SHORT)]
    assert s.signals[0].value == pytest.approx(100 * (1 - 0.5 * (13 / 14) ** 7))
    assert s.ctx.position(token).net_qty == 0 and len(s.ctx.closed_trades()) == 2


async def test_bollinger_bounce_signals_at_the_expected_bars(rig: Rig) -> None:
    token = rig.token()
    # 20 bars at 100 (bands collapsed), 90 at bar 20: mean 99.5, sigma 2.18, lower 95.1 ->
    # long. 99 at bar 21 is below the middle (99.45); 100 at bar 22 is above it -> exit. 115 at
    # bar 23: mean 100.2, sigma 4.03, upper 108.3 -> short; 100 at bar 24 <= middle -> cover.
    closes = [100_00] * 20 + [90_00, 99_00, 100_00, 115_00, 100_00]
    s = BollingerBounce("bb", tokens=[token], params={"allow_short": True})
    await run_series(rig, s, {token: closes})
    assert at(s) == [(20, A.ENTER_LONG), (22, A.EXIT_LONG), (23, A.ENTER_SHORT),
                     (24, A.EXIT_SHORT)]
    long_only = BollingerBounce("bb2", tokens=[rig.token(1)])
    await run_series(rig, long_only, {rig.token(1): closes})
    assert at(long_only) == [(20, A.ENTER_LONG), (22, A.EXIT_LONG)]


def test_pairs_maths_hand_computed() -> None:
    alpha, beta = ols([1, 2, 3, 4], [3, 5, 7, 9])
    assert (alpha, beta) == pytest.approx((1.0, 2.0))
    # mean 0.6; squared deviations 0.16 + 2.56 + 0.16 + 2.56 + 5.76 = 11.2; / 4 = 2.8.
    assert zscore([1.0, -1.0, 1.0, -1.0, 3.0]) == pytest.approx(2.4 / math.sqrt(2.8))
    # An alternating spread reverts completely each bar: change = -2 x level, half-life ln2/2.
    assert half_life([1.0, -1.0, 1.0, -1.0, 1.0]) == pytest.approx(math.log(2) / 2)
    assert half_life([1.0, 2.0, 4.0, 8.0]) == math.inf  # explosive, no reversion
    assert half_life([1.0, 1.0, 1.0]) == math.inf
    with pytest.raises(ValueError, match="does not vary"):
        ols([1, 1, 1], [1, 2, 3])


def pair_series(shock_at: int, n: int) -> tuple[list[int], list[int]]:
    """x rises by a rupee a bar; y = 2x + 5 rupees + noise alternating +/-1 rupee, with a
    +10 rupee shock at ``shock_at`` and no noise on the bar after it."""
    xs, ys = [], []
    for i in range(n):
        x = 100_00 + 100 * i
        noise = 100 if i % 2 else -100
        if i == shock_at:
            noise = 1000
        elif i == shock_at + 1:
            noise = 0
        xs.append(x)
        ys.append(2 * x + 500 + noise)
    return ys, xs


async def test_pairs_signals_at_the_expected_bars(rig: Rig) -> None:
    y, x = rig.token(0), rig.token(1)
    ys, xs = pair_series(shock_at=35, n=38)
    s = PairsTrade("pair", tokens=[y, x], params={"lookback": 30, "qty": 10})
    await run_series(rig, s, {y: ys, x: xs})
    assert at(s) == [(35, A.ENTER_SHORT), (36, A.EXIT_SHORT)]
    assert s.signals[0].value > 2.0 and s.signals[1].value <= 0.5
    assert s.beta == pytest.approx(2.0, abs=0.1)  # the +10 shock in the window tilts it
    # Both legs went through the core under the strategy's id: sell 10 y, buy round(beta * 10)
    # x (beta ~ 2.06 on the entry bar, the shock included), then back.
    orders = s.ctx.orders()
    hedge = orders[1].qty
    assert hedge in (20, 21)
    assert [(o.token, o.side.value, o.qty) for o in orders] == [
        (y, "SELL", 10), (x, "BUY", hedge), (y, "BUY", 10), (x, "SELL", hedge)
    ]
    assert {o.strategy_id for o in orders} == {"pair"}
    assert s.ctx.position(y).net_qty == 0 and s.ctx.position(x).net_qty == 0


async def test_pairs_half_life_filter(rig: Rig) -> None:
    y, x = rig.token(2), rig.token(3)
    ys, xs = pair_series(shock_at=35, n=38)
    s = PairsTrade("pair2", tokens=[y, x], params={"lookback": 30, "max_half_life": 0.01})
    await run_series(rig, s, {y: ys, x: xs})
    assert s.signals == [] and s.half_life is not None and s.half_life > 0.01


# ---------------------------------------------------------------------------------------------
# End to end on the simulated market


@pytest.mark.slow
async def test_ema_cross_on_the_simulated_market(tmp_path: Path) -> None:
    """EMA crossover on 1m bars the aggregator builds from the simulated market's quotes,
    through a real core: its orders carry its id; an oversize twin is refused by risk and sees
    the rejection."""
    rig = build(tmp_path / "e2e.sqlite", risk=RiskConfig(max_order_qty=100))
    await rig.core.start()
    fast = EmaCross("ema-e2e", tokens=[s.token for s in rig.stocks[:2]],
                    params={"fast": 2, "slow": 4, "qty": 5, "allow_short": True})
    big = EmaCross("ema-big", tokens=[s.token for s in rig.stocks[:2]],
                   params={"fast": 2, "slow": 4, "qty": 500, "allow_short": True})
    rejected: list[str] = []

    async def on_update(order: object) -> None:
        if getattr(order, "status", None) is OrderStatus.REJECTED:
            rejected.append(getattr(order, "reason", ""))

    big.on_order_update = on_update  # type: ignore[method-assign]
    await rig.runner.start(fast)
    await rig.runner.start(big)
    await rig.step(14 * 60, dt_ms=250)
    assert fast.signals, "no crossover in 14 simulated minutes"
    orders = fast.ctx.orders()
    assert orders and {o.strategy_id for o in orders} == {"ema-e2e"}
    assert all(o.qty in (5, 10) for o in orders)
    assert any(o.status is OrderStatus.FILLED for o in orders)
    journaled = {str(o.strategy_id) for o in rig.core.orders()}
    assert journaled == {"ema-e2e", "ema-big"}
    # Every order of the oversize twin was refused by the max_order_qty limit, and it heard so.
    big_orders = big.ctx.orders()
    assert big_orders and all(o.status is OrderStatus.REJECTED for o in big_orders)
    assert len(rejected) == len(big_orders)
    assert all("max_order_qty" in r for r in rejected)
    assert big.ctx.position(rig.stocks[0].token, Product.MIS).net_qty == 0
    # Its signals came from closed bars only, one per bar at most per token.
    assert all(isinstance(b, Bar) for b in rig.bars.bars(rig.stocks[0].token, Interval.M1))
    await rig.runner.close()
    await rig.core.stop()
    rig.journal.close()
