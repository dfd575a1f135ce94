"""AngelOneBroker end to end: the fake REST server and the fake websockets on 127.0.0.1 (real
sockets), the real OMS as the consumer of the broker's events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brokers.angelone.auth import AngelCredentials
from brokers.angelone.broker import AngelOneBroker
from brokers.angelone.feed import ConnectionSlots, FeedMode, FeedStatus, SubscriptionError
from brokers.angelone.ratelimit import DEFAULT_LIMITS, RateLimit
from brokers.angelone.reconcile import (
    BrokerClock,
    OrderReport,
    OrderTracker,
    external_client_order_id,
    looks_like_client_order_id,
    trade_time_ns,
)
from brokers.angelone.rest import AngelRestClient
from engine.broker import (
    BrokerOutcomeUnknownError,
    BrokerRejectedError,
    ModifyRequest,
    PlaceRequest,
)
from engine.clock import NS_PER_SECOND, SimClock, WallClock, ist_midnight_ns
from engine.models import (
    ClientOrderId,
    Exchange,
    Instrument,
    InstrumentType,
    OrderStatus,
    OrderType,
    Product,
    Quote,
    Side,
    TradeId,
    Validity,
    VenueOrderId,
)
from engine.oms import EXTERNAL_STRATEGY, OMS
from engine.orders import (
    Order,
    OrderEvent,
    OrderFilled,
    OrderInitialized,
    OrderOutcomeUnknown,
    OrderPendingCancel,
    OrderPendingModify,
    OrderRejected,
    OrderSubmitted,
    OrderUpdated,
)
from engine.redaction import forget_secrets
from tests.brokers.fake_angel import FAST_SERVER_LIMITS, FakeAngelServer, FakeAngelState
from tests.brokers.fake_angel_ws import FakeAngelWs, order_frame, wait_until

SBIN = Instrument("3045", Exchange.NSE, "SBIN-EQ", "SBIN", InstrumentType.EQUITY)
RELIANCE = Instrument("2885", Exchange.NSE, "RELIANCE-EQ", "RELIANCE", InstrumentType.EQUITY)
INSTRUMENTS = {i.token: i for i in (SBIN, RELIANCE)}
FAST_LIMITS = {group: RateLimit(per_second=50) for group in DEFAULT_LIMITS}


@pytest.fixture(autouse=True)
def _forget_test_secrets() -> Iterator[None]:
    """Credentials register their values process-wide; do not mask them in other tests."""
    yield
    forget_secrets()


def socket_options(name: str) -> dict[str, Any]:
    """Fast heartbeats and reconnects, and a connection counter of our own."""
    return {
        "heartbeat_s": 0.2,
        "pong_timeout_s": 1.0,
        "base_backoff_s": 0.01,
        "max_backoff_s": 0.05,
        "close_timeout_s": 0.5,
        "slots": ConnectionSlots(name),
    }


@dataclass
class Env:
    """One cockpit session against the fakes: the broker feeds a real OMS."""

    server: FakeAngelServer
    ws: FakeAngelWs
    rest: AngelRestClient
    broker: AngelOneBroker
    oms: OMS
    events: list[OrderEvent] = field(default_factory=list)

    @property
    def state(self) -> FakeAngelState:
        return self.server.state

    def apply(self, event: OrderEvent) -> None:
        """What the core does with every event: journal (here: a list) and apply."""
        self.events.append(event)
        self.oms.apply(event)

    def order(self, coid: ClientOrderId) -> Order:
        order = self.oms.get(coid)
        assert order is not None
        return order

    def fills_of(self, coid: ClientOrderId) -> list[OrderFilled]:
        return [e for e in self.events if isinstance(e, OrderFilled) and e.client_order_id == coid]

    async def submit(
        self,
        *,
        token: str = "3045",
        side: Side = Side.BUY,
        qty: int = 10,
        order_type: OrderType = OrderType.LIMIT,
        product: Product = Product.MIS,
        price: int = 81250,
        trigger_price: int = 0,
    ) -> ClientOrderId:
        """Place an order the way TradingCore._send_new does (events first, then the broker)."""
        coid = self.oms.new_client_order_id()
        now = WallClock().now_ns()
        self.apply(
            OrderInitialized(
                client_order_id=coid,
                ts=now,
                token=token,
                side=side,
                order_type=order_type,
                product=product,
                qty=qty,
                price=price,
                trigger_price=trigger_price,
                tag=coid,
            )
        )
        self.apply(OrderSubmitted(client_order_id=coid, ts=now))
        request = PlaceRequest(
            client_order_id=coid,
            token=token,
            side=side,
            qty=qty,
            order_type=order_type,
            product=product,
            price=price,
            trigger_price=trigger_price,
            tag=coid,
        )
        try:
            await self.broker.place(request)
        except BrokerRejectedError as exc:
            self.apply(OrderRejected(client_order_id=coid, ts=now, reason=str(exc)))
            raise
        except BrokerOutcomeUnknownError as exc:
            self.apply(OrderOutcomeUnknown(client_order_id=coid, ts=now, reason=str(exc)))
            raise
        return coid


def make_rest(server: FakeAngelServer) -> AngelRestClient:
    return AngelRestClient(
        AngelCredentials(**server.credentials_values()),
        base_url=server.base_url,
        limits=FAST_LIMITS,
        timeout=0.5,
        read_attempts=2,
        retry_backoff=0.02,
        lookup_attempts=2,
        lookup_delay=0.05,
        local_ip="10.1.2.3",
        mac="02:00:5e:00:00:01",
    )


def make_broker(
    env_server: FakeAngelServer, ws: FakeAngelWs, rest: AngelRestClient, **options: Any
) -> AngelOneBroker:
    settings: dict[str, Any] = {
        "reconcile_every_s": 60.0,
        "down_reconcile_s": 60.0,
        "unknown_grace_s": 30.0,
        "fill_retry_s": 0.05,
        "stream_options": socket_options("test order stream"),
        "feed_options": socket_options("test feed"),
    }
    settings.update(options)
    return AngelOneBroker(
        rest,
        order_stream_url=ws.order_url,
        feed_url=ws.feed_url,
        instruments=INSTRUMENTS,
        clock=WallClock(),
        api_key=env_server.state.account.api_key,
        **settings,
    )


@asynccontextmanager
async def session(**options: Any) -> AsyncIterator[Env]:
    async with (
        FakeAngelServer(limits_per_second=FAST_SERVER_LIMITS) as server,
        FakeAngelWs(state=server.state) as ws,
    ):
        rest = make_rest(server)
        oms = OMS(clock=WallClock(), salt="TST")
        broker = make_broker(server, ws, rest, **options)
        env = Env(server, ws, rest, broker, oms)
        broker.set_event_sink(env.apply)
        await broker.connect()
        try:
            yield env
        finally:
            await broker.close()
            await rest.close()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with session() as e:
        yield e


async def settled(env: Env, coid: ClientOrderId, status: OrderStatus, what: str = "") -> Order:
    await wait_until(lambda: env.order(coid).status is status, what=what or f"{coid} {status}")
    return env.order(coid)


def only_order_id(state: FakeAngelState) -> str:
    assert len(state.orders) == 1, state.orders
    return next(iter(state.orders))


# ---- place ------------------------------------------------------------------------------------


async def test_place_is_accepted_with_angels_order_id(env: Env) -> None:
    coid = await env.submit(product=Product.CNC)
    order = env.order(coid)
    assert order.status is OrderStatus.ACCEPTED
    oid = only_order_id(env.state)
    assert order.venue_order_id == oid
    (call,) = env.server.calls("place_order")
    assert call.body["ordertag"] == coid
    assert call.body["variety"] == "NORMAL"
    assert call.body["producttype"] == "DELIVERY"
    assert call.body["price"] == "812.50"
    # The order stream's "open" for it changes nothing and adopts nothing.
    await wait_until(lambda: env.broker.stats().stream_updates >= 1, what="stream update")
    assert env.order(coid).status is OrderStatus.ACCEPTED
    assert [o.client_order_id for o in env.oms.all_orders()] == [coid]

    stop = await env.submit(
        side=Side.SELL, order_type=OrderType.SL, price=80000, trigger_price=80050
    )
    assert env.order(stop).status is OrderStatus.TRIGGER_PENDING
    body = env.server.calls("place_order")[1].body
    assert (body["variety"], body["ordertype"]) == ("STOPLOSS", "STOPLOSS_LIMIT")
    assert body["triggerprice"] == "800.50"


async def test_partial_then_full_fill_with_exact_average_and_no_duplicate_fills(env: Env) -> None:
    coid = await env.submit()
    oid = only_order_id(env.state)
    env.state.fill(oid, 3, Decimal("812.50"))
    order = await settled(env, coid, OrderStatus.PARTIALLY_FILLED)
    await wait_until(lambda: env.order(coid).trade_qty == 3, what="first trade fill")
    assert order.filled_qty == 3
    assert order.avg_fill_price == 81250

    env.state.fill(oid, 7, Decimal("812.55"))
    order = await settled(env, coid, OrderStatus.FILLED)
    await wait_until(lambda: env.order(coid).trade_qty == 10, what="second trade fill")
    trade_ids = {t["fillid"] for t in env.state.trades}
    assert order.trade_ids == {TradeId(t) for t in trade_ids}
    assert order.avg_fill_price == Fraction(3 * 81250 + 7 * 81255, 10)  # 81253.5 paise, exact
    assert order.filled_value == 3 * 81250 + 7 * 81255
    fills = env.fills_of(coid)
    assert sorted(f.trade_id for f in fills) == sorted(trade_ids)  # each trade reported once
    assert {(f.qty, f.price) for f in fills} == {(3, 81250), (7, 81255)}

    # A reconciliation afterwards finds nothing new to fill and changes nothing.
    before = len(env.events)
    await env.broker.reconcile_now()
    assert not [e for e in env.events[before:] if isinstance(e, OrderFilled)]
    assert env.order(coid).status is OrderStatus.FILLED
    assert env.order(coid).filled_value == 3 * 81250 + 7 * 81255
    await env.broker.reconcile_now()
    assert len(env.events) <= before + 1  # at most one reconciling report, never repeated


async def test_out_of_order_updates_complete_before_open_end_filled(env: Env) -> None:
    coid = await env.submit()
    oid = only_order_id(env.state)
    await wait_until(lambda: env.broker.stats().stream_updates >= 1, what="placement update")
    opened = dict(env.state.orders[oid])
    with env.state.unheard():
        env.state.fill(oid, 10, Decimal("812.50"))
    complete = dict(env.state.orders[oid])
    seen = env.broker.stats().stream_updates
    await env.ws.push_order(order_frame(complete))
    await env.ws.push_order(order_frame(opened))
    await wait_until(lambda: env.broker.stats().stream_updates >= seen + 2, what="both updates")
    await wait_until(lambda: env.order(coid).trade_qty == 10, what="the trade fill")
    order = env.order(coid)
    assert order.status is OrderStatus.FILLED
    assert order.filled_qty == 10
    assert order.avg_fill_price == 81250
    assert len(env.fills_of(coid)) == 1


async def test_definitive_refusal_raises_with_angels_message(env: Env) -> None:
    env.state.place_refusals["2885"] = ("AB4036", "token under exchange cautionary listing")
    with pytest.raises(BrokerRejectedError, match="cautionary listing") as refused:
        await env.submit(token="2885", price=295005)
    assert "AB4036" in str(refused.value)
    rejected = env.oms.all_orders()[0]
    assert rejected.status is OrderStatus.REJECTED
    assert "cautionary listing" in rejected.reason
    assert len(env.server.calls("place_order")) == 1
    assert env.broker.tracked(rejected.client_order_id) is None

    # A request that cannot be expressed is refused before anything is sent.
    with pytest.raises(BrokerRejectedError, match="tick grid"):
        await env.submit(price=81252)
    assert len(env.server.calls("place_order")) == 1


async def test_exchange_rejection_right_after_acceptance_is_not_taken_for_stale(env: Env) -> None:
    coid = await env.submit()
    env.state.reject(only_order_id(env.state), "RMS:Margin Exceeds,Required:8125.00")
    order = await settled(env, coid, OrderStatus.REJECTED)
    assert order.reason == "RMS:Margin Exceeds,Required:8125.00"


async def test_lost_place_answer_found_by_tag_is_accepted_not_resent(env: Env) -> None:
    env.server.fail("place_order", "stall_after", seconds=1.0)
    coid = await env.submit()
    assert len(env.server.calls("place_order")) == 1
    assert env.server.calls("order_book")  # looked up by tag
    order = env.order(coid)
    assert order.status is OrderStatus.ACCEPTED
    assert order.venue_order_id == only_order_id(env.state)
    assert not order.outcome_unknown
    assert [o.client_order_id for o in env.oms.all_orders()] == [coid]


async def test_unknown_place_stays_in_flight_until_reconciliation_finds_it(env: Env) -> None:
    env.server.fail("place_order", "http_500")
    with pytest.raises(BrokerOutcomeUnknownError, match="NOT resent"):
        await env.submit()
    (order,) = env.oms.all_orders()
    coid = order.client_order_id
    assert order.status is OrderStatus.SUBMITTED and order.outcome_unknown
    assert env.oms.needs_reconcile() == [order]
    await env.broker.reconcile_now()
    assert env.order(coid).status is OrderStatus.SUBMITTED  # not in the book (yet)
    # Angel's gateway had passed it on after all; the order stream missed it.
    (call,) = env.server.calls("place_order")
    with env.state.unheard():
        env.state.place_order(call.body)
    await env.broker.reconcile_now()
    order = env.order(coid)
    assert order.status is OrderStatus.ACCEPTED
    assert order.venue_order_id == only_order_id(env.state)
    assert not order.outcome_unknown and not env.oms.needs_reconcile()
    assert len(env.server.calls("place_order")) == 1


async def test_unknown_place_missing_from_the_book_after_the_grace_is_rejected() -> None:
    async with session(unknown_grace_s=0.2) as env:
        env.server.fail("place_order", "http_500")
        with pytest.raises(BrokerOutcomeUnknownError):
            await env.submit()
        (order,) = env.oms.all_orders()
        await asyncio.sleep(0.25)
        await env.broker.reconcile_now()
        order = env.order(order.client_order_id)
        assert order.status is OrderStatus.REJECTED
        assert "never received" in order.reason
        assert not env.state.orders


# ---- modify / cancel ----------------------------------------------------------------------


async def test_modify_and_cancel_outcomes_arrive_on_the_stream(env: Env) -> None:
    coid = await env.submit()
    venue = env.order(coid).venue_order_id
    await wait_until(lambda: env.broker.stats().stream_updates >= 1, what="placement update")
    env.apply(OrderPendingModify(client_order_id=coid, ts=WallClock().now_ns()))
    await env.broker.modify(ModifyRequest(coid, venue, qty=20, price=81300))
    (call,) = env.server.calls("modify_order")
    assert call.body["orderid"] == venue
    assert (call.body["variety"], call.body["quantity"], call.body["price"]) == (
        "NORMAL",
        "20",
        "813.00",
    )
    assert call.body["producttype"] == "INTRADAY"
    order = await settled(env, coid, OrderStatus.ACCEPTED, "modify answered")
    await wait_until(lambda: env.order(coid).qty == 20, what="new quantity")
    assert (order.qty, order.price, order.pending_action) == (20, 81300, None)

    env.apply(OrderPendingCancel(client_order_id=coid, ts=WallClock().now_ns()))
    await env.broker.cancel(coid, venue)
    await settled(env, coid, OrderStatus.CANCELLED)
    with pytest.raises(BrokerRejectedError, match="not open"):
        await env.broker.cancel(coid, venue)


async def test_lost_modify_answer_is_unknown_and_settled_by_reconciliation(env: Env) -> None:
    coid = await env.submit()
    venue = env.order(coid).venue_order_id
    await wait_until(lambda: env.broker.stats().stream_updates >= 1, what="placement update")
    env.server.fail("modify_order", "stall_after", seconds=1.0)
    env.apply(OrderPendingModify(client_order_id=coid, ts=WallClock().now_ns()))
    with env.state.unheard(), pytest.raises(BrokerOutcomeUnknownError, match="NOT resent"):
        await env.broker.modify(ModifyRequest(coid, venue, price=81200))
    env.apply(OrderOutcomeUnknown(client_order_id=coid, ts=WallClock().now_ns()))
    assert env.order(coid).outcome_unknown and env.order(coid).price == 81250
    await env.broker.reconcile_now()
    order = env.order(coid)
    assert (order.status, order.price, order.outcome_unknown) == (
        OrderStatus.ACCEPTED,
        81200,
        False,
    )
    assert order.pending_action is None
    assert len(env.server.calls("modify_order")) == 1


# ---- reconciliation -----------------------------------------------------------------------


async def test_fill_while_the_stream_is_down_is_reconciled_after_reconnect(env: Env) -> None:
    coid = await env.submit()
    oid = only_order_id(env.state)
    await wait_until(lambda: env.broker.stats().stream_updates >= 1, what="placement update")
    reconciled = env.broker.stats().reconciliations
    env.ws.refuse_next(10_000)
    env.ws.drop_orders()
    await wait_until(
        lambda: env.broker.stats().stream_status is FeedStatus.RECONNECTING, what="stream down"
    )
    env.state.fill(oid, 10, Decimal("812.60"))  # pushed to nobody: Angel does not replay it
    await asyncio.sleep(0.1)
    assert env.order(coid).status is OrderStatus.ACCEPTED
    env.ws.refuse_next(0)
    order = await settled(env, coid, OrderStatus.FILLED, "fill reconciled after reconnect")
    assert env.broker.stats().reconciliations > reconciled
    assert order.trade_ids == {TradeId(env.state.trades[0]["fillid"])}
    assert order.avg_fill_price == 81260
    state = env.broker.stream_state()
    assert state is not None and len(state.gaps) == 1


async def test_orders_placed_outside_the_cockpit_are_adopted(env: Env) -> None:
    outside = {
        "variety": "NORMAL",
        "tradingsymbol": "SBIN-EQ",
        "symboltoken": "3045",
        "transactiontype": "SELL",
        "exchange": "NSE",
        "ordertype": "LIMIT",
        "producttype": "INTRADAY",
        "duration": "DAY",
        "price": "815.00",
        "quantity": "5",
    }
    env.state.place_order(outside)  # e.g. from Angel's own app: no ordertag
    oid = only_order_id(env.state)
    ext = external_client_order_id(oid)
    await wait_until(lambda: ext in env.oms, what="adoption from the stream")
    order = await settled(env, ext, OrderStatus.ACCEPTED)
    assert order.external and order.strategy_id == EXTERNAL_STRATEGY
    assert (order.side, order.qty, order.price, order.venue_order_id) == (
        Side.SELL,
        5,
        81500,
        oid,
    )
    env.state.fill(oid, 5, Decimal("815.00"))
    await settled(env, ext, OrderStatus.FILLED)
    await wait_until(lambda: env.order(ext).trade_qty == 5, what="external fill")

    # One the stream missed is adopted by the next reconciliation; nothing is adopted twice.
    with env.state.unheard():
        env.state.place_order(dict(outside, price="816.00"))
    second = external_client_order_id(max(env.state.orders))
    await env.broker.reconcile_now()
    await env.broker.reconcile_now()
    assert env.order(second).status is OrderStatus.ACCEPTED
    inits = [e for e in env.events if isinstance(e, OrderInitialized) and e.external]
    assert sorted(e.client_order_id for e in inits) == sorted([ext, second])

    # A product the cockpit has no counterpart for is followed by nobody, and said so once.
    with env.state.unheard():
        env.state.place_order(dict(outside, producttype="MARGIN"))
    await env.broker.reconcile_now()
    await env.broker.reconcile_now()
    assert env.broker.stats().tracker.not_adoptable == 1
    assert len(env.oms) == 2


@pytest.mark.parametrize("with_lookup", [False, True])
async def test_restart_resumes_working_orders_and_never_adopts_its_own(with_lookup: bool) -> None:
    async with (
        FakeAngelServer(limits_per_second=FAST_SERVER_LIMITS) as server,
        FakeAngelWs(state=server.state) as ws,
    ):
        rest = make_rest(server)
        first = Env(server, ws, rest, make_broker(server, ws, rest), OMS(salt="TST"))
        first.broker.set_event_sink(first.apply)
        await first.broker.connect()
        done = await first.submit()
        first.state.fill(first.order(done).venue_order_id or "", 10, Decimal("812.50"))
        await wait_until(lambda: first.order(done).trade_qty == 10, what="first order filled")
        working = await first.submit(side=Side.SELL, price=81500)
        working_oid = first.order(working).venue_order_id or ""
        await first.broker.close()

        # While the cockpit is down the working order fills.
        server.state.fill(working_oid, 10, Decimal("815.00"))

        oms = OMS.rebuild(first.events, salt="TST")
        lookup = {"order_lookup": oms.get} if with_lookup else {}
        second = Env(server, ws, rest, make_broker(server, ws, rest, **lookup), oms)
        second.broker.set_event_sink(second.apply)
        await second.broker.connect()
        await second.broker.resume([o for o in oms.open_orders() if not o.external])
        order = second.order(working)
        assert order.status is OrderStatus.FILLED
        assert order.avg_fill_price == 81500
        await second.broker.reconcile_now()
        assert not [e for e in second.events if isinstance(e, OrderInitialized)]
        assert len(oms) == 2  # the filled order of the first run was not adopted again
        assert second.order(done).trade_qty == 10  # and its fill counted once
        if with_lookup:
            assert not second.fills_of(done)  # the OMS said it has that fill already
        await second.broker.close()
        await rest.close()


async def test_reports_go_through_the_same_path_as_order_snapshots(env: Env) -> None:
    coid = await env.submit(qty=4)
    env.state.fill(only_order_id(env.state), 1, Decimal("812.50"))
    await settled(env, coid, OrderStatus.PARTIALLY_FILLED)
    (snapshot,) = await env.broker.order_snapshots()
    assert snapshot.tag == coid
    assert (snapshot.status_text, snapshot.qty, snapshot.filled_qty) == ("open", 4, 1)
    assert snapshot.avg_price == 81250
    assert (snapshot.side, snapshot.order_type, snapshot.product) == (
        Side.BUY,
        OrderType.LIMIT,
        Product.MIS,
    )
    # Feeding it to OMS.reconcile (as a core could) changes nothing: the broker already said so.
    result = env.oms.reconcile(snapshot)
    assert env.order(coid).status is OrderStatus.PARTIALLY_FILLED
    assert result.order is not None and result.order.filled_qty == 1


# ---- market data --------------------------------------------------------------------------


async def test_market_data_streams_quotes_and_polls_rest_while_the_feed_is_down() -> None:
    options = {"fallback_after_s": 0.1, "poll_interval_s": 0.1}
    async with session(market_data_options=options) as env:
        market = env.broker.market_data
        quotes: list[Quote] = []
        stale_sets: list[frozenset[str]] = []
        gaps: list[tuple[int, int, tuple[str, ...]]] = []
        market.publish = quotes.append
        market.on_stale = stale_sets.append
        market.on_gap = lambda down, up, tokens: gaps.append((down, up, tokens))
        with pytest.raises(SubscriptionError, match="instrument master"):
            market.subscribe("999999")
        market.subscribe("3045", FeedMode.QUOTE)
        await wait_until(lambda: any(q.ltp > 100_000 for q in quotes), what="live quotes")
        assert market.status is FeedStatus.LIVE
        live = next(q for q in quotes if q.ltp > 100_000)
        assert live.token == "3045" and live.volume > 0 and not market.is_stale("3045")

        env.ws.refuse_next(10_000)
        env.ws.drop_feed()
        await wait_until(lambda: any(q.ltp == 81250 for q in quotes), what="polled quote")
        polled = next(q for q in quotes if q.ltp == 81250)
        assert polled.ts > 0 and polled.bids and polled.close == 81200
        assert market.stale_tokens == {"3045"} and stale_sets[0] == {"3045"}
        assert market.stats().polled_quotes >= 1

        env.ws.refuse_next(0)
        await wait_until(lambda: not market.stale_tokens, what="live again")
        assert stale_sets[-1] == frozenset()
        assert len(gaps) == 1 and gaps[0][2] == ("3045",) and gaps[0][0] < gaps[0][1]
        after = len(quotes)
        await wait_until(lambda: len(quotes) > after + 2, what="ticks after the gap")
        assert quotes[-1].ltp > 100_000


# ---- pieces -------------------------------------------------------------------------------


def test_client_order_ids_are_recognised_by_shape_and_time() -> None:
    clock = SimClock(1_760_000_000 * NS_PER_SECOND)
    oms = OMS(clock=clock, salt="AB1")
    coid = oms.new_client_order_id("GTT")
    now = clock.now_ns()
    assert looks_like_client_order_id(coid, now)
    assert looks_like_client_order_id(oms.new_client_order_id(), now)
    assert not looks_like_client_order_id(coid, now + 30 * 86_400 * NS_PER_SECOND)
    for other in ("", "ck-1", "myalgo123", "web", coid.lower()):
        assert not looks_like_client_order_id(other, now)


def test_trade_times_and_the_broker_clock_lower_bound(caplog: pytest.LogCaptureFixture) -> None:
    day = ist_midnight_ns(1_760_000_000 * NS_PER_SECOND)
    assert trade_time_ns("09:15:07", day) == day + (9 * 3600 + 15 * 60 + 7) * NS_PER_SECOND
    assert trade_time_ns("not a time", day) == 0
    clock = SimClock(1_000 * NS_PER_SECOND)
    broker_clock = BrokerClock(clock, tolerance_s=1.0)
    assert broker_clock.earliest() == 999 * NS_PER_SECOND
    broker_clock.observe(999 * NS_PER_SECOND, 1_000 * NS_PER_SECOND + 200_000_000)
    assert broker_clock.skew_ns == -1_200_000_000
    broker_clock.observe(1_000 * NS_PER_SECOND, 1_000 * NS_PER_SECOND + 300_000_000)
    assert broker_clock.skew_ns == -300_000_000  # the closest lower bound wins
    with caplog.at_level(logging.WARNING):
        broker_clock.observe(5_000 * NS_PER_SECOND, 1_000 * NS_PER_SECOND)
    assert broker_clock.skew_ns == -300_000_000 and broker_clock.ignored == 1
    assert "NTP" in caplog.text


@settings(max_examples=300, deadline=None)
@given(
    skew_ms=st.integers(-5_000, 5_000),
    earlier=st.lists(
        st.tuples(st.integers(0, 60_000), st.integers(0, 2_000)), max_size=5
    ),  # (broker time before the place, latency) of reports seen before
    send_latency_ms=st.integers(0, 2_000),
    report_after_ms=st.integers(0, 5_000),
)
def test_an_acknowledgement_is_never_newer_than_a_report_about_the_order(
    skew_ms: int,
    earlier: list[tuple[int, int]],
    send_latency_ms: int,
    report_after_ms: int,
) -> None:
    ms = 1_000_000
    skew = skew_ms * ms  # Angel's clock minus ours
    start = 1_760_000_000 * NS_PER_SECOND
    clock = SimClock(start)
    broker_clock = BrokerClock(clock, tolerance_s=1.0)
    for before_ms, latency_ms in sorted(earlier):
        broker_time = start + skew + before_ms * ms
        stamp = broker_time - broker_time % NS_PER_SECOND
        broker_clock.observe(stamp, broker_time - skew + latency_ms * ms)
    assert broker_clock.skew_ns <= skew or not earlier  # a lower bound once anything is seen
    sent = start + 61_000 * ms
    accepted_ts = broker_clock.earliest(sent)
    created_at_angel = sent + skew + send_latency_ms * ms
    report_time = created_at_angel + report_after_ms * ms
    report_ts = report_time - report_time % NS_PER_SECOND + NS_PER_SECOND - 1
    if earlier or skew >= -NS_PER_SECOND:
        assert accepted_ts <= report_ts


def test_an_older_report_does_not_undo_the_parameters_of_a_modify_angel_took() -> None:
    clock = SimClock(1_760_000_000 * NS_PER_SECOND)
    tracker = OrderTracker(instruments=INSTRUMENTS, clock=clock, broker_clock=BrokerClock(clock))
    order = Order(
        client_order_id=ClientOrderId("A1"),
        token="3045",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        product=Product.MIS,
        qty=10,
        price=81250,
        venue_order_id=VenueOrderId("V1"),
    )
    track = tracker.resume(order)
    clock.advance(5 * NS_PER_SECOND)
    tracker.change_sent(track, clock.now_ns(), price=81300)

    def report(price: int, ts: int) -> None:
        row = OrderReport(
            venue_order_id=VenueOrderId("V1"), tag="A1", status_text="open", stamp_ns=ts,
            filled_qty=0, avg_price=None, qty=10, price=price, trigger_price=0, reason="",
            token="3045", variety="NORMAL", side=Side.BUY, order_type=OrderType.LIMIT,
            product=Product.MIS, validity=Validity.DAY, disclosed_qty=0,
        )  # fmt: skip
        tracker.on_report(row, ts=ts, reconciled=True)

    report(81250, clock.now_ns() - 3 * NS_PER_SECOND)  # read before the modify reached Angel
    assert track.price == 81300
    report(81300, clock.now_ns() + NS_PER_SECOND)
    report(81350, clock.now_ns() + 2 * NS_PER_SECOND)  # changed again, e.g. in Angel's app
    assert track.price == 81350


def test_constructor_names_bad_settings() -> None:
    rest = AngelRestClient(
        AngelCredentials(**FakeAngelServer().credentials_values()), base_url="http://127.0.0.1:9"
    )
    base: dict[str, Any] = {
        "feed_url": "ws://127.0.0.1:9/smart-stream",
        "order_stream_url": "ws://127.0.0.1:9/smart-order-update",
        "instruments": INSTRUMENTS,
        "clock": WallClock(),
        "api_key": "k",
    }
    for bad, match in (
        ({"reconcile_every_s": 0}, "reconcile_every_s"),
        ({"api_key": " "}, "api_key"),
        ({"order_stream_url": "http://x"}, "ws://"),
        ({"unknown_grace_s": -1}, "unknown_grace_s"),
    ):
        with pytest.raises(ValueError, match=match):
            AngelOneBroker(rest, **{**base, **bad})
    broker = AngelOneBroker(rest, **base)
    assert (broker.name, broker.is_live, broker.connected) == ("angelone", True, False)


async def test_not_connected_refuses_and_emits_nothing() -> None:
    rest = AngelRestClient(
        AngelCredentials(**FakeAngelServer().credentials_values()), base_url="http://127.0.0.1:9"
    )
    broker = AngelOneBroker(
        rest,
        feed_url="ws://127.0.0.1:9/smart-stream",
        instruments=INSTRUMENTS,
        clock=WallClock(),
        api_key="k",
    )
    events: list[OrderEvent] = []
    broker.set_event_sink(events.append)
    request = PlaceRequest(ClientOrderId("X1"), "3045", Side.BUY, 1, OrderType.MARKET, Product.MIS)
    with pytest.raises(BrokerRejectedError, match="not connected"):
        await broker.place(request)
    with pytest.raises(BrokerRejectedError, match="not connected"):
        await broker.cancel(ClientOrderId("X1"), None)
    await broker.close()  # nothing to stop: fine
    await rest.close()
    assert events == [] and not [e for e in events if isinstance(e, OrderUpdated)]
