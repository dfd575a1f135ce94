"""Strategy API and runner on real parts: the simulated market, the paper broker, a real SQLite
journal in tmp_path and a real TradingCore. Bars are pushed by hand where the test needs exact
control; quotes come from the market."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from datetime import time as dtime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from brokers.paper import PaperBroker
from engine.bars import BarAggregator
from engine.charges import ANGEL_ONE, ChargesModel
from engine.clock import NS_PER_MS, SessionPhase, SimClock, ist_ns
from engine.core import CoreEvent, SubmitResult, TradingCore
from engine.journal import Journal
from engine.models import (
    Bar,
    ClientOrderId,
    Fill,
    Instrument,
    InstrumentType,
    Interval,
    OrderStatus,
    Product,
    Quote,
    Side,
    StrategyId,
    TradeId,
    VenueOrderId,
)
from engine.orders import Order
from engine.paper_universe import build_paper_universe
from engine.portfolio import Portfolio
from engine.risk import PreTradeRisk
from engine.risk_config import RiskConfig
from engine.sim_config import SessionMode, SimulatorConfig
from engine.simulator import SimulatedMarket
from engine.strategies import EmaCross
from engine.strategy import (
    Strategy,
    StrategyError,
    StrategyLedger,
    StrategyParams,
    StrategyParamsError,
    StrategyRunner,
    StrategyState,
)

DAY = date(2026, 11, 20)
CASH = 10_00_000_00
MINUTE = 60 * 1_000_000_000
OPEN = ist_ns(DAY, dtime(9, 15))


@dataclass
class Rig:
    """One paper account, its core, a bar aggregator and a strategy runner."""

    market: SimulatedMarket
    journal: Journal
    core: TradingCore
    bars: BarAggregator
    runner: StrategyRunner
    stocks: list[Instrument]
    events: list[CoreEvent] = field(default_factory=list)

    async def step(self, seconds: float, dt_ms: int = 20) -> None:
        """Advance the market; feed the core, the bars and the strategies like the app does."""
        for _ in range(max(1, int(seconds * 1000 / dt_ms))):
            events = self.market.step(dt_ms * NS_PER_MS)
            quotes = [e for e in events if isinstance(e, Quote)]
            self.core.on_quotes(quotes)
            self.bars.on_events(events)
            self.runner.on_quotes(quotes)
            self.bars.close_due(self.market.now_ns)
            await self.core.settle()
        await self.runner.drain()

    def token(self, i: int = 0) -> str:
        return self.stocks[i].token


def build(path: Path, *, risk: RiskConfig | None = None, seed: int = 3,
          interval: Interval = Interval.M1) -> Rig:
    universe = build_paper_universe(DAY)
    stocks = [i for i in universe.instruments if i.instrument_type is InstrumentType.EQUITY][:4]
    prices = {i.token: universe.start_prices[i.token] for i in stocks}
    clock = SimClock(ist_ns(DAY, dtime(10, 0)))
    market = SimulatedMarket(stocks, prices, seed=seed,
                             config=SimulatorConfig(mode=SessionMode.ALWAYS_OPEN,
                                                    events_per_s=40), clock=clock)
    journal = Journal.open(path, synchronous="NORMAL")
    core = TradingCore(
        broker=PaperBroker(market),
        journal=journal,
        instruments={i.token: i for i in stocks},
        risk=PreTradeRisk(risk or RiskConfig(), clock),
        portfolio=Portfolio(CASH),
        charges=ChargesModel(ANGEL_ONE),
        clock=clock,
        account="paper",
        phase_of=lambda _exchange: SessionPhase.CONTINUOUS,
    )
    bars = BarAggregator([interval])
    rig = Rig(market, journal, core, bars, StrategyRunner(core, bars, hook_wait_s=2.0), stocks)
    core.subscribe(rig.events.append)
    return rig


@pytest.fixture()
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = build(tmp_path / "journal.sqlite")
    await r.core.start()
    await r.step(1)
    yield r
    await r.runner.close()
    await r.core.stop()
    r.journal.close()


def bar(token: str, i: int, close: int, interval: Interval = Interval.M1) -> Bar:
    """A closed 1-minute bar number ``i`` of the session, all prices at ``close``."""
    return Bar(token, interval, OPEN + i * MINUTE, close, close, close, close, 100, closed=True)


async def push(rig: Rig, bars: list[Bar]) -> None:
    for b in bars:
        rig.runner.on_bar(b)
        await rig.runner.drain()


# ---------------------------------------------------------------------------------------------
# A scripted strategy: each bar runs the next action the test queued.


class ScriptParams(StrategyParams):
    qty: int = Field(default=10, ge=1)


class Scripted(Strategy[ScriptParams]):
    """Runs queued actions on bars; records every hook."""

    params_model = ScriptParams
    kind = "scripted"

    def __init__(self, strategy_id: str, **kwargs: Any) -> None:
        super().__init__(strategy_id, **kwargs)
        self.actions: list[Any] = []
        self.seen: list[tuple[str, Any]] = []
        self.results: list[SubmitResult | None] = []
        self.fail_on_bar = False
        self.fail_on_start = False

    async def on_start(self) -> None:
        self.seen.append(("start", None))
        if self.fail_on_start:
            raise RuntimeError("bad start")
        self.sma = self.ctx.sma(self.tokens[0], Interval.M1, 2)

    async def on_quote(self, quote: Quote) -> None:
        self.seen.append(("quote", quote.token))

    async def on_bar(self, bar: Bar) -> None:
        self.seen.append(("bar", bar.start))
        if self.fail_on_bar:
            raise ValueError("boom in on_bar")
        if self.actions:
            action = self.actions.pop(0)
            self.results.append(await action(self.ctx))

    async def on_fill(self, fill: Fill) -> None:
        self.seen.append(("fill", fill.qty))

    async def on_order_update(self, order: Order) -> None:
        self.seen.append(("order", (order.client_order_id, order.status, order.strategy_id)))

    async def on_stop(self) -> None:
        self.seen.append(("stop", None))

    def kinds(self, kind: str) -> list[Any]:
        return [v for k, v in self.seen if k == kind]


def far_limit(rig: Rig, token: str, side: Side) -> int:
    tick = rig.core.instruments[token].tick_size
    quote = rig.core.quote(token)
    assert quote is not None
    return quote.ltp - 40 * tick if side is Side.BUY else quote.ltp + 40 * tick


# ---------------------------------------------------------------------------------------------
# Parameters and construction


def test_params_are_validated_with_clear_messages() -> None:
    with pytest.raises(StrategyParamsError, match="fast period must be shorter"):
        EmaCross("ema", tokens=["1"], params={"fast": 30, "slow": 10})
    with pytest.raises(StrategyParamsError, match=r"bogus: Extra inputs are not permitted"):
        EmaCross("ema", tokens=["1"], params={"bogus": 1})
    with pytest.raises(StrategyParamsError, match=r"qty: .*greater than or equal to 1.*got 0"):
        EmaCross("ema", tokens=["1"], params={"qty": 0})
    # Strings (from a command line) are converted.
    assert EmaCross("ema", tokens=["1"], params={"fast": "5", "slow": "8"}).params.fast == 5
    with pytest.raises(StrategyError, match="reserved"):
        EmaCross("manual", tokens=["1"])
    with pytest.raises(StrategyError, match="1 to 40 characters"):
        EmaCross("x" * 41, tokens=["1"])
    with pytest.raises(StrategyError, match="list of instrument tokens"):
        EmaCross("ema", tokens="1")
    with pytest.raises(StrategyError, match="not running"):
        _ = EmaCross("ema", tokens=["1"]).ctx


async def test_unknown_tokens_and_intervals_are_refused(rig: Rig) -> None:
    with pytest.raises(StrategyError, match="unknown instrument tokens"):
        await rig.runner.start(Scripted("s1", tokens=["nope"]))
    with pytest.raises(StrategyError, match="builds only 1m"):
        await rig.runner.start(Scripted("s1", tokens=[rig.token()], intervals=[Interval.M5]))


# ---------------------------------------------------------------------------------------------
# Orders, positions and routing


async def test_orders_carry_the_strategy_id_and_positions_are_per_strategy(rig: Rig) -> None:
    token = rig.token()
    a = Scripted("alpha", tokens=[token])
    b = Scripted("beta", tokens=[token])
    assert await rig.runner.start(a) is StrategyState.RUNNING
    await rig.runner.start(b)
    a.actions.append(lambda ctx: ctx.buy(token, 10))
    b.actions.append(lambda ctx: ctx.sell(token, 4))
    await push(rig, [bar(token, 0, 100_00)])
    assert all(r is not None and r.accepted for r in a.results + b.results)
    assert {str(o.strategy_id) for o in rig.core.orders()} == {"alpha", "beta"}
    assert a.ctx.position(token).net_qty == 10
    assert b.ctx.position(token).net_qty == -4
    account = rig.core.portfolio.position(token, Product.MIS)
    assert account is not None and account.net_qty == 6
    # Each strategy heard only its own fills and order updates.
    assert sum(a.kinds("fill")) == 10 and sum(b.kinds("fill")) == 4
    assert {sid for _, _, sid in a.kinds("order")} == {"alpha"}
    assert {sid for _, _, sid in b.kinds("order")} == {"beta"}
    assert a.kinds("order")[-1][1] is OrderStatus.FILLED
    # Its position's cost is exactly its fills.
    fills = [f for f in rig.core.trades() if f.strategy_id == "alpha"]
    assert a.ctx.position(token).avg_price == Fraction(
        sum(f.qty * f.price for f in fills), sum(f.qty for f in fills)
    )
    status = rig.runner.status("alpha")
    assert status.fills == len(fills) and status.orders == 1 and status.open_orders == 0
    # Both see quotes of their instrument.
    await rig.step(0.5)
    assert a.kinds("quote") and b.kinds("quote")
    # A strategy cannot cancel another's order.
    resting = await b.ctx.buy(token, 1, price=far_limit(rig, token, Side.BUY))
    assert resting.accepted
    refused = await a.ctx.cancel(resting.client_order_id or "")
    assert not refused.accepted and "not an order of alpha" in refused.message
    # order_target trades only the difference, counting working orders.
    assert await a.ctx.order_target(token, 10) is None
    await a.ctx.order_target(token, 0)
    await rig.runner.drain()
    assert a.ctx.position(token).net_qty == 0
    assert len(a.ctx.closed_trades()) == 1


async def test_a_risk_rejection_comes_back_to_the_strategy(tmp_path: Path) -> None:
    rig = build(tmp_path / "j.sqlite", risk=RiskConfig(max_order_qty=50))
    await rig.core.start()
    await rig.step(1)
    token = rig.token()
    s = Scripted("big", tokens=[token])
    await rig.runner.start(s)
    s.actions.append(lambda ctx: ctx.buy(token, 500))
    await push(rig, [bar(token, 0, 100_00)])
    result = s.results[0]
    assert result is not None and not result.accepted
    assert result.rejection is not None and result.rejection.check == "max_order_qty"
    coid, status, sid = s.kinds("order")[-1]
    assert (coid, status, sid) == (result.client_order_id, OrderStatus.REJECTED, "big")
    order = rig.core.order(coid)
    assert order is not None and order.strategy_id == "big" and "max_order_qty" in order.reason
    assert s.ctx.position(token).net_qty == 0
    assert rig.runner.state("big") is StrategyState.RUNNING
    await rig.runner.close()
    await rig.core.stop()
    rig.journal.close()


async def test_a_failing_strategy_is_stopped_and_reported(rig: Rig) -> None:
    token = rig.token()
    bad = Scripted("bad", tokens=[token])
    good = Scripted("good", tokens=[token])
    await rig.runner.start(bad)
    await rig.runner.start(good)
    resting = await bad.ctx.buy(token, 2, price=far_limit(rig, token, Side.BUY))
    assert resting.accepted
    bad.fail_on_bar = True
    await push(rig, [bar(token, 0, 100_00), bar(token, 1, 100_00)])
    assert rig.runner.state("bad") is StrategyState.FAILED
    assert rig.runner.state("good") is StrategyState.RUNNING
    assert good.kinds("bar") == [OPEN, OPEN + MINUTE]
    assert bad.kinds("bar") == [OPEN]  # nothing after the failure
    assert bad.kinds("stop") == [None]
    [failure] = rig.runner.failures
    assert failure.strategy_id == "bad" and failure.hook == "on_bar"
    assert "ValueError: boom in on_bar" in failure.error and "Traceback" in failure.traceback
    assert "boom" in rig.runner.status("bad").error
    order = rig.core.order(resting.client_order_id or "")
    assert order is not None and order.status is OrderStatus.CANCELLED
    refused = await bad.ctx.buy(token, 1)
    assert not refused.accepted and "failed" in refused.message
    # A failing on_start is reported the same way.
    broken = Scripted("broken", tokens=[token])
    broken.fail_on_start = True
    assert await rig.runner.start(broken) is StrategyState.FAILED
    assert rig.runner.failures[-1].hook == "on_start"


async def test_pause_keeps_indicators_and_fills_flowing(rig: Rig) -> None:
    token = rig.token()
    s = Scripted("p", tokens=[token])
    await rig.runner.start(s)
    resting = await s.ctx.buy(token, 3, price=far_limit(rig, token, Side.BUY))
    rig.runner.pause("p")
    with pytest.raises(StrategyError, match="not running"):
        rig.runner.pause("p")
    await push(rig, [bar(token, 0, 100_00), bar(token, 1, 102_00)])
    await rig.step(0.3)
    assert s.kinds("bar") == [] and s.kinds("quote") == []
    assert s.sma.value == 101_00  # fed while paused
    await s.ctx.cancel(resting.client_order_id or "")
    await rig.runner.drain()
    assert s.kinds("order")[-1][1] is OrderStatus.CANCELLED  # order updates still delivered
    rig.runner.resume("p")
    await push(rig, [bar(token, 2, 104_00)])
    assert s.kinds("bar") == [OPEN + 2 * MINUTE] and s.sma.value == 103_00


async def test_hot_swap_keeps_positions_and_orders(rig: Rig) -> None:
    token = rig.token()
    old = Scripted("swap", tokens=[token])
    await rig.runner.start(old)
    await old.ctx.buy(token, 10)
    resting = await old.ctx.sell(token, 5, price=far_limit(rig, token, Side.SELL))
    await rig.runner.drain()
    assert old.ctx.position(token).net_qty == 10
    new = Scripted("swap", tokens=[token])
    result = await rig.runner.hot_swap("swap", new)
    assert result.swapped and result.elapsed_s < 1.0
    assert rig.runner.strategy("swap") is new
    assert old.kinds("stop") == [None] and new.kinds("start") == [None]
    assert new.ctx.position(token).net_qty == 10
    assert [o.client_order_id for o in new.ctx.open_orders()] == [resting.client_order_id]
    # The old version can no longer trade; the new one hears the old order's updates.
    refused = await old.ctx.buy(token, 1)
    assert not refused.accepted and "replaced by a new version" in refused.message
    await new.ctx.cancel(resting.client_order_id or "")
    await push(rig, [bar(token, 0, 100_00)])
    assert new.kinds("order")[-1][1] is OrderStatus.CANCELLED and new.kinds("bar") == [OPEN]
    assert old.kinds("bar") == []
    assert rig.runner.status("swap").swaps == 1
    # A new version that fails to start is refused; the running one stays.
    broken = Scripted("swap", tokens=[token])
    broken.fail_on_start = True
    refused_swap = await rig.runner.hot_swap("swap", broken)
    assert not refused_swap.swapped and "keeps running" in refused_swap.message
    assert rig.runner.strategy("swap") is new
    assert rig.runner.state("swap") is StrategyState.RUNNING
    with pytest.raises(StrategyError, match="same id"):
        await rig.runner.hot_swap("swap", Scripted("other", tokens=[token]))


async def test_hot_swap_waits_for_a_running_hook(rig: Rig) -> None:
    token = rig.token()
    gate = asyncio.Event()

    async def slow(ctx: Any) -> None:
        await gate.wait()
        return None

    old = Scripted("slow", tokens=[token])
    await rig.runner.start(old)
    old.actions.append(slow)
    rig.runner.on_bar(bar(token, 0, 100_00))
    await asyncio.sleep(0)
    swap = asyncio.ensure_future(rig.runner.hot_swap("slow", Scripted("slow", tokens=[token])))
    await asyncio.sleep(0.05)
    assert not swap.done()  # waiting for the hook, not interrupting it
    gate.set()
    result = await swap
    assert result.swapped and result.elapsed_s < 1.0


async def test_stop_cancels_orders_and_can_flatten(rig: Rig) -> None:
    token = rig.token()
    s = Scripted("stopper", tokens=[token])
    await rig.runner.start(s)
    await s.ctx.buy(token, 7)
    resting = await s.ctx.buy(token, 1, price=far_limit(rig, token, Side.BUY))
    await rig.runner.drain()
    assert await rig.runner.stop("stopper", flatten=True) is StrategyState.STOPPED
    await rig.step(0.5)
    order = rig.core.order(resting.client_order_id or "")
    assert order is not None and order.status is OrderStatus.CANCELLED
    assert s.ctx.position(token).net_qty == 0
    assert s.kinds("stop") == [None]
    # Restarting under the same id picks the ledger back up from the core.
    again = Scripted("stopper", tokens=[token])
    await rig.runner.start(again)
    assert len(again.ctx.closed_trades()) == 1 and len(again.ctx.orders()) == 3


async def test_kill_switch_stops_every_strategy(rig: Rig) -> None:
    token = rig.token()
    a = Scripted("k1", tokens=[token])
    b = Scripted("k2", tokens=[rig.token(1)])
    await rig.runner.start(a)
    await rig.runner.start(b)
    await a.ctx.buy(token, 5)
    await rig.runner.drain()
    await rig.core.trigger_kill_switch("test")
    await rig.step(0.5)
    assert rig.runner.state("k1") is StrategyState.STOPPED
    assert rig.runner.state("k2") is StrategyState.STOPPED
    assert a.kinds("stop") == [None] and b.kinds("stop") == [None]
    account = rig.core.portfolio.position(token, Product.MIS)
    assert account is not None and account.net_qty == 0  # the core flattened the account
    # ... with its own orders (strategy id "manual"), so the strategy's ledger keeps its 5.
    assert a.ctx.position(token).net_qty == 5
    with pytest.raises(StrategyError, match="kill switch"):
        await rig.runner.start(Scripted("k3", tokens=[token]))


async def test_history_never_shows_a_later_bar(rig: Rig) -> None:
    token = rig.token()
    seen: list[tuple[int, int]] = []

    class Peek(Strategy[StrategyParams]):
        async def on_bar(self, bar: Bar) -> None:
            history = self.ctx.history(bar.token, Interval.M1)
            seen.append((bar.start, max(b.start for b in history)))

    await rig.runner.start(Peek("peek", tokens=[token]))
    await rig.step(150, dt_ms=200)  # the aggregator closes real 1m bars
    assert len(seen) >= 2
    assert all(latest == start for start, latest in seen)


# ---------------------------------------------------------------------------------------------
# The ledger alone


def fill(side: Side, qty: int, price: int, ts: int, trade: str, charges: int = 0) -> Fill:
    return Fill(TradeId(trade), ClientOrderId("c" + trade), VenueOrderId("v"), "T", side, qty,
                price, Product.MIS, ts, charges, StrategyId("s"))


def test_ledger_round_trips_flips_and_duplicates() -> None:
    ledger = StrategyLedger("s")
    assert ledger.apply(fill(Side.BUY, 10, 100_00, 1, "1", 5))
    assert not ledger.apply(fill(Side.BUY, 10, 100_00, 1, "1", 5))  # same trade again
    assert ledger.apply(fill(Side.BUY, 5, 103_00, 2, "2", 3))
    pos = ledger.position("T", Product.MIS, 110_00)
    assert pos.net_qty == 15 and pos.avg_price == Fraction(10 * 100_00 + 5 * 103_00, 15)
    assert pos.unrealized == (110_00 - pos.avg_price) * 15
    # Sell 20: closes 15 (a round trip) and opens a 5 short.
    ledger.apply(fill(Side.SELL, 20, 102_00, 3, "3", 4))
    pos = ledger.position("T", Product.MIS, None)
    assert pos.net_qty == -5 and pos.avg_price == 102_00
    [trip] = ledger.closed_trades
    assert trip.pnl == 15 * 102_00 - (10 * 100_00 + 5 * 103_00) - (5 + 3 + 4)
    assert (trip.entry_ts, trip.exit_ts, trip.qty, trip.charges) == (1, 3, 15, 12)
    ledger.apply(fill(Side.BUY, 5, 101_00, 4, "4", 2))
    assert ledger.closed_trades[-1].pnl == 5 * (102_00 - 101_00) - 2
    assert ledger.position("T", Product.MIS, None).realized == Decimal(
        15 * 102_00 - (10 * 100_00 + 5 * 103_00) + 5 * 100
    )
