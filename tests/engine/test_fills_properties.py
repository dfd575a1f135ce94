"""Property tests of the live-feed fill model over random sequences of quotes, prints and orders.

Every run starts with a quote that carries depth, and every quote carries depth (a circuit band at
least), so the bounds below hold without exception:

* quantity is conserved per order: filled + open + cancelled + expired == its (modified) total;
* a buy never fills above its working limit (its limit, or a MARKET / SL-M protection price
  computed here from the reference) and a sell never below; a resting fill is at its limit;
* taker fills on one quote never exceed the displayed size of the level they took, and fills of
  resting orders on a quote that does not trade through them never exceed what that quote shows
  (the crossing depth) plus what traded (the volume rise), less what taker fills already took;
* nothing fills, and no stop triggers, on market data that does not reach the price;
* the same seed gives the same events.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.book_events import (
    Accepted,
    BookEvent,
    Cancelled,
    Expired,
    Fill,
    Modified,
    Rejected,
    Triggered,
)
from engine.clock import SimClock
from engine.fills import MARKET_ORDER_ID, FillModelConfig, LiveFillModel
from engine.models import (
    DepthLevel,
    Exchange,
    Instrument,
    InstrumentType,
    OrderType,
    Quote,
    Side,
    TradePrint,
    Validity,
)

TICK = 5
BASE = 10_000
LOWER = 9_000
UPPER = 11_000
BPS = 200
INST = Instrument(
    token="1",
    exchange=Exchange.NSE,
    symbol="PROP-EQ",
    name="PROP",
    instrument_type=InstrumentType.EQUITY,
    lot_size=1,
    tick_size=TICK,
)
T = INST.token
PROPS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ---------------------------------------------------------------------------------------------
# Operations


@dataclass(frozen=True)
class QuoteOp:
    ltp: int
    dvol: int
    dip: int  # ticks the market went below / above the LTP since the last quote (new low/high)
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class PrintOp:
    price: int
    qty: int
    aggressor: Side


@dataclass(frozen=True)
class SubmitOp:
    side: Side
    order_type: OrderType
    qty: int
    price: int
    trigger: int
    validity: Validity


@dataclass(frozen=True)
class CancelOp:
    pick: int


@dataclass(frozen=True)
class ModifyOp:
    pick: int
    qty: int | None
    price: int | None


Op = QuoteOp | PrintOp | SubmitOp | CancelOp | ModifyOp


@dataclass(frozen=True)
class Tick:
    """The market-data op whose events are being checked, with the new low/high it made."""

    last: int  # the quote's LTP or the print's price
    quote: QuoteOp | None = None
    trade: PrintOp | None = None
    new_low: int = 0
    new_high: int = 0


@st.composite
def depth_side(draw: st.DrawFn, start: int, step: int) -> tuple[tuple[int, int], ...]:
    """Up to 5 levels from ``start`` outward (``step`` -1 for bids, +1 for asks), with gaps."""
    levels = []
    price = start
    for _ in range(draw(st.integers(0, 5))):
        levels.append((price, draw(st.integers(1, 400))))
        price += step * TICK * draw(st.integers(1, 2))
    return tuple(levels)


@st.composite
def scripts(draw: st.DrawFn) -> list[Op]:
    """A session: the first op is a quote; the market's mid walks; orders are priced near it."""
    mid = BASE
    script: list[Op] = []
    n = draw(st.integers(1, 50))
    for i in range(n):
        kind = (
            "quote"
            if i == 0
            else draw(
                st.sampled_from(
                    ["quote", "quote", "quote", "print", "submit", "submit", "cancel", "modify"]
                )
            )
        )
        near = st.sampled_from([mid + k * TICK for k in range(-5, 6)])
        if kind == "quote":
            mid += draw(st.integers(-2, 2)) * TICK
            spread = draw(st.integers(1, 3)) * TICK
            script.append(
                QuoteOp(
                    ltp=mid + draw(st.integers(-1, 2)) * TICK,
                    dvol=draw(st.sampled_from([0, 0, 1, 50, 200, 700])),
                    dip=draw(st.sampled_from([0, 0, 0, 1, 3])),
                    bids=draw(depth_side(mid, -1)),
                    asks=draw(depth_side(mid + spread, 1)),
                )
            )
        elif kind == "print":
            script.append(
                PrintOp(
                    price=draw(near),
                    qty=draw(st.integers(1, 300)),
                    aggressor=draw(st.sampled_from([Side.BUY, Side.SELL])),
                )
            )
        elif kind == "submit":
            order_type = draw(
                st.sampled_from(
                    [
                        OrderType.LIMIT,
                        OrderType.LIMIT,
                        OrderType.LIMIT,
                        OrderType.MARKET,
                        OrderType.SL,
                        OrderType.SL_M,
                    ]
                )
            )
            side = draw(st.sampled_from([Side.BUY, Side.SELL]))
            trigger = 0
            price = 0
            if order_type in (OrderType.SL, OrderType.SL_M):
                away = draw(st.integers(1, 4)) * TICK
                trigger = mid + away if side is Side.BUY else mid - away
                if order_type is OrderType.SL:
                    slack = draw(st.integers(0, 2)) * TICK
                    price = trigger + slack if side is Side.BUY else trigger - slack
            elif order_type is OrderType.LIMIT:
                price = draw(near)
            script.append(
                SubmitOp(
                    side=side,
                    order_type=order_type,
                    qty=draw(st.integers(1, 400)),
                    price=price,
                    trigger=trigger,
                    validity=draw(
                        st.sampled_from(
                            [Validity.DAY, Validity.DAY, Validity.DAY, Validity.IOC, Validity.FOK]
                        )
                    ),
                )
            )
        elif kind == "cancel":
            script.append(CancelOp(pick=draw(st.integers(0, 50))))
        else:
            script.append(
                ModifyOp(
                    pick=draw(st.integers(0, 50)),
                    qty=draw(st.none() | st.integers(1, 500)),
                    price=draw(st.none() | near),
                )
            )
    return script


