"""PaperLiveBroker: paper orders filled against live quotes, reported to a real OMS."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokers.paper_live import PaperLiveBroker
from engine.broker import BrokerRejectedError, ModifyRequest, PlaceRequest
from engine.clock import SessionPhase, SimClock
from engine.fills import FillModelConfig
from engine.models import (
    ClientOrderId,
    DepthLevel,
    Exchange,
    Instrument,
    InstrumentType,
    OrderStatus,
    OrderType,
    Product,
    Quote,
    Side,
    Validity,
)
from engine.oms import OMS
from engine.orders import (
    Order,
    OrderAccepted,
    OrderCancelRejected,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderModified,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
)

SBIN = Instrument("3045", Exchange.NSE, "SBIN-EQ", "SBIN", InstrumentType.EQUITY, tick_size=5)
NIFTY = Instrument("99926000", Exchange.NSE, "Nifty 50", "NIFTY", InstrumentType.INDEX, tick_size=1)
INSTRUMENTS = {i.token: i for i in (SBIN, NIFTY)}
START_NS = 1_763_700_000_000_000_000

E = TypeVar("E", bound=OrderEvent)


def levels(*pairs: tuple[int, int]) -> tuple[DepthLevel, ...]:
    """Depth levels from (price, qty) pairs."""
    return tuple(DepthLevel(price, qty, 1) for price, qty in pairs)


def quote(
    ltp: int,
    *,
    volume: int = 1000,
    bids: tuple[tuple[int, int], ...] = (),
    asks: tuple[tuple[int, int], ...] = (),
    low: int = 0,
    high: int = 0,
) -> Quote:
    """An SBIN quote (a SnapQuote-like snapshot)."""
    return Quote(
        "3045",
        ltp,
        volume=volume,
        bids=levels(*bids),
        asks=levels(*asks),
        low=low,
        high=high,
        close=80000,
        upper_circuit=88000,
        lower_circuit=72000,
    )


@dataclass
class Env:
    """A PaperLiveBroker whose events feed a real OMS."""

    clock: SimClock
    broker: PaperLiveBroker
    oms: OMS
    phase: list[SessionPhase]
    events: list[OrderEvent] = field(default_factory=list)

    def apply(self, event: OrderEvent) -> None:
        self.events.append(event)
        result = self.oms.apply(event)
        assert not result.is_problem, result.message

    def order(self, coid: ClientOrderId) -> Order:
        order = self.oms.get(coid)
        assert order is not None
        return order

    def of(self, coid: ClientOrderId, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind) and e.client_order_id == coid]

    async def place(
        self,
        side: Side,
        qty: int,
        order_type: OrderType = OrderType.LIMIT,
        *,
        price: int = 0,
        trigger: int = 0,
        validity: Validity = Validity.DAY,
    ) -> ClientOrderId:
        """Place an order as TradingCore does: initialized and submitted first."""
        coid = self.oms.new_client_order_id()
        now = self.clock.now_ns()
        self.apply(
            OrderInitialized(
                client_order_id=coid, ts=now, token="3045", side=side, order_type=order_type,
                product=Product.MIS, qty=qty, validity=validity, price=price,
                trigger_price=trigger, tag=coid,
            )
        )  # fmt: skip
        self.apply(OrderSubmitted(client_order_id=coid, ts=now))
        try:
            await self.broker.place(
                PlaceRequest(coid, "3045", side, qty, order_type, Product.MIS, validity, price,
                             trigger)
            )
        except BrokerRejectedError as exc:
            self.apply(OrderRejected(client_order_id=coid, ts=now, reason=str(exc)))
            raise
        return coid


def make_env(
    *, config: FillModelConfig | None = None, id_offset: int = 1000, clock: SimClock | None = None,
    oms: OMS | None = None,
) -> Env:
    clock = clock or SimClock(START_NS)
    phase = [SessionPhase.CONTINUOUS]
    broker = PaperLiveBroker(
        INSTRUMENTS, clock=clock, config=config, rng=random.Random(7),
        phase=lambda: phase[0], id_offset=id_offset,
    )  # fmt: skip
    env = Env(clock, broker, oms or OMS(clock=clock, salt="PLT"), phase)
    broker.set_event_sink(env.apply)
    return env


@pytest.fixture
async def env() -> Env:
    e = make_env()
    await e.broker.connect()
    return e


async def test_marketable_buy_walks_the_live_depth_level_by_level(env: Env) -> None:
    env.broker.on_quote(quote(80000, bids=((79995, 50),), asks=((80005, 5), (80010, 10))))
    coid = await env.place(Side.BUY, 8, price=80010)
    order = env.order(coid)
    assert order.status is OrderStatus.FILLED
    assert order.venue_order_id == "P0000000000000001001"
    fills = env.of(coid, OrderFilled)
    assert [(f.qty, f.price) for f in fills] == [(5, 80005), (3, 80010)]
    assert order.avg_fill_price == Fraction(5 * 80005 + 3 * 80010, 8)
    assert [type(e) for e in env.events[2:]] == [OrderAccepted, OrderFilled, OrderFilled]
    assert {str(f.trade_id)[:2] for f in fills} == {"PT"}
    # The shares taken are not there for the next order on the same quote.
    again = await env.place(Side.BUY, 5, price=80005)
    assert env.order(again).status is OrderStatus.ACCEPTED
    assert env.of(again, OrderFilled) == []


async def test_market_order_fills_within_its_protection_and_rests_the_rest(env: Env) -> None:
    env.broker.on_quote(quote(80000, asks=((80005, 4), (90000, 100))))
    coid = await env.place(Side.BUY, 10, OrderType.MARKET)
    order = env.order(coid)
    assert order.filled_qty == 4  # 900.00 is beyond the 2 % protection of 816.00
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert env.broker.fill_model.limit_price(int(str(order.venue_order_id)[1:])) == 81600


async def test_resting_limit_fills_when_the_market_trades_through_it(env: Env) -> None:
    env.broker.on_quote(quote(80000, volume=1000, bids=((79995, 50),), asks=((80005, 50),)))
    coid = await env.place(Side.BUY, 10, price=79900)
    assert env.order(coid).status is OrderStatus.ACCEPTED
    env.broker.on_quote(quote(79950, volume=1100, bids=((79945, 50),), asks=((79955, 50),)))
    assert env.order(coid).filled_qty == 0  # not reached yet
    env.broker.on_quote(quote(79880, volume=1200, bids=((79875, 50),), asks=((79885, 50),)))
    order = env.order(coid)
    assert order.status is OrderStatus.FILLED
    assert [(f.qty, f.price) for f in env.of(coid, OrderFilled)] == [(10, 79900)]


async def test_modify_cancel_and_refusals_with_reasons(env: Env) -> None:
    env.broker.on_quote(quote(80000, bids=((79995, 50),), asks=((80005, 50),)))
    coid = await env.place(Side.BUY, 10, price=79900)
    venue = env.order(coid).venue_order_id
    await env.broker.modify(ModifyRequest(coid, venue, price=79950))
    (modified,) = env.of(coid, OrderModified)
    assert modified.price == 79950
    await env.broker.modify(ModifyRequest(coid, venue, price=79951))
    assert env.order(coid).price == 79950  # off-tick price refused, order unchanged
    await env.broker.cancel(coid, venue)
    assert env.order(coid).status is OrderStatus.CANCELLED
    await env.broker.cancel(coid, venue)
    (refused,) = env.of(coid, OrderCancelRejected)
    assert "already cancelled" in refused.reason


async def test_orders_are_refused_when_the_market_is_closed_or_the_token_is_not_tradable(
    env: Env,
) -> None:
    env.broker.on_quote(quote(80000, asks=((80005, 50),)))
    env.phase[0] = SessionPhase.CLOSED
    with pytest.raises(BrokerRejectedError, match="closed"):
        await env.place(Side.BUY, 1, price=80005)
    env.phase[0] = SessionPhase.CONTINUOUS
    with pytest.raises(BrokerRejectedError, match="index"):
        await env.broker.place(
            PlaceRequest(ClientOrderId("X1"), "99926000", Side.BUY, 1, OrderType.MARKET,
                         Product.MIS)
        )
    with pytest.raises(BrokerRejectedError, match="unknown token"):
        await env.broker.place(
            PlaceRequest(ClientOrderId("X2"), "424242", Side.BUY, 1, OrderType.MARKET,
                         Product.MIS)
        )
    coid = await env.place(Side.BUY, 1, price=80001)  # off tick: the model's reason
    (rejected,) = env.of(coid, OrderRejected)
    assert "not a multiple of tick" in rejected.reason


async def test_stop_loss_triggers_on_the_live_ltp_then_takes_the_bids(env: Env) -> None:
    env.broker.on_quote(quote(80000, bids=((79995, 50),), asks=((80005, 50),)))
    coid = await env.place(Side.SELL, 10, OrderType.SL_M, trigger=79900)
    assert env.order(coid).status is OrderStatus.TRIGGER_PENDING
    env.broker.on_quote(quote(79890, volume=1100, bids=((79885, 6), (79880, 50)),
                              asks=((79895, 50),)))
    order = env.order(coid)
    assert env.of(coid, OrderTriggered)
    assert order.status is OrderStatus.FILLED
    assert [(f.qty, f.price) for f in env.of(coid, OrderFilled)] == [(6, 79885), (4, 79880)]


async def test_day_orders_expire_at_the_close(env: Env) -> None:
    env.broker.on_quote(quote(80000, bids=((79995, 50),), asks=((80005, 50),)))
    coid = await env.place(Side.BUY, 10, price=79900)
    env.broker.expire_day_orders()
    assert env.order(coid).status is OrderStatus.EXPIRED
    assert env.of(coid, OrderExpired)


async def test_resume_re_enters_working_orders_under_the_same_ids() -> None:
    first = make_env(id_offset=5000)
    await first.broker.connect()
    first.broker.on_quote(quote(80000, bids=((79995, 50),), asks=((80005, 50),)))
    coid = await first.place(Side.BUY, 10, price=79900)
    venue = first.order(coid).venue_order_id
    # A restart: a new broker (another id range) and the same OMS state.
    second = make_env(id_offset=9000, clock=first.clock, oms=first.oms)
    await second.broker.connect()
    second.broker.on_quote(quote(80000, bids=((79995, 50),), asks=((80005, 50),)))
    await second.broker.resume(second.oms.open_orders())
    assert second.broker.venue_order_id_of(coid) == venue
    second.broker.on_quote(quote(79850, volume=2000, bids=((79845, 50),), asks=((79855, 50),)))
    order = second.order(coid)
    assert order.status is OrderStatus.FILLED
    assert order.avg_fill_price == 79900
    new = await second.place(Side.BUY, 1, price=79855)
    assert second.order(new).venue_order_id == "P0000000000000009001"


@st.composite
def scenario(draw: st.DrawFn) -> list[tuple[str, int, int, int]]:
    """Steps: ('quote', mid, volume step, depth qty) or ('order', side, qty, price offset)."""
    steps: list[tuple[str, int, int, int]] = []
    for _ in range(draw(st.integers(1, 25))):
        if draw(st.booleans()):
            steps.append(("quote", draw(st.integers(-40, 40)), draw(st.integers(0, 50)),
                          draw(st.integers(1, 30))))
        else:
            steps.append(("order", draw(st.integers(0, 1)), draw(st.integers(1, 40)),
                          draw(st.integers(-6, 6))))
    return steps


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
async def test_fills_never_exceed_the_order_and_respect_the_limit(
    steps: list[tuple[str, int, int, int]],
) -> None:
    env = make_env()
    await env.broker.connect()
    mid = 80000
    volume = 1000
    env.broker.on_quote(quote(mid, bids=((mid - 5, 20),), asks=((mid + 5, 20),)))
    for kind, a, b, c in steps:
        if kind == "quote":
            mid += a * 5
            volume += b
            env.broker.on_quote(
                quote(mid, volume=volume, bids=((mid - 5, c), (mid - 10, c)),
                      asks=((mid + 5, c), (mid + 10, c)))
            )
        else:
            side = Side.BUY if a else Side.SELL
            await env.place(side, b, price=mid + c * 5)
    for order in env.oms.all_orders():
        fills = env.of(order.client_order_id, OrderFilled)
        total = sum(f.qty for f in fills)
        assert total == order.filled_qty <= order.qty
        for fill in fills:
            if order.side is Side.BUY:
                assert fill.price <= order.price
            else:
                assert fill.price >= order.price
        if order.filled_qty == order.qty:
            assert order.status is OrderStatus.FILLED
    live = set(env.broker.fill_model.live_order_ids())
    for order in env.oms.all_orders():
        venue = order.venue_order_id
        assert venue is not None
        assert (int(venue[1:]) in live) == order.is_open
