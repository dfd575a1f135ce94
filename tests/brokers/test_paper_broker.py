"""The paper broker on the real simulated market: events, fills, modify/cancel, resume, ids.

Every test drives a real :class:`SimulatedMarket` (real books, real synthetic flow) and feeds the
broker's events into a real :class:`OMS`, the way the core does, so an event the order state
machine would refuse shows up as a problem.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Coroutine
from datetime import date
from datetime import time as dtime
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brokers.paper import PaperBroker
from brokers.paper_ids import (
    MAX_BOOK_ID,
    PaperIdAllocator,
    book_id_of,
    default_id_offset,
    trade_id,
    trade_seq_of,
    venue_order_id,
)
from engine.book_events import BookConfig, MarketRemainder
from engine.broker import BrokerError, BrokerRejectedError, ModifyRequest, PlaceRequest
from engine.clock import NS_PER_MS, NS_PER_SECOND, SimClock, ist_ns
from engine.models import (
    ClientOrderId,
    Exchange,
    Instrument,
    InstrumentType,
    OrderStatus,
    OrderType,
    Product,
    Side,
    TradePrint,
    Validity,
    VenueOrderId,
)
from engine.oms import OMS
from engine.orders import (
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderCancelRejected,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderModified,
    OrderModifyRejected,
    OrderPendingCancel,
    OrderPendingModify,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    map_broker_status,
)
from engine.sim_config import SessionMode, SimulatorConfig
from engine.simulator import SimulatedMarket

T = TypeVar("T")

MONDAY = date(2026, 3, 2)
TICK = 5
AAA = Instrument("1001", Exchange.NSE, "AAA-EQ", "AAA", InstrumentType.EQUITY, tick_size=TICK)
BBB = Instrument("1002", Exchange.NSE, "BBB-EQ", "BBB", InstrumentType.EQUITY, tick_size=TICK)
FUT = Instrument(
    "2001", Exchange.NFO, "AAA26MARFUT", "AAA", InstrumentType.FUTSTK, lot_size=50, tick_size=10
)
IDX = Instrument("9001", Exchange.NSE, "IDX 2", "IDX", InstrumentType.INDEX, tick_size=1)
PRICES = {AAA.token: 100_000, BBB.token: 50_000, FUT.token: 100_200, IDX.token: 2_000_000}


def at(hh: int, mm: int, ss: int = 0) -> int:
    """Timestamp of an IST wall time on the test Monday."""
    return ist_ns(MONDAY, dtime(hh, mm, ss))


def make_market(
    *,
    seed: int = 11,
    start: int | None = None,
    prices: dict[str, int] | None = None,
    **cfg: Any,
) -> SimulatedMarket:
    """A small market (two equities, a future, an index) on a SimClock (default 10:00 IST)."""
    config = SimulatorConfig(**cfg)
    clock = SimClock(at(10, 0) if start is None else start)
    return SimulatedMarket(
        [AAA, BBB, FUT, IDX], {**PRICES, **(prices or {})}, seed=seed, config=config, clock=clock
    )


def now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a paper-broker coroutine to completion; it must never suspend (it is synchronous)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("the paper broker suspended; it should answer synchronously")


class Desk:
    """What the core does around the broker: OMS bookkeeping before each call, every event
    applied to the OMS. ``problems`` collects events the order state machine refused."""

    def __init__(self, broker: PaperBroker, *, connect: bool = True) -> None:
        self.broker = broker
        self.market = broker.market
        self.oms = OMS(clock=self.market.clock, salt="TST")
        self.events: list[OrderEvent] = []
        self.problems: list[str] = []
        broker.set_event_sink(self.sink)
        if connect:
            now(broker.connect())

    def sink(self, event: OrderEvent) -> None:
        self.events.append(event)
        result = self.oms.apply(event)
        if result.is_problem:
            name = type(event).__name__
            self.problems.append(f"{name} {event.client_order_id}: {result.message}")

    def place(
        self,
        cid: str,
        side: Side,
        qty: int,
        order_type: OrderType = OrderType.LIMIT,
        *,
        token: str = AAA.token,
        validity: Validity = Validity.DAY,
        price: int = 0,
        trigger: int = 0,
        disclosed: int = 0,
    ) -> ClientOrderId:
        coid = ClientOrderId(cid)
        ts = self.market.now_ns
        self.oms.apply(
            OrderInitialized(
                client_order_id=coid,
                ts=ts,
                token=token,
                side=side,
                order_type=order_type,
                product=Product.MIS,
                qty=qty,
                validity=validity,
                price=price,
                trigger_price=trigger,
                disclosed_qty=disclosed,
            )
        )
        self.oms.apply(OrderSubmitted(client_order_id=coid, ts=ts))
        request = PlaceRequest(
            coid,
            token,
            side,
            qty,
            order_type,
            Product.MIS,
            validity=validity,
            price=price,
            trigger_price=trigger,
            disclosed_qty=disclosed,
        )
        now(self.broker.place(request))
        return coid

    def modify(
        self,
        cid: ClientOrderId,
        *,
        qty: int | None = None,
        price: int | None = None,
        trigger: int | None = None,
    ) -> None:
        self.oms.apply(OrderPendingModify(client_order_id=cid, ts=self.market.now_ns))
        order = self.order(cid)
        now(self.broker.modify(ModifyRequest(cid, order.venue_order_id, qty, price, trigger)))

    def cancel(self, cid: ClientOrderId) -> None:
        self.oms.apply(OrderPendingCancel(client_order_id=cid, ts=self.market.now_ns))
        now(self.broker.cancel(cid, self.order(cid).venue_order_id))

    def order(self, cid: ClientOrderId) -> Order:
        order = self.oms.get(cid)
        assert order is not None
        return order

    def of(self, cid: ClientOrderId) -> list[OrderEvent]:
        return [e for e in self.events if e.client_order_id == cid]

    def kinds(self, cid: ClientOrderId) -> list[str]:
        return [type(e).__name__ for e in self.of(cid)]

    def fills(self, cid: ClientOrderId | None = None) -> list[OrderFilled]:
        return [
            e
            for e in self.events
            if isinstance(e, OrderFilled) and (cid is None or e.client_order_id == cid)
        ]

    def step_until(self, done: Any, seconds: float = 120.0, step_ms: int = 100) -> None:
        """Step the market until ``done()`` is true (fail after ``seconds`` of simulated time)."""
        for _ in range(int(seconds * 1000 / step_ms)):
            if done():
                return
            self.market.step(step_ms * NS_PER_MS)
        assert done(), f"not done after {seconds} simulated seconds"


@pytest.fixture
def desk() -> Desk:
    return Desk(PaperBroker(make_market(), id_offset=0))


def book_of(desk: Desk, token: str = AAA.token) -> Any:
    return desk.market.books[token]


def book_id(desk: Desk, cid: ClientOrderId) -> int:
    venue = desk.broker.venue_order_id_of(cid)
    assert venue is not None
    return book_id_of(venue)


# ------------------------------------------------------------------------------------ place


def test_marketable_limit_is_accepted_then_filled_across_levels(desk: Desk) -> None:
    _, asks = book_of(desk).depth(10)
    qty = asks[0].qty + 10
    cid = desk.place("buy1", Side.BUY, qty, price=asks[1].price)
    events = desk.of(cid)
    assert isinstance(events[0], OrderAccepted)
    assert events[0].venue_order_id == VenueOrderId("P0000000000000000001")
    assert all(isinstance(e, OrderFilled) for e in events[1:])
    by_price: Counter[int] = Counter()
    for fill in desk.fills(cid):
        by_price[fill.price] += fill.qty
        assert fill.venue_order_id == events[0].venue_order_id
        assert fill.ts == desk.market.now_ns
    assert by_price == {asks[0].price: asks[0].qty, asks[1].price: 10}
    order = desk.order(cid)
    assert order.status is OrderStatus.FILLED
    assert order.filled_value == asks[0].price * asks[0].qty + asks[1].price * 10
    assert desk.problems == []


def test_resting_limit_is_filled_later_by_synthetic_flow(desk: Desk) -> None:
    book = book_of(desk)
    price = book.best_bid + TICK  # inside the spread: first in the queue
    assert price < book.best_ask
    placed_at = desk.market.now_ns
    cid = desk.place("bid", Side.BUY, 5, price=price)
    assert desk.kinds(cid) == ["OrderAccepted"]
    assert desk.order(cid).status is OrderStatus.ACCEPTED
    desk.step_until(lambda: desk.order(cid).status is OrderStatus.FILLED)
    fills = desk.fills(cid)
    assert sum(f.qty for f in fills) == 5
    assert all(f.price == price and f.ts > placed_at for f in fills)
    (snap,) = now(desk.broker.order_snapshots())
    assert (snap.status_text, snap.filled_qty, snap.avg_price) == ("complete", 5, price)
    assert snap.tag == cid and snap.venue_order_id == desk.order(cid).venue_order_id
    assert desk.problems == []


def test_partial_fill_rests_the_remainder(desk: Desk) -> None:
    book = book_of(desk)
    best = book.depth(1)[1][0]
    cid = desk.place("part", Side.BUY, best.qty + 50, price=best.price)
    assert desk.kinds(cid)[0] == "OrderAccepted"
    assert sum(f.qty for f in desk.fills(cid)) == best.qty
    order = desk.order(cid)
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.leaves_qty == 50
    assert book.leaves(book_id(desk, cid)) == 50
    assert book.best_bid == best.price
    (snap,) = now(desk.broker.order_snapshots())
    assert (snap.status_text, snap.qty, snap.filled_qty) == ("open", best.qty + 50, best.qty)
    assert map_broker_status(snap.status_text) is OrderStatus.ACCEPTED
    assert desk.problems == []


def test_ioc_remainder_is_cancelled(desk: Desk) -> None:
    best = book_of(desk).depth(1)[1][0]
    cid = desk.place("ioc", Side.BUY, best.qty + 7, validity=Validity.IOC, price=best.price)
    events = desk.of(cid)
    assert type(events[0]) is OrderAccepted and type(events[-1]) is OrderCancelled
    assert events[-1].reason == "IOC: unfilled remainder cancelled"
    order = desk.order(cid)
    assert (order.status, order.filled_qty) == (OrderStatus.CANCELLED, best.qty)
    # Nothing available at the limit: accepted, then cancelled whole.
    miss = desk.place("ioc2", Side.BUY, 10, validity=Validity.IOC, price=best.price - 10 * TICK)
    assert desk.kinds(miss) == ["OrderAccepted", "OrderCancelled"]
    assert desk.order(miss).filled_qty == 0
    assert desk.problems == []


def test_fok_that_cannot_fill_is_cancelled_untouched(desk: Desk) -> None:
    best = book_of(desk).depth(1)[1][0]
    cid = desk.place("fok", Side.BUY, best.qty + 1, validity=Validity.FOK, price=best.price)
    assert desk.kinds(cid) == ["OrderAccepted", "OrderCancelled"]
    cancelled = desk.of(cid)[-1]
    assert isinstance(cancelled, OrderCancelled) and cancelled.reason.startswith("FOK: only")
    assert desk.problems == []


def test_market_order_fills_at_the_best_price(desk: Desk) -> None:
    best = book_of(desk).depth(1)[1][0]
    cid = desk.place("mkt", Side.BUY, 20, OrderType.MARKET)
    assert desk.kinds(cid) == ["OrderAccepted", "OrderFilled"]
    assert desk.fills(cid)[0].price == best.price
    assert desk.order(cid).status is OrderStatus.FILLED


def test_market_remainder_rests_by_default_and_is_cancelled_when_configured() -> None:
    resting = Desk(PaperBroker(make_market(), id_offset=0))
    cid = resting.place("big", Side.BUY, 20_000, OrderType.MARKET)
    assert resting.kinds(cid)[0] == "OrderAccepted"
    assert resting.order(cid).status is OrderStatus.PARTIALLY_FILLED
    assert book_of(resting).leaves(book_id(resting, cid)) > 0
    config = BookConfig(market_remainder=MarketRemainder.CANCEL)
    cancelling = Desk(PaperBroker(make_market(book_config=config), id_offset=0))
    cid = cancelling.place("big", Side.BUY, 20_000, OrderType.MARKET)
    last = cancelling.of(cid)[-1]
    assert isinstance(last, OrderCancelled)
    assert last.reason == "MARKET: remainder beyond the protection price cancelled"
    assert cancelling.order(cid).status is OrderStatus.CANCELLED
    assert 0 < cancelling.order(cid).filled_qty < 20_000
    assert resting.problems == [] and cancelling.problems == []


def test_iceberg_shows_only_the_disclosed_qty(desk: Desk) -> None:
    book = book_of(desk)
    price = book.best_bid - 20 * TICK
    cid = desk.place("ice", Side.BUY, 100, price=price, disclosed=10)
    assert desk.kinds(cid) == ["OrderAccepted"]
    bids, _ = book.depth(100)
    assert [lv.qty for lv in bids if lv.price == price] == [10]
    (snap,) = now(desk.broker.order_snapshots())
    assert (snap.disclosed_qty, snap.qty) == (10, 100)


# ------------------------------------------------------------------------------------ rejections


def test_book_rules_become_rejections_with_the_books_reason(desk: Desk) -> None:
    tick = desk.place("tick", Side.BUY, 10, price=100_003)
    lot = desk.place("lot", Side.BUY, 10, token=FUT.token, price=100_200)
    band = desk.place("band", Side.BUY, 10, price=200_000)
    for cid in (tick, lot, band):
        assert desk.kinds(cid) == ["OrderRejected"]
        assert desk.order(cid).status is OrderStatus.REJECTED
    reasons = {
        cid: e.reason
        for e in desk.events
        if isinstance(e, OrderRejected)
        for cid in [e.client_order_id]
    }
    assert reasons[tick] == "price 1000.03 is not a multiple of tick 0.05"
    assert "lot" in reasons[lot] and "50" in reasons[lot]
    assert "band" in reasons[band]
    snaps = {s.tag: s for s in now(desk.broker.order_snapshots())}
    assert snaps[tick].status_text == "rejected" and snaps[tick].reason == reasons[tick]
    assert desk.problems == []


def test_refused_before_the_book_raises_and_reports_nothing(desk: Desk) -> None:
    with pytest.raises(BrokerRejectedError, match="unknown token '4242'"):
        desk.place("x1", Side.BUY, 1, price=100_000, token="4242")
    with pytest.raises(BrokerRejectedError, match="index"):
        desk.place("x2", Side.BUY, 1, price=100_000, token=IDX.token)
    desk.place("dup", Side.BUY, 1, price=90_000)
    with pytest.raises(BrokerRejectedError, match="already placed"):
        now(
            desk.broker.place(
                PlaceRequest(
                    ClientOrderId("dup"),
                    AAA.token,
                    Side.BUY,
                    1,
                    OrderType.LIMIT,
                    Product.MIS,
                    price=90_000,
                )
            )
        )
    assert [e.client_order_id for e in desk.events] == ["dup"]
    assert [s.tag for s in now(desk.broker.order_snapshots())] == ["dup"]


def test_closed_market_raises_with_the_hours() -> None:
    desk = Desk(PaperBroker(make_market(mode=SessionMode.REAL, start=at(16, 30)), id_offset=0))
    with pytest.raises(BrokerRejectedError, match=r"closed .*09:15-15:30 IST"):
        desk.place("late", Side.BUY, 1, price=100_000)
    assert desk.events == []


def test_not_connected_and_no_sink_are_refused() -> None:
    broker = PaperBroker(make_market(), id_offset=0)
    with pytest.raises(BrokerError, match="set_event_sink"):
        now(broker.connect())
    desk = Desk(broker, connect=False)
    with pytest.raises(BrokerRejectedError, match="not connected"):
        desk.place("a", Side.BUY, 1, price=100_000)
    with pytest.raises(ValueError, match=r"0\.\.999"):
        PaperBroker(make_market(), account=1000)


def test_pre_open_takes_day_limits_and_rejects_ioc() -> None:
    desk = Desk(PaperBroker(make_market(mode=SessionMode.REAL, start=at(9, 2)), id_offset=0))
    ok = desk.place("pre", Side.BUY, 5, price=99_000)
    ioc = desk.place("preioc", Side.BUY, 5, validity=Validity.IOC, price=99_000)
    assert desk.kinds(ok) == ["OrderAccepted"]
    assert desk.kinds(ioc) == ["OrderRejected"]
    rejected = desk.of(ioc)[0]
    assert isinstance(rejected, OrderRejected) and "pre-open" in rejected.reason


# ------------------------------------------------------------------------------------ stops


def test_stop_triggered_by_own_trade_reports_in_order(desk: Desk) -> None:
    best = book_of(desk).depth(1)[1][0]
    stop = desk.place("stop", Side.BUY, 5, OrderType.SL_M, trigger=best.price)
    assert desk.kinds(stop) == ["OrderAccepted"]
    assert desk.order(stop).status is OrderStatus.TRIGGER_PENDING
    (snap,) = now(desk.broker.order_snapshots())
    assert snap.status_text == "trigger pending"
    desk.events.clear()
    taker = desk.place("taker", Side.BUY, 5, price=best.price)
    sequence = [(type(e).__name__, e.client_order_id) for e in desk.events]
    assert sequence[:3] == [
        ("OrderAccepted", taker),
        ("OrderFilled", taker),
        ("OrderTriggered", stop),
    ]
    assert sequence[3:] and all(s == ("OrderFilled", stop) for s in sequence[3:])
    assert desk.order(stop).status is OrderStatus.FILLED
    assert desk.problems == []


def test_stop_triggered_by_synthetic_flow(desk: Desk) -> None:
    bid = book_of(desk).best_bid
    stop = desk.place("sl", Side.SELL, 5, OrderType.SL, price=bid - 2 * TICK, trigger=bid)
    assert desk.kinds(stop) == ["OrderAccepted"]
    desk.step_until(lambda: desk.order(stop).status is OrderStatus.FILLED)
    kinds = desk.kinds(stop)
    assert kinds[:2] == ["OrderAccepted", "OrderTriggered"] and kinds[-1] == "OrderFilled"
    assert all(f.price >= bid - 2 * TICK for f in desk.fills(stop))
    assert desk.problems == []


# ------------------------------------------------------------------------------------ modify


def test_modify_qty_and_price_then_marketable(desk: Desk) -> None:
    book = book_of(desk)
    price = book.best_bid - 10 * TICK
    cid = desk.place("mod", Side.BUY, 10, price=price)
    desk.modify(cid, qty=20)
    event = desk.of(cid)[-1]
    assert isinstance(event, OrderModified) and event.qty == 20 and event.price == price
    assert book.leaves(book_id(desk, cid)) == 20
    desk.modify(cid, price=price + TICK)
    event = desk.of(cid)[-1]
    assert isinstance(event, OrderModified) and (event.qty, event.price) == (20, price + TICK)
    assert (desk.order(cid).qty, desk.order(cid).price) == (20, price + TICK)
    assert desk.order(cid).status is OrderStatus.ACCEPTED
    desk.modify(cid, price=price + 1)
    refused = desk.of(cid)[-1]
    assert isinstance(refused, OrderModifyRejected) and "tick" in refused.reason
    assert desk.order(cid).price == price + TICK
    best = book.depth(1)[1][0]
    assert best.qty >= 20
    desk.modify(cid, price=best.price)
    assert desk.kinds(cid)[-2:] == ["OrderModified", "OrderFilled"]
    assert desk.order(cid).status is OrderStatus.FILLED
    now(desk.broker.modify(ModifyRequest(cid, None, price=best.price - TICK)))
    late = desk.of(cid)[-1]
    assert isinstance(late, OrderModifyRejected)
    assert "already complete (20 of 20 filled)" in late.reason
    assert desk.problems == []


def test_modify_qty_cannot_go_below_filled(desk: Desk) -> None:
    best = book_of(desk).depth(1)[1][0]
    cid = desk.place("part", Side.BUY, best.qty + 50, price=best.price)
    desk.modify(cid, qty=best.qty)
    refused = desk.of(cid)[-1]
    assert isinstance(refused, OrderModifyRejected)
    assert refused.reason == (
        f"new qty {best.qty} must exceed the {best.qty} already filled; cancel the order instead"
    )
    desk.modify(cid, qty=best.qty + 10)
    assert book_of(desk).leaves(book_id(desk, cid)) == 10
    assert desk.order(cid).status is OrderStatus.PARTIALLY_FILLED
    assert desk.problems == []


def test_modify_price_of_a_market_order_is_refused(desk: Desk) -> None:
    cid = desk.place("bigmkt", Side.BUY, 20_000, OrderType.MARKET)
    assert desk.order(cid).status is OrderStatus.PARTIALLY_FILLED
    desk.modify(cid, price=100_000)
    refused = desk.of(cid)[-1]
    assert isinstance(refused, OrderModifyRejected)
    assert refused.reason == (
        "order P0000000000000000001 is MARKET and has no limit price to modify; cancel it and "
        "place a LIMIT or SL order instead"
    )
    assert desk.order(cid).status is OrderStatus.PARTIALLY_FILLED
    assert desk.problems == []


def test_modify_stop_trigger(desk: Desk) -> None:
    bid = book_of(desk).best_bid
    cid = desk.place("slm", Side.SELL, 5, OrderType.SL_M, trigger=bid - 40 * TICK)
    desk.modify(cid, trigger=bid - 30 * TICK)
    event = desk.of(cid)[-1]
    assert isinstance(event, OrderModified)
    assert (event.trigger_price, event.price) == (bid - 30 * TICK, None)
    assert desk.order(cid).trigger_price == bid - 30 * TICK
    assert desk.order(cid).status is OrderStatus.TRIGGER_PENDING
    desk.modify(cid, price=bid)
    refused = desk.of(cid)[-1]
    assert isinstance(refused, OrderModifyRejected)
    assert "SL-M" in refused.reason and "P0000000000000000001" in refused.reason
    assert desk.problems == []


def test_cancel_then_cancel_again_and_unknown(desk: Desk) -> None:
    book = book_of(desk)
    cid = desk.place("c", Side.SELL, 10, price=book.best_ask + 10 * TICK)
    desk.cancel(cid)
    assert desk.kinds(cid) == ["OrderAccepted", "OrderCancelled"]
    assert desk.of(cid)[-1] == OrderCancelled(
        client_order_id=cid, ts=desk.market.now_ns, reason="cancelled on request"
    )
    assert not book.is_live(book_id(desk, cid))
    assert desk.order(cid).status is OrderStatus.CANCELLED
    now(desk.broker.cancel(cid, desk.order(cid).venue_order_id))
    again = desk.of(cid)[-1]
    assert isinstance(again, OrderCancelRejected)
    assert again.reason == (
        "cannot cancel order P0000000000000000001: it is already cancelled (cancelled on request)"
    )
    now(desk.broker.cancel(ClientOrderId("ghost"), None))
    ghost = desk.events[-1]
    assert isinstance(ghost, OrderCancelRejected) and "has no such order" in ghost.reason
    now(desk.broker.cancel(ClientOrderId("ghost"), VenueOrderId("X17")))
    ghost = desk.events[-1]
    assert isinstance(ghost, OrderCancelRejected) and "not a paper order id" in ghost.reason
    now(desk.broker.cancel(cid, VenueOrderId("P0000000000000000009")))
    clash = desk.events[-1]
    assert isinstance(clash, OrderCancelRejected) and "does not match" in clash.reason


def test_cancel_by_venue_id_alone(desk: Desk) -> None:
    cid = desk.place("v", Side.BUY, 10, price=book_of(desk).best_bid - 10 * TICK)
    venue = desk.order(cid).venue_order_id
    desk.oms.apply(OrderPendingCancel(client_order_id=cid, ts=desk.market.now_ns))
    now(desk.broker.cancel(ClientOrderId("other-name"), venue))
    # The event names the broker's client order id for that venue order.
    assert desk.kinds(cid)[-1] == "OrderCancelled"


# ------------------------------------------------------------------------------------ session end


def test_day_orders_expire_at_the_close_and_events_wait_while_closed() -> None:
    desk = Desk(PaperBroker(make_market(mode=SessionMode.REAL, start=at(15, 29)), id_offset=0))
    book = book_of(desk)
    cid = desk.place("eod", Side.BUY, 10, price=book.best_bid - 10 * TICK)
    stop = desk.place("eodstop", Side.SELL, 10, OrderType.SL_M, trigger=book.best_bid - 50 * TICK)
    now(desk.broker.close())
    now(desk.broker.close())  # twice is fine
    desk.market.fast_forward(at(15, 31))
    assert desk.kinds(cid) == ["OrderAccepted"]  # held while closed
    now(desk.broker.connect())
    assert desk.kinds(cid) == ["OrderAccepted", "OrderExpired"]
    assert desk.kinds(stop) == ["OrderAccepted", "OrderExpired"]
    expired = desk.of(cid)[-1]
    assert isinstance(expired, OrderExpired)
    assert expired.ts == at(15, 30)
    assert expired.reason == "DAY order expired at the end of the session with 10 unfilled"
    assert desk.order(cid).status is OrderStatus.EXPIRED
    snaps = {s.tag: s for s in now(desk.broker.order_snapshots())}
    assert snaps[cid].status_text == "cancelled" and "expired" in snaps[cid].reason
    now(desk.broker.cancel(cid, None))
    late = desk.events[-1]
    assert isinstance(late, OrderCancelRejected)
    assert late.reason.endswith("it is already expired at the end of the session")
    assert desk.problems == []


def test_cancel_while_the_auction_matches_is_refused_with_the_phase() -> None:
    desk = Desk(PaperBroker(make_market(mode=SessionMode.REAL, start=at(9, 7, 50)), id_offset=0))
    cid = desk.place("auc", Side.BUY, 5, price=95_000)
    desk.market.fast_forward(at(9, 8, 30))
    desk.cancel(cid)
    refused = desk.of(cid)[-1]
    assert isinstance(refused, OrderCancelRejected) and "PRE_OPEN_MATCH" in refused.reason
    assert desk.order(cid).status is OrderStatus.ACCEPTED
    desk.market.fast_forward(at(9, 15, 1))
    desk.cancel(cid)
    assert desk.kinds(cid) == ["OrderAccepted", "OrderCancelRejected", "OrderCancelled"]
    assert desk.problems == []


# ------------------------------------------------------------------------------------ ids


def test_trade_ids_are_unique_across_instruments_where_book_trade_ids_repeat(desk: Desk) -> None:
    for token in (AAA.token, BBB.token):
        best = desk.market.books[token].depth(1)[1][0]
        desk.place(f"t{token}", Side.BUY, best.qty + 1, token=token, price=best.price + TICK)
    prints = [e for e in desk.market.step(1) if isinstance(e, TradePrint)]
    book_ids = Counter((p.trade_id) for p in prints)
    assert any(n > 1 for n in book_ids.values())  # each book numbers its trades from 1
    trades = [f.trade_id for f in desk.fills()]
    assert len(trades) >= 4 and len(set(trades)) == len(trades)
    assert all(trade_seq_of(t) is not None for t in trades)


def test_id_helpers_round_trip_and_refuse_foreign_ids() -> None:
    assert venue_order_id(42) == "P0000000000000000042"
    assert book_id_of(venue_order_id(MAX_BOOK_ID)) == MAX_BOOK_ID
    assert trade_seq_of(trade_id(7)) == 7 and trade_seq_of("T7") is None
    for bad in ("201020000000080", "P", "Pabc", "P0", venue_order_id(MAX_BOOK_ID + 1)):
        with pytest.raises(ValueError, match="paper"):
            book_id_of(bad)
    assert default_id_offset(1_772_425_800_123_456_789) == 1_772_425_800_123 * 100_000
    ids = PaperIdAllocator(10)
    ids.reserve_order_ids([25, 12])
    ids.reserve_trade_ids([str(trade_id(99)), "PTx"])
    assert (ids.next_order_id(), ids.next_trade_id()) == (26, trade_id(100))
    with pytest.raises(ValueError, match="id_offset"):
        PaperIdAllocator(MAX_BOOK_ID)
    full = PaperIdAllocator(MAX_BOOK_ID - 1)
    assert full.next_order_id() == MAX_BOOK_ID
    with pytest.raises(OverflowError, match="smaller id_offset"):
        full.next_order_id()


def test_running_out_of_book_ids_refuses_the_order() -> None:
    desk = Desk(PaperBroker(make_market(), id_offset=MAX_BOOK_ID - 1))
    desk.place("last", Side.BUY, 1, price=90_000)
    assert desk.order(ClientOrderId("last")).venue_order_id == venue_order_id(MAX_BOOK_ID)
    with pytest.raises(BrokerRejectedError, match="smaller id_offset"):
        desk.place("one-too-many", Side.BUY, 1, price=90_000)


def test_default_id_offset_comes_from_the_wall_clock() -> None:
    first = PaperBroker(make_market())
    assert first.id_offset > 1_700_000_000_000 * 100_000  # ms since the epoch in 2023+
    assert first.id_offset < MAX_BOOK_ID


# ------------------------------------------------------------------------------------ resume


def test_resume_reenters_working_orders_with_stable_ids() -> None:
    before = Desk(PaperBroker(make_market(seed=5), id_offset=0))
    book = book_of(before)
    bid = book.best_bid
    best_ask = book.depth(1)[1][0]
    rest = before.place("rest", Side.BUY, 10, price=bid - 20 * TICK)
    part = before.place("part", Side.BUY, best_ask.qty + 50, price=best_ask.price)
    stop = before.place("stop", Side.SELL, 7, OrderType.SL_M, trigger=bid - 40 * TICK)
    far = before.place("far", Side.BUY, 10, price=85_000)
    ice = before.place("ice", Side.BUY, 100, price=bid - 30 * TICK, disclosed=20)
    cancelling = before.place("cancelling", Side.BUY, 10, price=bid - 25 * TICK)
    modifying = before.place("modifying", Side.BUY, 10, price=bid - 26 * TICK)
    ts = before.market.now_ns
    before.oms.apply(OrderPendingCancel(client_order_id=cancelling, ts=ts))
    before.oms.apply(OrderPendingModify(client_order_id=modifying, ts=ts))
    unsent = ClientOrderId("unsent")
    before.oms.apply(
        OrderInitialized(
            client_order_id=unsent,
            ts=ts,
            token=AAA.token,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            product=Product.MIS,
            qty=5,
            price=bid - 21 * TICK,
        )
    )
    before.oms.apply(OrderSubmitted(client_order_id=unsent, ts=ts))
    old_trades = {f.trade_id for f in before.fills()}
    assert before.problems == []
    journal = before.oms.open_orders()
    assert len(journal) == 8

    # A restart: a fresh market opening 10% higher (band 88,000-132,000: "far" is outside it)
    # and a broker whose counters start at the same offset as the old one.
    after = Desk(PaperBroker(make_market(seed=5, prices={AAA.token: 110_000}), id_offset=0))
    after.oms = before.oms
    now(after.broker.resume(journal))
    fresh = after.market.books[AAA.token]
    for cid, leaves in ((rest, 10), (part, 50), (stop, 7), (ice, 100), (modifying, 10)):
        venue = before.order(cid).venue_order_id
        assert after.broker.venue_order_id_of(cid) == venue
        assert venue is not None and fresh.leaves(book_id_of(venue)) == leaves
        assert [type(e) for e in after.of(cid)] in ([], [OrderModifyRejected])
    assert after.kinds(modifying) == ["OrderModifyRejected"]
    assert after.order(modifying).status is OrderStatus.ACCEPTED
    assert after.kinds(far) == ["OrderCancelled"]
    far_event = after.of(far)[0]
    assert isinstance(far_event, OrderCancelled)
    assert far_event.reason.startswith("not re-entered after the paper market restarted: ")
    assert "band" in far_event.reason
    assert after.kinds(cancelling) == ["OrderCancelled"]
    assert after.order(cancelling).reason == (
        "not re-entered after the paper market restarted: the cancel requested before the "
        "restart stands"
    )
    resumed = {s.tag: s.status_text for s in now(after.broker.order_snapshots())}
    assert resumed == {
        rest: "open",
        part: "open",
        stop: "trigger pending",
        far: "cancelled",
        ice: "open",
        cancelling: "cancelled",
        modifying: "open",
        unsent: "open",
    }
    assert after.kinds(unsent) == ["OrderAccepted"]
    unsent_venue = after.order(unsent).venue_order_id
    assert unsent_venue is not None and book_id_of(unsent_venue) == 8  # after the 7 old ids
    assert fresh.depth(1000)[0][0].price > bid  # the fresh book trades higher
    assert [lv.qty for lv in fresh.depth(1000)[0] if lv.price == bid - 30 * TICK] == [20]
    assert after.problems == []

    # The re-entered orders work as before under the same ids.
    after.modify(part, qty=best_ask.qty + 60)
    assert fresh.leaves(book_id_of(after.order(part).venue_order_id or "")) == 60
    modified = after.of(part)[-1]
    assert isinstance(modified, OrderModified) and modified.qty == best_ask.qty + 60
    after.cancel(rest)
    assert after.order(rest).status is OrderStatus.CANCELLED
    new = after.place("new", Side.BUY, 5, price=110_000 + 50 * TICK)
    new_venue = after.order(new).venue_order_id
    assert new_venue is not None and book_id_of(new_venue) == 9
    assert {f.trade_id for f in after.fills(new)}.isdisjoint(old_trades)
    assert after.order(new).status is OrderStatus.FILLED
    # The part order fills in the fresh market too; its old fills stay counted.
    after.modify(part, price=110_000 + 50 * TICK)
    assert after.order(part).status is OrderStatus.FILLED
    assert after.order(part).filled_qty == best_ask.qty + 60
    snaps = {s.tag: s for s in now(after.broker.order_snapshots())}
    assert snaps[part].filled_qty == best_ask.qty + 60 and snaps[part].status_text == "complete"
    assert after.problems == []
    # Resuming again changes nothing for orders that are working.
    count = len(after.events)
    now(after.broker.resume(after.oms.open_orders()))
    assert len(after.events) == count


def test_resume_when_closed_cancels_and_foreign_ids_are_refused() -> None:
    before = Desk(PaperBroker(make_market(), id_offset=0))
    cid = before.place("r", Side.BUY, 10, price=book_of(before).best_bid - 20 * TICK)
    order = before.order(cid)
    closed = Desk(PaperBroker(make_market(mode=SessionMode.REAL, start=at(18, 0)), id_offset=0))
    closed.oms = before.oms
    now(closed.broker.resume([order]))
    event = closed.events[-1]
    assert isinstance(event, OrderCancelled) and "closed" in event.reason
    assert order.status is OrderStatus.CANCELLED
    # An order whose venue id the paper broker never issued is not re-entered.
    foreign = Order(
        client_order_id=ClientOrderId("ang"),
        token=AAA.token,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        product=Product.MIS,
        qty=1,
        price=99_000,
        status=OrderStatus.ACCEPTED,
        venue_order_id=VenueOrderId("201020000000080"),
    )
    other = Desk(PaperBroker(make_market(), id_offset=0))
    now(other.broker.resume([foreign]))
    refused = other.events[-1]
    assert isinstance(refused, OrderCancelled) and "not a paper order id" in refused.reason


def test_resumed_triggered_stop_comes_back_as_the_order_it_became() -> None:
    before = Desk(PaperBroker(make_market(), id_offset=0))
    best = book_of(before).depth(1)[1][0]
    stop = before.place(
        "stop", Side.BUY, 10_000, OrderType.SL, price=best.price, trigger=best.price
    )
    before.place("taker", Side.BUY, 5, price=best.price)  # prints at the trigger
    order = before.order(stop)
    assert order.status is OrderStatus.PARTIALLY_FILLED
    # The fresh market opens 2% higher, so the re-entered limit rests.
    after = Desk(PaperBroker(make_market(prices={AAA.token: 102_000}), id_offset=0))
    after.oms = before.oms
    now(after.broker.resume([order]))
    assert after.events == []
    (snap,) = now(after.broker.order_snapshots())
    assert (snap.status_text, snap.order_type, snap.trigger_price) == (
        "open",
        OrderType.SL,
        best.price,
    )
    assert snap.filled_qty == order.filled_qty
    bids, _ = after.market.books[AAA.token].depth(1000)
    # A live limit for the rest now, not a waiting stop.
    assert [lv.qty for lv in bids if lv.price == best.price] == [10_000 - order.filled_qty]


async def test_the_protocol_methods_are_awaitable() -> None:
    broker = PaperBroker(make_market(), id_offset=0)
    got: list[OrderEvent] = []
    broker.set_event_sink(got.append)
    await broker.connect()
    assert (broker.name, broker.is_live, broker.connected) == ("paper", False, True)
    best = broker.market.books[AAA.token].depth(1)[1][0]
    await broker.place(
        PlaceRequest(
            ClientOrderId("aw"),
            AAA.token,
            Side.BUY,
            1,
            OrderType.LIMIT,
            Product.CNC,
            price=best.price,
        )
    )
    assert [type(e) for e in got] == [OrderAccepted, OrderFilled]
    await broker.close()
    assert not broker.connected


# ------------------------------------------------------------------------------------ properties


_op = st.one_of(
    st.tuples(
        st.just("place"),
        st.sampled_from([OrderType.LIMIT, OrderType.MARKET, OrderType.SL, OrderType.SL_M]),
        st.sampled_from([Validity.DAY, Validity.DAY, Validity.IOC]),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(-6, 6),
        st.integers(1, 700),
    ),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("modify"), st.integers(0, 50), st.integers(-4, 4), st.integers(1, 400)),
    st.tuples(st.just("step"), st.integers(1, 30)),
)

_TERMINAL_EVENTS = (OrderRejected, OrderCancelled, OrderExpired)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), ops=st.lists(_op, min_size=1, max_size=25))
def test_random_sessions_keep_the_event_invariants(seed: int, ops: list[tuple[Any, ...]]) -> None:
    desk = Desk(PaperBroker(make_market(seed=seed), id_offset=1000))
    book = book_of(desk)
    placed: list[ClientOrderId] = []
    for op in ops:
        if op[0] == "place":
            _, kind, validity, side, offset, qty = op
            mid = (book.best_bid + book.best_ask) // 2 or 100_000
            level = mid - mid % TICK + offset * TICK
            price = level if kind in (OrderType.LIMIT, OrderType.SL) else 0
            trigger = 0
            if kind in (OrderType.SL, OrderType.SL_M):
                trigger = level + (-TICK if side is Side.BUY else TICK)
            placed.append(
                desk.place(
                    f"o{len(placed)}",
                    side,
                    qty,
                    kind,
                    validity=validity,
                    price=price,
                    trigger=trigger,
                )
            )
        elif op[0] == "cancel" and placed:
            cid = placed[op[1] % len(placed)]
            if desk.order(cid).is_open and not desk.order(cid).in_flight:
                desk.cancel(cid)
        elif op[0] == "modify" and placed:
            cid = placed[op[1] % len(placed)]
            order = desk.order(cid)
            if order.is_open and not order.in_flight:
                if order.order_type is OrderType.LIMIT:
                    desk.modify(cid, price=order.price + op[2] * TICK)
                else:
                    desk.modify(cid, qty=order.filled_qty + op[3])
        elif op[0] == "step":
            desk.market.step(op[1] * 100 * NS_PER_MS)

    assert desk.problems == []
    trades = [f.trade_id for f in desk.fills()]
    assert len(set(trades)) == len(trades)
    snaps = {s.tag: s for s in now(desk.broker.order_snapshots())}
    for cid in placed:
        events = desk.of(cid)
        first = events[0]
        assert isinstance(first, OrderAccepted | OrderRejected)
        assert sum(isinstance(e, OrderAccepted) for e in events) == int(
            isinstance(first, OrderAccepted)
        )
        finished = False
        for e in events:
            assert not finished or isinstance(e, OrderCancelRejected | OrderModifyRejected)
            finished = finished or isinstance(e, _TERMINAL_EVENTS)
        order = desk.order(cid)
        assert not any(isinstance(e, OrderTriggered) for e in events) or order.order_type in (
            OrderType.SL,
            OrderType.SL_M,
        )
        assert sum(f.qty for f in desk.fills(cid)) == order.filled_qty <= order.qty
        snap = snaps[cid]
        assert (snap.filled_qty, snap.qty) == (order.filled_qty, order.qty)
        mapped = map_broker_status(snap.status_text)
        if order.status is OrderStatus.EXPIRED:
            assert mapped is OrderStatus.CANCELLED
        elif order.status is OrderStatus.PARTIALLY_FILLED:
            assert mapped is OrderStatus.ACCEPTED
        else:
            assert mapped is order.status
        venue = order.venue_order_id
        live = venue is not None and book.is_live(book_id_of(venue))
        assert live == order.is_open
        if live and venue is not None:
            assert book.leaves(book_id_of(venue)) == order.leaves_qty
        if order.filled_qty:
            assert snap.avg_price == order.avg_fill_price


def test_a_long_session_keeps_sequence_and_timestamps_monotone() -> None:
    desk = Desk(PaperBroker(make_market(seed=3), id_offset=0))
    book = book_of(desk)
    for i in range(6):
        side = Side.BUY if i % 2 else Side.SELL
        price = book.best_bid + TICK if side is Side.BUY else book.best_ask - TICK
        desk.place(f"p{i}", side, 20 + i, price=price)
        desk.market.step(5 * NS_PER_SECOND)
    desk.step_until(lambda: all(not o.is_open for o in desk.oms.all_orders()), seconds=300)
    stamps = [e.ts for e in desk.events]
    assert stamps == sorted(stamps)
    assert desk.problems == []
