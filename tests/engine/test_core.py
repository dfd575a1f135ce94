"""TradingCore end to end with real parts: the simulated market, the paper broker and a real
SQLite journal in a temp dir. Nothing of our own is mocked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path

import pytest

from brokers.paper import PaperBroker
from engine.charges import ANGEL_ONE, ChargesModel
from engine.clock import NS_PER_MS, NS_PER_SECOND, SessionPhase, SimClock, ist_ns
from engine.core import CoreEvent, KillSwitchBlockedError, TradingCore
from engine.gtt import GttKind, GttLeg, GttStatus
from engine.intent import OrderIntent
from engine.journal import Journal
from engine.kill_switch import KillSwitchState
from engine.models import Instrument, InstrumentType, OrderStatus, OrderType, Product, Quote, Side
from engine.paper_universe import build_paper_universe
from engine.portfolio import Portfolio
from engine.risk import PreTradeRisk
from engine.risk_config import RiskConfig
from engine.sim_config import SessionMode, SimulatorConfig
from engine.simulator import SimulatedMarket

DAY = date(2026, 11, 20)
CASH = 10_00_000_00  # Rs 10 lakh in paise


@dataclass
class Rig:
    """One paper account over one simulated market."""

    market: SimulatedMarket
    broker: PaperBroker
    journal: Journal
    core: TradingCore
    events: list[CoreEvent]
    stocks: list[Instrument]

    async def step(self, seconds: float) -> None:
        """Advance the market and feed its quotes to the core (the bus does this in the app),
        letting the core finish the follow-up work each step starts."""
        steps = max(1, int(seconds * 50))
        for _ in range(steps):
            events = self.market.step(20 * NS_PER_MS)
            self.core.on_quotes(e for e in events if isinstance(e, Quote))
            await self.core.settle()

    def ltp(self, token: str) -> int:
        quote = self.core.quote(token)
        assert quote is not None
        return quote.ltp


def build(path: Path, *, seed: int = 3, risk: RiskConfig | None = None,
          clock_start: int | None = None) -> Rig:
    universe = build_paper_universe(DAY)
    stocks = [i for i in universe.instruments if i.instrument_type is InstrumentType.EQUITY][:4]
    prices = {i.token: universe.start_prices[i.token] for i in stocks}
    clock = SimClock(clock_start or ist_ns(DAY, dtime(10, 0)))
    market = SimulatedMarket(stocks, prices, seed=seed,
                             config=SimulatorConfig(mode=SessionMode.ALWAYS_OPEN,
                                                    events_per_s=40), clock=clock)
    broker = PaperBroker(market)
    journal = Journal.open(path, synchronous="NORMAL")
    core = TradingCore(
        broker=broker,
        journal=journal,
        instruments={i.token: i for i in stocks},
        risk=PreTradeRisk(risk or RiskConfig(), clock),
        portfolio=Portfolio(CASH),
        charges=ChargesModel(ANGEL_ONE),
        clock=clock,
        account="paper",
        phase_of=lambda _exchange: SessionPhase.CONTINUOUS,
    )
    events: list[CoreEvent] = []
    core.subscribe(events.append)
    return Rig(market, broker, journal, core, events, stocks)


@pytest.fixture()
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = build(tmp_path / "journal.sqlite")
    await r.core.start()
    await r.step(2)
    yield r
    await r.core.stop()
    r.journal.close()


def marketable_buy(rig: Rig, token: str, qty: int, **extra: object) -> OrderIntent:
    quote = rig.core.quote(token)
    assert quote is not None and quote.asks
    price = quote.asks[0].price + 5 * rig.core.instruments[token].tick_size
    fields: dict[str, object] = {"token": token, "side": Side.BUY, "qty": qty,
                                 "order_type": OrderType.LIMIT, "price": price,
                                 "product": Product.MIS}
    fields.update(extra)
    return OrderIntent.model_validate(fields)


async def test_marketable_buy_fills_and_makes_a_position(rig: Rig) -> None:
    token = rig.stocks[0].token
    result = await rig.core.submit(marketable_buy(rig, token, 10))
    assert result.accepted, result.message
    await rig.journal.flush()
    order = rig.core.order(result.client_order_id or "")
    assert order is not None
    assert order.status is OrderStatus.FILLED
    position = rig.core.portfolio.position(token, Product.MIS)
    assert position is not None and position.net_qty == 10
    trades = rig.core.trades()
    assert sum(t.qty for t in trades) == 10
    assert all(t.charges > 0 for t in trades)
    # The position's cost is exactly what the fills paid.
    assert position.open_cost == sum(t.qty * t.price for t in trades)
    kinds = [e.kind for e in rig.events]
    assert "fill" in kinds and "order" in kinds


async def test_risk_rejection_is_journaled_as_rejected(rig: Rig) -> None:
    token = rig.stocks[0].token
    tick = rig.core.instruments[token].tick_size
    bad = OrderIntent(token=token, side=Side.BUY, qty=1, price=rig.ltp(token) + tick // 2 or 1,
                      product=Product.MIS)
    if tick == 1:
        bad = OrderIntent(token=token, side=Side.BUY, qty=1, price=rig.ltp(token) * 10,
                          product=Product.MIS)
    result = await rig.core.submit(bad)
    assert not result.accepted
    assert result.rejection is not None
    order = rig.core.order(result.client_order_id or "")
    assert order is not None and order.status is OrderStatus.REJECTED
    assert result.rejection.check in order.reason
    await rig.journal.flush()
    kinds = [(rec.kind, rec.payload.get("kind")) for rec in rig.journal.replay()]
    assert ("order", "OrderRejected") in kinds


async def test_same_client_order_id_is_one_order(rig: Rig) -> None:
    token = rig.stocks[1].token
    intent = marketable_buy(rig, token, 5, client_order_id="SAME1")
    first = await rig.core.submit(intent)
    second = await rig.core.submit(intent)
    assert first.accepted and second.accepted
    assert "already submitted" in second.message
    assert len([o for o in rig.core.orders() if o.client_order_id == "SAME1"]) == 1
    position = rig.core.portfolio.position(token, Product.MIS)
    assert position is not None and position.net_qty == 5


async def test_state_is_rebuilt_from_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    rig = build(path)
    await rig.core.start()
    await rig.step(2)
    token = rig.stocks[0].token
    await rig.core.submit(marketable_buy(rig, token, 7))
    resting_price = rig.ltp(token) - 40 * rig.core.instruments[token].tick_size
    resting = await rig.core.submit(OrderIntent(token=token, side=Side.BUY, qty=3,
                                                price=resting_price, product=Product.MIS))
    assert resting.accepted
    before_pos = rig.core.portfolio.position(token, Product.MIS)
    before_funds = rig.core.funds()
    before_orders = {o.client_order_id: (o.status, o.filled_qty) for o in rig.core.orders()}
    await rig.core.stop()
    rig.journal.close()

    again = build(path, clock_start=rig.market.now_ns + NS_PER_SECOND)
    await again.core.start()
    after_pos = again.core.portfolio.position(token, Product.MIS)
    assert before_pos is not None and after_pos is not None
    assert after_pos.net_qty == before_pos.net_qty
    assert after_pos.open_cost == before_pos.open_cost
    assert after_pos.charges == before_pos.charges
    assert again.core.funds().realized == before_funds.realized
    assert again.core.funds().charges == before_funds.charges
    assert {o.client_order_id: (o.status, o.filled_qty) for o in again.core.orders()} == (
        before_orders
    )
    # The resting order is working at the (fresh) paper exchange again.
    assert again.broker.venue_order_id_of(resting.client_order_ids[0]) is not None
    await again.core.stop()
    again.journal.close()


async def test_kill_switch_flattens_and_blocks(rig: Rig) -> None:
    token = rig.stocks[0].token
    await rig.core.submit(marketable_buy(rig, token, 10))
    far = rig.ltp(token) - 50 * rig.core.instruments[token].tick_size
    resting = await rig.core.submit(OrderIntent(token=token, side=Side.BUY, qty=2, price=far,
                                                product=Product.MIS))
    assert resting.accepted
    await rig.core.trigger_kill_switch("test")
    await rig.step(1)
    await rig.journal.flush()
    position = rig.core.portfolio.position(token, Product.MIS)
    assert position is not None and position.net_qty == 0
    assert rig.core.open_orders() == []
    assert rig.core.kill_switch.state is KillSwitchState.LOCKED
    blocked = await rig.core.submit(marketable_buy(rig, token, 1))
    assert not blocked.accepted and blocked.rejection is not None
    assert blocked.rejection.check == "kill_switch"
    with pytest.raises(KillSwitchBlockedError):
        await rig.core.create_gtt(token, GttKind.SINGLE,
                                  [GttLeg(trigger=far, limit=far, side=Side.BUY, qty=1)])
    await rig.core.rearm_kill_switch("REARM")
    assert rig.core.kill_switch.state is KillSwitchState.ARMED
    again = await rig.core.submit(marketable_buy(rig, token, 1))
    assert again.accepted


async def test_gtt_fires_exactly_once_through_the_core(rig: Rig) -> None:
    token = rig.stocks[2].token
    tick = rig.core.instruments[token].tick_size
    ltp = rig.ltp(token)
    trigger = ltp - 2 * tick
    rule = await rig.core.create_gtt(
        token, GttKind.SINGLE,
        [GttLeg(trigger=trigger, limit=trigger + 20 * tick, side=Side.BUY, qty=4,
                product=Product.CNC)],
    )
    for _ in range(600):
        await rig.step(1)
        current = next(r for r in rig.core.gtts() if r.id == rule.id)
        if current.status is not GttStatus.ACTIVE and current.client_order_id:
            break
    await rig.journal.flush()
    current = next(r for r in rig.core.gtts() if r.id == rule.id)
    assert current.status is GttStatus.TRIGGERED
    placed = [o for o in rig.core.orders() if o.client_order_id == current.client_order_id]
    assert len(placed) == 1
    assert placed[0].order_type is OrderType.LIMIT and placed[0].qty == 4
    await rig.step(5)
    assert len([o for o in rig.core.orders() if o.strategy_id == "gtt"]) == 1


async def test_daily_loss_breach_trips_the_kill_switch(tmp_path: Path) -> None:
    rig = build(tmp_path / "k.sqlite", risk=RiskConfig(daily_loss_limit=Decimal(1)))
    await rig.core.start()
    await rig.step(2)
    token = rig.stocks[0].token
    await rig.core.submit(marketable_buy(rig, token, 50))
    for _ in range(200):
        await rig.step(1)
        if rig.core.kill_switch.state is not KillSwitchState.ARMED:
            break
    await rig.step(2)
    assert rig.core.kill_switch.state in (KillSwitchState.TRIGGERED, KillSwitchState.LOCKED)
    assert any(e.kind == "kill_switch" for e in rig.events)
    await rig.core.stop()
    rig.journal.close()


async def test_bracket_ends_flat_with_exactly_one_exit(rig: Rig) -> None:
    from engine.brackets import BracketSpec, BracketState, ExitLevel

    token = rig.stocks[3].token
    tick = rig.core.instruments[token].tick_size
    quote = rig.core.quote(token)
    assert quote is not None and quote.asks
    spec = BracketSpec(
        token=token, side=Side.BUY, qty=10, tick=tick,
        stop=ExitLevel.points(3 * tick), target=ExitLevel.points(3 * tick),
        entry_type=OrderType.LIMIT, entry_price=quote.asks[0].price + 2 * tick,
        product=Product.MIS,
    )
    bracket_id = await rig.core.submit_bracket(spec)
    for _ in range(900):
        await rig.step(1)
        bracket = next(b for b in rig.core.brackets() if b.id == bracket_id)
        if bracket.state.is_terminal:
            break
    bracket = next(b for b in rig.core.brackets() if b.id == bracket_id)
    assert bracket.state is BracketState.CLOSED
    position = rig.core.portfolio.position(token, Product.MIS)
    assert position is not None and position.net_qty == 0
    owned = [o for o in rig.core.orders() if o.strategy_id == f"bracket-{bracket_id}"]
    sells = [o for o in owned if o.side is Side.SELL and o.filled_qty]
    assert sum(o.filled_qty for o in sells) == 10
    assert sum(o.filled_qty for o in owned if o.side is Side.BUY) == 10
