"""Property tests for the OMS: random, shuffled and duplicated broker events.

The stateful machine drives two OMSes with the same random event stream; one of them also gets
duplicates (earlier fills replayed, the last event repeated). After every step both must agree,
and the usual invariants must hold. At the end, the journal rebuilds the same state.
"""

from __future__ import annotations

import json
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from engine.models import (
    ClientOrderId,
    OrderStatus,
    OrderType,
    Product,
    Side,
    TradeId,
    VenueOrderId,
)
from engine.oms import OMS
from engine.orders import (
    LIVE_STATUSES,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderCancelRejected,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderModified,
    OrderModifyRejected,
    OrderOutcomeUnknown,
    OrderPendingCancel,
    OrderPendingModify,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
    PendingAction,
    event_from_dict,
    event_to_dict,
)

S = OrderStatus
T0 = 1_700_000_000_000_000_000
SEC = 1_000_000_000

STATUS_TEXTS = [
    "open",
    "complete",
    "cancelled",
    "rejected",
    "trigger pending",
    "open pending",
    "validation pending",
    "put order req received",
    "modify pending",
    "modify validation pending",
    "modified",
    "not modified",
    "cancel pending",
    "not cancelled",
    "after market order req received",
    "cancelled after market order",
    "UPDATE",  # Kite's partial-fill postback: not a status -> reconcile
    "something new",
]


def events_for(coid: ClientOrderId) -> st.SearchStrategy[OrderEvent]:
    """Any event for order ``coid``, with times that are often out of order."""
    c = st.just(coid)
    ts = st.integers(0, 30).map(lambda k: T0 + k * SEC)
    reason = st.sampled_from(["", "r1", "r2"])
    vid = st.sampled_from([VenueOrderId(f"V{coid}"), VenueOrderId(f"V{coid}"), VenueOrderId("VX")])
    qty_opt = st.none() | st.integers(1, 25)
    price_opt = st.none() | st.integers(1, 1000)
    trade = st.sampled_from([TradeId(f"T{i}") for i in range(8)])
    avg = st.none() | st.fractions(min_value=1, max_value=1000, max_denominator=50)
    return st.one_of(
        st.builds(OrderSubmitted, client_order_id=c, ts=ts),
        st.builds(OrderAccepted, client_order_id=c, ts=ts, venue_order_id=vid),
        st.builds(OrderRejected, client_order_id=c, ts=ts, reason=reason),
        st.builds(OrderTriggered, client_order_id=c, ts=ts),
        st.builds(OrderPendingModify, client_order_id=c, ts=ts),
        st.builds(
            OrderModified,
            client_order_id=c,
            ts=ts,
            qty=qty_opt,
            price=price_opt,
            trigger_price=price_opt,
        ),
        st.builds(OrderModifyRejected, client_order_id=c, ts=ts, reason=reason),
        st.builds(OrderPendingCancel, client_order_id=c, ts=ts),
        st.builds(OrderCancelled, client_order_id=c, ts=ts, reason=reason),
        st.builds(OrderCancelRejected, client_order_id=c, ts=ts, reason=reason),
        st.builds(OrderExpired, client_order_id=c, ts=ts, reason=reason),
        st.builds(
            OrderFilled,
            client_order_id=c,
            ts=ts,
            trade_id=trade,
            qty=st.integers(1, 10),
            price=st.integers(1, 1000),
        ),
        st.builds(
            OrderFilled,
            client_order_id=c,
            ts=ts,
            trade_id=trade,
            qty=st.integers(1, 10),
            price=st.integers(1, 1000),
        ),
        st.builds(
            OrderUpdated,
            client_order_id=c,
            ts=ts,
            status_text=st.sampled_from(STATUS_TEXTS),
            filled_qty=st.integers(0, 25),
            avg_price=avg,
            venue_order_id=st.none() | vid,
            qty=qty_opt,
            price=price_opt,
            trigger_price=st.none(),
            reason=reason,
            reconciled=st.booleans(),
        ),
        st.builds(OrderOutcomeUnknown, client_order_id=c, ts=ts, reason=reason),
    )


def check_order_invariants(order: Order) -> None:
    """Invariants that hold for every order after every event."""
    assert 0 <= order.filled_qty <= order.qty
    assert order.filled_qty == max(order.trade_qty, order.reported_filled_qty)
    assert order.trade_qty <= order.qty
    if order.is_open:
        assert order.leaves_qty == order.qty - order.filled_qty > 0
    if order.is_closed:
        assert order.leaves_qty == 0
        assert not order.in_flight and not order.outcome_unknown
    assert (order.filled_qty == order.qty) == (order.status is S.FILLED)
    if order.status is S.PARTIALLY_FILLED:
        assert 0 < order.filled_qty < order.qty
    if order.status is S.PENDING_CANCEL:
        assert order.pending_action is PendingAction.CANCEL
    if order.status is S.PENDING_MODIFY:
        assert order.pending_action is PendingAction.MODIFY
    if order.status is S.SUBMITTED:
        assert order.pending_action is PendingAction.SUBMIT
    if order.outcome_unknown:
        assert order.in_flight
    if order.filled_qty == order.trade_qty > 0:
        assert order.avg_fill_price == Fraction(order.filled_value, order.trade_qty)