# ---------------------------------------------------------------------------------------------
# A driver that feeds the model and checks every event against the bounds


def protection(ref: int, is_buy: bool) -> int:
    """MARKET protection price, computed independently of the model."""
    if is_buy:
        price = ref * (10_000 + BPS) // 10_000
        return min(price - price % TICK, UPPER)
    price = -(-ref * (10_000 - BPS) // 10_000)
    return max(-(-price // TICK) * TICK, LOWER)


@dataclass
class Tracked:
    side: Side
    order_type: OrderType
    total: int
    limit: int  # working limit; 0 while an SL-M waits
    trigger: int
    waiting: bool
    filled: int = 0
    cancelled: int = 0
    expired: int = 0


@dataclass
class Driver:
    model: LiveFillModel
    check: bool = True
    volume: int = 1_000
    low: int = BASE
    high: int = BASE
    ltp: int = BASE
    orders: dict[int, Tracked] = field(default_factory=dict)
    ids: list[int] = field(default_factory=list)
    next_id: int = 1
    log: list[BookEvent] = field(default_factory=list)
    # the current quote epoch
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    taken: dict[tuple[Side, int], int] = field(default_factory=lambda: defaultdict(int))
    taken_total: dict[Side, int] = field(default_factory=lambda: defaultdict(int))

    def run(self, op: Op, ts: int) -> None:
        if isinstance(op, QuoteOp):
            self.quote(op, ts)
        elif isinstance(op, PrintOp):
            self.trade(op, ts)
        elif isinstance(op, SubmitOp):
            oid = self.next_id
            self.next_id += 1
            events = self.model.submit(
                oid, T, op.side, op.qty, op.order_type, op.price, op.trigger, op.validity, ts
            )
            if not (len(events) == 1 and isinstance(events[0], Rejected)):
                is_buy = op.side is Side.BUY
                waiting = op.order_type in (OrderType.SL, OrderType.SL_M)
                if op.order_type is OrderType.MARKET:
                    limit = protection(self.ltp, is_buy)
                else:
                    limit = op.price
                self.orders[oid] = Tracked(
                    op.side, op.order_type, op.qty, limit, op.trigger, waiting
                )
                self.ids.append(oid)
            self.apply(events, None)
        else:
            live = self.model.live_order_ids()
            pool = live if live and op.pick % 4 else self.ids
            if not pool:
                return
            oid = pool[op.pick % len(pool)]
            if isinstance(op, CancelOp):
                self.apply(self.model.cancel(oid, ts), None)
            else:
                self.apply(self.model.modify(oid, qty=op.qty, price=op.price, ts=ts), None)

    def quote(self, op: QuoteOp, ts: int) -> None:
        new_low = 0
        new_high = 0
        if op.ltp - op.dip * TICK < self.low:
            new_low = self.low = op.ltp - op.dip * TICK
        if op.ltp + op.dip * TICK > self.high:
            new_high = self.high = op.ltp + op.dip * TICK
        self.volume += op.dvol
        self.ltp = op.ltp
        self.bids = dict(op.bids)
        self.asks = dict(op.asks)
        self.taken.clear()
        self.taken_total.clear()
        q = Quote(
            T,
            op.ltp,
            exchange_ts=ts,
            volume=self.volume,
            low=self.low,
            high=self.high,
            close=BASE,
            bids=tuple(DepthLevel(p, n, 1) for p, n in op.bids),
            asks=tuple(DepthLevel(p, n, 1) for p, n in op.asks),
            lower_circuit=LOWER,
            upper_circuit=UPPER,
        )
        self.apply(
            self.model.on_quote(q), Tick(op.ltp, quote=op, new_low=new_low, new_high=new_high)
        )

    def trade(self, op: PrintOp, ts: int) -> None:
        self.ltp = op.price
        self.low = min(self.low, op.price)
        self.high = max(self.high, op.price)
        self.volume += op.qty
        self.apply(
            self.model.on_trade(TradePrint(T, op.price, op.qty, op.aggressor, ts)),
            Tick(op.price, trade=op),
        )

    def apply(self, events: list[BookEvent], market: Tick | None) -> None:
        self.log.extend(events)
        maker_by_side: dict[Side, int] = defaultdict(int)
        at_price_by_side: dict[Side, int] = defaultdict(int)
        for ev in events:
            if isinstance(ev, Fill):
                self.on_fill(ev, market, maker_by_side, at_price_by_side)
            elif isinstance(ev, Triggered):
                order = self.orders[ev.order_id]
                assert order.waiting and market is not None, "a stop triggered without a trade"
                if order.side is Side.BUY:
                    assert max(market.last, market.new_high) >= order.trigger
                else:
                    lows = [p for p in (market.last, market.new_low) if p]
                    assert min(lows) <= order.trigger
                order.waiting = False
                if order.order_type is OrderType.SL_M:
                    order.limit = protection(self.ltp, order.side is Side.BUY)
            elif isinstance(ev, Cancelled):
                self.orders[ev.order_id].cancelled += ev.leaves_qty
            elif isinstance(ev, Expired):
                self.orders[ev.order_id].expired += ev.leaves_qty
            elif isinstance(ev, Modified):
                order = self.orders[ev.order_id]
                order.total = ev.qty
                if ev.price:
                    order.limit = ev.price
                if order.waiting:
                    order.trigger = ev.trigger
            elif isinstance(ev, Rejected | Accepted):
                pass
        if market is not None and market.quote is not None:
            for side in (Side.BUY, Side.SELL):
                shown = sum((self.asks if side is Side.BUY else self.bids).values())
                flow = market.quote.dvol
                assert maker_by_side[side] + self.taken_total[side] <= shown + flow, (
                    side,
                    maker_by_side[side],
                    self.taken_total[side],
                    shown,
                    flow,
                )
        if market is not None and market.trade is not None:
            for side in (Side.BUY, Side.SELL):
                assert at_price_by_side[side] <= market.trade.qty
        for oid, order in self.orders.items():
            leaves = self.model.leaves(oid)
            assert order.filled + leaves + order.cancelled + order.expired == order.total, (
                oid,
                order,
                leaves,
            )

    def on_fill(
        self,
        ev: Fill,
        market: Tick | None,
        maker_by_side: dict[Side, int],
        at_price_by_side: dict[Side, int],
    ) -> None:
        taker = ev.taker_id != MARKET_ORDER_ID
        oid = ev.taker_id if taker else ev.maker_id
        assert (ev.maker_id == MARKET_ORDER_ID) is taker
        order = self.orders[oid]
        is_buy = order.side is Side.BUY
        assert ev.qty > 0
        assert ev.aggressor is (order.side if taker else order.side.opposite)
        assert not order.waiting
        order.filled += ev.qty
        limit = order.limit
        assert (ev.price <= limit) if is_buy else (ev.price >= limit), (ev, order)
        assert ev.price % TICK == 0
        if not taker:
            assert ev.price == limit
            assert market is not None, "a resting order filled outside market data"
            new_low = market.new_low
            new_high = market.new_high
            op = market.quote
            if op is not None:
                best = min(self.asks, default=0) if is_buy else max(self.bids, default=0)
                if is_buy:
                    reached = (best and best <= limit) or op.ltp <= limit or 0 < new_low < limit
                    through = op.ltp < limit or 0 < new_low < limit
                else:
                    reached = (best and best >= limit) or op.ltp >= limit or new_high > limit
                    through = op.ltp > limit or new_high > limit
                assert reached, ("filled on a quote that does not reach the price", ev, op)
                if not through:
                    maker_by_side[order.side] += ev.qty
            else:
                trade = market.trade
                assert trade is not None
                assert (trade.price <= limit) if is_buy else (trade.price >= limit)
                if trade.price == limit:
                    at_price_by_side[order.side] += ev.qty
            return
        if not self.check:
            return
        # Taker fills (no slippage in the checked runs) take displayed levels only.
        levels = self.asks if is_buy else self.bids
        self.taken[(order.side, ev.price)] += ev.qty
        self.taken_total[order.side] += ev.qty
        assert self.taken[(order.side, ev.price)] <= levels.get(ev.price, 0), (ev, levels)

    def finish(self, ts: int) -> None:
        self.apply(self.model.expire_day_orders(ts), None)
        assert self.model.live_order_ids() == []
        for order in self.orders.values():
            assert order.filled + order.cancelled + order.expired == order.total


def new_model(seed: int, prob_slippage: float = 0.0) -> LiveFillModel:
    config = FillModelConfig(market_protection_bps=BPS, prob_slippage=prob_slippage)
    return LiveFillModel(config, rng=random.Random(seed), clock=SimClock(0), instruments=[INST])


def drive(model: LiveFillModel, script: list[Op], *, check: bool) -> Driver:
    driver = Driver(model, check=check)
    ts = 1
    for op in script:
        driver.run(op, ts)
        ts += 1
    driver.finish(ts)
    return driver


# ---------------------------------------------------------------------------------------------
# Properties


@PROPS
@given(script=scripts())
def test_conservation_price_bounds_liquidity_and_reach(script: list[Op]) -> None:
    drive(new_model(1), script, check=True)


@PROPS
@given(script=scripts(), seed=st.integers(0, 2**32 - 1))
def test_slippage_keeps_bounds_and_the_same_seed_gives_the_same_events(
    script: list[Op], seed: int
) -> None:
    one = drive(new_model(seed, 0.4), script, check=False)
    two = drive(new_model(seed, 0.4), script, check=False)
    assert one.log == two.log


@settings(max_examples=60, deadline=None)
@given(
    ahead=st.integers(0, 2_000),
    qty=st.integers(1, 500),
    chunks=st.lists(st.integers(1, 400), max_size=12),
)
def test_resting_bid_fills_exactly_what_trades_beyond_the_queue(
    ahead: int, qty: int, chunks: list[int]
) -> None:
    """Behind ``ahead`` shares at 100.00, volume at 100.00 fills us only past the queue."""
    m = new_model(0)
    bids = (DepthLevel(BASE, ahead, 1),) if ahead else (DepthLevel(BASE - TICK, 10, 1),)
    asks = (DepthLevel(BASE + TICK, 10, 1),)
    volume = 1_000
    m.on_quote(
        Quote(
            T, BASE, volume=volume, bids=bids, asks=asks, upper_circuit=UPPER, lower_circuit=LOWER
        )
    )
    m.submit(1, T, Side.BUY, qty, OrderType.LIMIT, BASE)
    assert m.queue_ahead(1) == ahead
    filled = 0
    traded = 0
    for chunk in chunks:
        volume += chunk
        traded += chunk
        # Our level shows a size larger than any queue, so the display never caps the queue.
        events = m.on_quote(
            Quote(
                T,
                BASE,
                volume=volume,
                asks=asks,
                upper_circuit=UPPER,
                lower_circuit=LOWER,
                bids=(DepthLevel(BASE, 10**6, 1),),
            )
        )
        filled += sum(e.qty for e in events if isinstance(e, Fill))
        assert filled == min(qty, max(0, traded - ahead))