class OMSMachine(RuleBasedStateMachine):
    """Random events into two OMSes; one also gets duplicates. They must never disagree."""

    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.journal: list[OrderEvent] = []
        self.dup = OMS(salt="AAA")
        self.clean = OMS(salt="AAA", on_change=lambda _o, e: self.journal.append(e))
        self.fills: list[OrderFilled] = []
        self.last_event: dict[ClientOrderId, OrderEvent] = {}
        self.seen: dict[ClientOrderId, tuple[int, bool]] = {}
        self.count = 0

    @rule(
        target=orders,
        qty=st.integers(1, 20),
        stop=st.booleans(),
        start=st.sampled_from(
            ["new", "submitted", "unknown", "working", "pending_modify", "pending_cancel"]
        ),
    )
    def create(self, qty: int, stop: bool, start: str) -> ClientOrderId:
        """A new order, sometimes already submitted or acknowledged (so more paths are hit)."""
        self.count += 1
        coid = ClientOrderId(f"O{self.count}")
        opening: list[OrderEvent] = []
        if start != "new":
            opening.append(OrderSubmitted(client_order_id=coid, ts=T0))
        if start == "unknown":
            opening.append(OrderOutcomeUnknown(client_order_id=coid, ts=T0))
        if start in ("working", "pending_modify", "pending_cancel"):
            opening.append(
                OrderAccepted(client_order_id=coid, ts=T0, venue_order_id=VenueOrderId(f"V{coid}"))
            )
        if start == "pending_modify":
            opening.append(OrderPendingModify(client_order_id=coid, ts=T0))
        if start == "pending_cancel":
            opening.append(OrderPendingCancel(client_order_id=coid, ts=T0))
        for oms in (self.dup, self.clean):
            oms.add(
                Order(
                    client_order_id=coid,
                    token="2885",
                    side=Side.BUY,
                    order_type=OrderType.SL if stop else OrderType.LIMIT,
                    product=Product.MIS,
                    qty=qty,
                    price=100,
                    trigger_price=90 if stop else 0,
                    created_ts=T0,
                )
            )
            for event in opening:
                oms.apply(event)
        return coid

    @rule(coid=orders, data=st.data())
    def broker_event(self, coid: ClientOrderId, data: st.DataObject) -> None:
        event = data.draw(events_for(coid))
        with_dups = self.dup.apply(event)
        without = self.clean.apply(event)
        assert with_dups.outcome is without.outcome
        assert with_dups.changed == without.changed
        self.last_event[coid] = event
        if isinstance(event, OrderFilled):
            self.fills.append(event)

    @precondition(lambda self: bool(self.fills))
    @rule(data=st.data())
    def duplicate_fill(self, data: st.DataObject) -> None:
        event = data.draw(st.sampled_from(self.fills))
        order = self.dup.get(event.client_order_id)
        assert order is not None
        if event.trade_id not in order.trade_ids:
            return  # that fill was refused (e.g. overfill), so a replay is not a duplicate
        before = order.to_dict()
        result = self.dup.apply(event)
        assert not result.changed
        assert order.to_dict() == before

    @precondition(lambda self: bool(self.last_event))
    @rule(data=st.data())
    def repeat_last_event(self, data: st.DataObject) -> None:
        coid = data.draw(st.sampled_from(sorted(self.last_event)))
        order = self.dup.get(coid)
        assert order is not None
        before = order.to_dict()
        result = self.dup.apply(self.last_event[coid])
        assert not result.changed
        assert order.to_dict() == before

    @invariant()
    def orders_are_consistent(self) -> None:
        for order in self.dup.all_orders():
            check_order_invariants(order)
            filled_before, closed_before = self.seen.get(order.client_order_id, (0, False))
            assert order.filled_qty >= filled_before, "filled_qty went down"
            if closed_before:
                assert order.is_closed, "a terminal order became live again"
                assert order.status not in LIVE_STATUSES
            self.seen[order.client_order_id] = (order.filled_qty, order.is_closed)

    @invariant()
    def duplicates_change_nothing(self) -> None:
        assert self.dup.to_dict()["orders"] == self.clean.to_dict()["orders"]

    def teardown(self) -> None:
        rows = [json.dumps(event_to_dict(e)) for e in self.journal]
        rebuilt = OMS.rebuild(event_from_dict(json.loads(r)) for r in rows)
        assert rebuilt.to_dict()["orders"] == self.clean.to_dict()["orders"]
        restored = OMS.from_dict(json.loads(json.dumps(self.clean.to_dict())))
        assert restored.to_dict() == self.clean.to_dict()


OMSMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOMSMachine = OMSMachine.TestCase


# ---------------------------------------------------------------------------------------------
# A plausible broker history, delivered shuffled and with duplicates


@st.composite
def broker_history(draw: st.DrawFn) -> tuple[int, list[OrderEvent], str, list[tuple[int, int]]]:
    """A true history of one order: ack, fills, cumulative reports, and how it ended."""
    qty = draw(st.integers(1, 40))
    ending = draw(st.sampled_from(["filled", "cancelled", "working"]))
    total = qty if ending == "filled" else draw(st.integers(0, qty - 1) if qty > 1 else st.just(0))
    trades: list[tuple[int, int]] = []
    left = total
    while left:
        part = draw(st.integers(1, left))
        trades.append((part, draw(st.integers(100, 200))))
        left -= part
    coid = ClientOrderId("H1")
    ts = T0
    events: list[OrderEvent] = [
        OrderAccepted(client_order_id=coid, ts=ts + SEC, venue_order_id=VenueOrderId("V1"))
    ]
    ts += SEC
    done_qty = done_value = 0
    for i, (part, price) in enumerate(trades):
        ts += SEC
        events.append(
            OrderFilled(
                client_order_id=coid, ts=ts, trade_id=TradeId(f"T{i}"), qty=part, price=price
            )
        )
        done_qty += part
        done_value += part * price
        if draw(st.booleans()):
            events.append(
                OrderUpdated(
                    client_order_id=coid,
                    ts=ts,
                    status_text="complete" if done_qty == qty else "open",
                    filled_qty=done_qty,
                    avg_price=Fraction(done_value, done_qty),
                    venue_order_id=VenueOrderId("V1"),
                    qty=qty,
                )
            )
    if ending == "cancelled":
        events.append(OrderCancelled(client_order_id=coid, ts=ts + SEC, reason="user"))
    return qty, events, ending, trades


@settings(max_examples=200, deadline=None)
@given(history=broker_history(), data=st.data())
def test_shuffled_duplicated_history_converges(
    history: tuple[int, list[OrderEvent], str, list[tuple[int, int]]], data: st.DataObject
) -> None:
    qty, events, ending, trades = history
    shuffled = data.draw(st.permutations(events))
    duplicated = list(shuffled)
    for event in data.draw(st.lists(st.sampled_from(events), max_size=6)):
        duplicated.insert(data.draw(st.integers(0, len(duplicated))), event)

    def run(stream: list[OrderEvent]) -> Order:
        oms = OMS(salt="AAA")
        oms.add(
            Order(
                client_order_id=ClientOrderId("H1"),
                token="1",
                side=Side.SELL,
                order_type=OrderType.LIMIT,
                product=Product.MIS,
                qty=qty,
                price=150,
                created_ts=T0,
            )
        )
        oms.apply(OrderSubmitted(client_order_id=ClientOrderId("H1"), ts=T0))
        filled_before = 0
        for event in stream:
            oms.apply(event)
            order = oms.get(ClientOrderId("H1"))
            assert order is not None
            check_order_invariants(order)
            assert order.filled_qty >= filled_before
            filled_before = order.filled_qty
        order = oms.get(ClientOrderId("H1"))
        assert order is not None
        return order

    natural, plain, noisy = run(events), run(shuffled), run(duplicated)
    total = sum(q for q, _ in trades)
    value = sum(q * p for q, p in trades)
    expected_status = {
        "filled": S.FILLED,
        "cancelled": S.CANCELLED,
        "working": S.PARTIALLY_FILLED if total else S.ACCEPTED,
    }[ending]
    for order in (natural, plain, noisy):
        assert order.status is expected_status
        assert order.filled_qty == order.trade_qty == total
        assert order.filled_value == value
        assert order.avg_fill_price == (Fraction(value, total) if total else None)
        assert order.leaves_qty == (qty - total if ending == "working" else 0)
        assert order.venue_order_id == "V1"
        assert not order.in_flight and not order.needs_reconcile
    # Duplicates in the stream change nothing at all, history included.
    assert noisy.to_dict() == run(_first_occurrences(duplicated)).to_dict()


def _first_occurrences(stream: list[OrderEvent]) -> list[OrderEvent]:
    seen: list[OrderEvent] = []
    for event in stream:
        if event not in seen:
            seen.append(event)
    return seen
