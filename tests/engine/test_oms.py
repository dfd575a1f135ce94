"""Tests for the order state machine (engine.orders) and the OMS (engine.oms)."""

# Orders are mutated by apply(); mypy's narrowing of `order.status` across those calls is wrong.
# mypy: disable-error-code="comparison-overlap"

from __future__ import annotations

import json
import logging
from fractions import Fraction
from typing import Any

import pytest

from engine.clock import SimClock
from engine.models import (
    ClientOrderId,
    OrderStatus,
    OrderType,
    Product,
    Side,
    StrategyId,
    TradeId,
    VenueOrderId,
)
from engine.oms import OMS, BrokerOrderSnapshot, ClientOrderIdGenerator, map_broker_status
from engine.orders import (
    EVENT_TYPES,
    TRANSITIONS,
    ApplyOutcome,
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
    OrderOutcomeUnknown,
    OrderPendingCancel,
    OrderPendingModify,
    OrderRejected,
    OrderSubmitted,
    OrderTriggered,
    OrderUpdated,
    PendingAction,
    can_transition,
    event_from_dict,
    event_to_dict,
)

S = OrderStatus
T0 = 1_700_000_000_000_000_000
SEC = 1_000_000_000


class Harness:
    """An OMS with a journal of every applied event (what the core would write)."""

    def __init__(self) -> None:
        self.clock = SimClock(T0)
        self.journal: list[OrderEvent] = []
        self.changes: list[tuple[ClientOrderId, str, OrderStatus]] = []
        self.oms = OMS(clock=self.clock, salt="AB1", on_change=self._on_change)
        self.ts = T0

    def _on_change(self, order: Order, event: OrderEvent) -> None:
        self.journal.append(event)
        self.changes.append((order.client_order_id, type(event).__name__, order.status))

    def tick(self) -> int:
        self.ts += SEC
        return self.ts

    def order(
        self,
        qty: int = 100,
        *,
        order_type: OrderType = OrderType.LIMIT,
        token: str = "2885",
        strategy: str = "manual",
        price: int = 250_000,
        trigger: int = 0,
    ) -> Order:
        coid = self.oms.new_client_order_id("T")
        return self.oms.add(
            Order(
                client_order_id=coid,
                token=token,
                side=Side.BUY,
                order_type=order_type,
                product=Product.MIS,
                qty=qty,
                price=price,
                trigger_price=trigger,
                strategy_id=StrategyId(strategy),
                created_ts=self.tick(),
            )
        )

    def submit(self, order: Order) -> None:
        self.oms.apply(OrderSubmitted(client_order_id=order.client_order_id, ts=self.tick()))

    def accept(self, order: Order, vid: str = "V1") -> None:
        self.oms.apply(
            OrderAccepted(
                client_order_id=order.client_order_id,
                ts=self.tick(),
                venue_order_id=VenueOrderId(vid),
            )
        )

    def working(self, qty: int = 100, vid: str = "V1", **kw: Any) -> Order:
        order = self.order(qty, **kw)
        self.submit(order)
        self.accept(order, vid)
        return order

    def fill(self, order: Order, trade: str, qty: int, price: int, ts: int | None = None) -> Any:
        return self.oms.apply(
            OrderFilled(
                client_order_id=order.client_order_id,
                ts=self.tick() if ts is None else ts,
                trade_id=TradeId(trade),
                qty=qty,
                price=price,
            )
        )

    def report(self, order: Order, text: str, filled: int = 0, **kw: Any) -> Any:
        ts = kw.pop("ts", None)
        return self.oms.apply(
            OrderUpdated(
                client_order_id=order.client_order_id,
                ts=self.tick() if ts is None else ts,
                status_text=text,
                filled_qty=filled,
                **kw,
            )
        )

    def ev(self, cls: type[Any], order: Order, **kw: Any) -> Any:
        return self.oms.apply(cls(client_order_id=order.client_order_id, ts=self.tick(), **kw))


@pytest.fixture
def h() -> Harness:
    return Harness()


# ---------------------------------------------------------------------------------------------
# Broker status strings


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("open", S.ACCEPTED),
        ("complete", S.FILLED),
        ("cancelled", S.CANCELLED),
        ("rejected", S.REJECTED),
        ("trigger pending", S.TRIGGER_PENDING),
        ("open pending", S.SUBMITTED),
        ("validation pending", S.SUBMITTED),
        ("put order req received", S.SUBMITTED),
        ("modify pending", S.PENDING_MODIFY),
        ("modify validation pending", S.PENDING_MODIFY),
        ("modified", S.ACCEPTED),
        ("not modified", S.ACCEPTED),
        ("cancel pending", S.PENDING_CANCEL),
        ("not cancelled", S.ACCEPTED),
        ("after market order req received", S.ACCEPTED),
        ("modify after market order req received", S.ACCEPTED),
        ("cancelled after market order", S.CANCELLED),
        ("TRIGGER PENDING", S.TRIGGER_PENDING),
        ("  Open  ", S.ACCEPTED),
        ("put  order\treq received", S.SUBMITTED),
    ],
)
def test_map_broker_status_known_strings(text: str, status: OrderStatus) -> None:
    assert map_broker_status(text) is status


@pytest.mark.parametrize("text", ["", "UPDATE", "failed", "partially filled", "opn"])
def test_map_broker_status_unknown_string_is_none(text: str) -> None:
    assert map_broker_status(text) is None


def test_unknown_status_in_report_flags_reconcile_not_failure(h: Harness) -> None:
    order = h.working(10)
    result = h.report(order, "weird new state")
    assert result.outcome is ApplyOutcome.INVALID
    assert order.status is S.ACCEPTED  # not failed, not rejected
    assert "weird new state" in order.reconcile_reason
    assert h.oms.needs_reconcile() == [order]
    # A later reconciliation row with a known status settles it.
    h.oms.reconcile(snapshot(order, "open", ts=h.tick()))
    assert order.reconcile_reason == ""
    assert h.oms.needs_reconcile() == []


# ---------------------------------------------------------------------------------------------
# Client order ids


def test_ids_fit_angel_ordertag_and_are_unique_and_sortable() -> None:
    clock = SimClock(T0)
    oms = OMS(clock=clock, salt="X9Z")
    ids = []
    for i in range(3000):
        if i % 7 == 0:
            clock.advance(1_000_000 * (i % 3))  # several ids per millisecond, sometimes none
        ids.append(oms.new_client_order_id("CK"))
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    for coid in ids:
        assert len(coid) <= 20
        assert coid.isalnum() and coid.isascii()
        assert coid.startswith("CK") and coid.endswith("X9Z")


def test_id_time_never_runs_backwards_and_counter_overflow_moves_on() -> None:
    clock = SimClock(T0)
    gen = ClientOrderIdGenerator(clock, salt="AAA")
    first = gen.next()
    gen.counter = 36**3 - 1  # as if 46,655 ids were made this millisecond
    second = gen.next()
    assert second > first
    assert gen.last_ms == T0 // 1_000_000 + 1 and gen.counter == 0
    max_prefix = gen.next("ABCDE")
    assert len(max_prefix) == 19


@pytest.mark.parametrize("prefix", ["ABCDEF", "A-1", "é", "a b"])
def test_id_prefix_must_be_short_alphanumeric(prefix: str) -> None:
    oms = OMS(clock=SimClock(T0), salt="AAA")
    with pytest.raises(ValueError, match="prefix must be at most 5 letters or digits"):
        oms.new_client_order_id(prefix)


def test_bad_salt_is_refused() -> None:
    with pytest.raises(ValueError, match="salt must be 3 characters"):
        OMS(salt="ab")


def test_random_salts_differ_between_sessions() -> None:
    salts = {OMS(clock=SimClock(T0)).new_client_order_id()[-3:] for _ in range(20)}
    assert len(salts) > 1


def test_add_is_idempotent_by_client_order_id(h: Harness) -> None:
    order = h.order(10)
    again = Order(
        client_order_id=order.client_order_id,
        token="9999",
        side=Side.SELL,
        order_type=OrderType.MARKET,
        product=Product.CNC,
        qty=1,
    )
    assert h.oms.add(again) is order
    assert len(h.oms) == 1
    assert [kind for _, kind, _ in h.changes] == ["OrderInitialized"]
    assert order.token == "2885" and order.qty == 10


def test_add_refuses_an_order_that_is_not_new(h: Harness) -> None:
    order = Order(
        client_order_id=ClientOrderId("X1"),
        token="1",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        product=Product.MIS,
        qty=5,
        status=S.ACCEPTED,
    )
    with pytest.raises(ValueError, match=r"OMS\.add takes a new order"):
        h.oms.add(order)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"qty": 0}, "qty must be a positive number of units"),
        ({"price": -1}, "price and trigger_price must be >= 0"),
        ({"disclosed_qty": 11}, "disclosed_qty must be between 0 and qty"),
        ({"client_order_id": ClientOrderId("")}, "non-empty client_order_id"),
        ({"token": ""}, "instrument token must not be empty"),
    ],
)
def test_order_validation_messages(kw: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "client_order_id": ClientOrderId("A"),
        "token": "1",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "product": Product.MIS,
        "qty": 10,
    }
    base.update(kw)
    with pytest.raises(ValueError, match=message):
        Order(**base)


# ---------------------------------------------------------------------------------------------
# Lifecycle


def test_happy_path_with_exact_average_price(h: Harness) -> None:
    order = h.order(100)
    assert order.status is S.INITIALIZED and not order.is_open
    h.submit(order)
    assert order.status is S.SUBMITTED and order.in_flight
    assert order.pending_action is PendingAction.SUBMIT
    h.accept(order, "250101000000001")
    assert order.status is S.ACCEPTED and not order.in_flight
    assert h.oms.by_venue_id(VenueOrderId("250101000000001")) is order
    h.fill(order, "T1", 30, 250_005)
    assert order.status is S.PARTIALLY_FILLED
    assert (order.filled_qty, order.leaves_qty) == (30, 70)
    h.fill(order, "T2", 70, 250_010)
    assert order.status is S.FILLED and order.is_closed
    assert (order.filled_qty, order.leaves_qty) == (100, 0)
    assert order.filled_value == 30 * 250_005 + 70 * 250_010
    assert order.avg_fill_price == Fraction(30 * 250_005 + 70 * 250_010, 100)
    assert order.avg_fill_price_units == 250_008  # 250_008.5 rounds half-even
    assert [e.kind for e in order.history] == [
        "OrderInitialized",
        "OrderSubmitted",
        "OrderAccepted",
        "OrderFilled",
        "OrderFilled",
    ]
    assert [e.status for e in order.history][-2:] == [S.PARTIALLY_FILLED, S.FILLED]


def test_stop_order_waits_in_trigger_pending_until_triggered(h: Harness) -> None:
    order = h.working(10, order_type=OrderType.SL, trigger=249_000)
    assert order.status is S.TRIGGER_PENDING
    h.ev(OrderTriggered, order)
    assert order.status is S.ACCEPTED
    # An older "trigger pending" report never un-triggers it.
    result = h.report(order, "trigger pending")
    assert result.outcome is ApplyOutcome.IGNORED
    assert order.status is S.ACCEPTED


def test_open_report_for_stop_means_triggered(h: Harness) -> None:
    order = h.working(10, order_type=OrderType.SL_M, trigger=249_000)
    h.report(order, "open")
    assert order.status is S.ACCEPTED and order.working_status is S.ACCEPTED


def test_partial_fill_reported_as_open_with_filled_qty(h: Harness) -> None:
    order = h.working(50)
    h.report(order, "open", filled=20, avg_price=Fraction(250_0075, 10))
    assert order.status is S.PARTIALLY_FILLED
    assert order.filled_qty == 20 and order.leaves_qty == 30
    assert order.avg_fill_price == Fraction(250_0075, 10)


def test_report_and_trade_fills_are_not_double_counted(h: Harness) -> None:
    order = h.working(50)
    h.report(order, "open", filled=30, avg_price=Fraction(250_010))
    assert order.filled_qty == 30 and order.avg_fill_price == 250_010
    h.fill(order, "T1", 10, 250_000)  # part of the 30 the report already showed
    assert order.filled_qty == 30 and order.trade_qty == 10
    assert order.avg_fill_price == 250_010  # the report still covers more than the trades
    h.fill(order, "T2", 20, 250_015)
    assert order.filled_qty == 30 and order.trade_qty == 30
    assert order.avg_fill_price == Fraction(10 * 250_000 + 20 * 250_015, 30)
    h.fill(order, "T3", 20, 250_020)
    assert order.filled_qty == 50 and order.status is S.FILLED


def test_complete_report_with_short_fill_is_flagged(h: Harness) -> None:
    order = h.working(50)
    result = h.report(order, "complete", filled=30)
    assert result.outcome is ApplyOutcome.INVALID
    assert order.status is S.PARTIALLY_FILLED  # the fill moved; the claim of completion did not
    assert order.needs_reconcile and "complete" in order.reconcile_reason


def test_complete_report_fills_the_order(h: Harness) -> None:
    order = h.working(50)
    h.report(order, "complete", filled=50, avg_price=Fraction(250_000))
    assert order.status is S.FILLED and order.avg_fill_price == 250_000


# ---------------------------------------------------------------------------------------------
# Out-of-order updates


def test_filled_qty_is_monotone_across_reports(h: Harness) -> None:
    order = h.working(100)
    h.report(order, "open", filled=60, avg_price=Fraction(250_000))
    result = h.report(order, "open", filled=40, avg_price=Fraction(249_000))
    assert order.filled_qty == 60
    assert order.avg_fill_price == 250_000
    assert not result.changed


def test_open_after_filled_is_ignored(h: Harness) -> None:
    order = h.working(10)
    h.fill(order, "T1", 10, 250_000)
    result = h.report(order, "open", filled=0)
    assert result.outcome is ApplyOutcome.IGNORED
    assert order.status is S.FILLED and order.filled_qty == 10


def test_fill_before_ack_then_late_ack(h: Harness) -> None:
    order = h.order(10)
    h.submit(order)
    h.fill(order, "T1", 4, 250_000)
    assert order.status is S.PARTIALLY_FILLED and not order.in_flight
    result = h.oms.apply(
        OrderAccepted(
            client_order_id=order.client_order_id, ts=h.tick(), venue_order_id=VenueOrderId("V9")
        )
    )
    assert result.outcome is ApplyOutcome.IGNORED and result.changed
    assert order.status is S.PARTIALLY_FILLED
    assert order.venue_order_id == "V9"  # the monotone part of the late ack is kept


def test_stale_report_moves_only_fills_forward(h: Harness) -> None:
    order = h.working(100)
    fill_ts = h.tick()
    h.fill(order, "T1", 40, 250_000, ts=fill_ts)
    # A report older than the fill: says cancelled with nothing filled and a different qty.
    result = h.report(order, "cancelled", filled=0, qty=80, ts=fill_ts - 5 * SEC)
    assert result.outcome is ApplyOutcome.IGNORED
    assert order.status is S.PARTIALLY_FILLED
    assert order.qty == 100 and order.filled_qty == 40
    # A stale report that shows more fills still moves the fills forward.
    h.report(order, "open", filled=70, avg_price=Fraction(250_001), ts=fill_ts - 1)
    assert order.filled_qty == 70
    assert order.status is S.PARTIALLY_FILLED


def test_older_status_after_newer_is_ignored_even_without_timestamps(h: Harness) -> None:
    order = h.working(10)
    h.ev(OrderCancelled, order, reason="user")
    for text in ("open", "open pending", "trigger pending", "modify pending", "rejected"):
        h.report(order, text)
        assert order.status is S.CANCELLED
    assert order.reason == "user"


# ---------------------------------------------------------------------------------------------
# A fill beats a cancel


def test_pending_cancel_then_partial_fill_then_cancelled(h: Harness) -> None:
    order = h.working(100)
    h.ev(OrderPendingCancel, order)
    assert order.status is S.PENDING_CANCEL and order.in_flight
    h.fill(order, "T1", 30, 250_000)
    assert order.status is S.PARTIALLY_FILLED
    assert order.pending_action is PendingAction.CANCEL  # the cancel is still in flight
    h.ev(OrderCancelled, order, reason="cancelled by user")
    assert order.status is S.CANCELLED
    assert order.filled_qty == 30 and order.leaves_qty == 0 and not order.in_flight
    assert order.reason == "cancelled by user"


def test_pending_cancel_then_complete_fill_wins(h: Harness) -> None:
    order = h.working(100)
    h.ev(OrderPendingCancel, order)
    h.fill(order, "T1", 100, 250_000)
    assert order.status is S.FILLED and not order.in_flight
    result = h.ev(OrderCancelled, order)
    assert result.outcome is ApplyOutcome.ILLEGAL and not result.changed
    assert order.status is S.FILLED


def test_late_fill_after_cancelled_counts_but_status_stays(h: Harness) -> None:
    order = h.working(100)
    h.fill(order, "T1", 20, 250_000)
    h.ev(OrderCancelled, order)
    result = h.fill(order, "T2", 30, 250_010)
    assert result.outcome is ApplyOutcome.APPLIED and result.changed
    assert "late fill" in result.message
    assert order.status is S.CANCELLED and order.is_closed
    assert order.filled_qty == 50 and order.leaves_qty == 0
    assert order.filled_value == 20 * 250_000 + 30 * 250_010
    # A late fill that completes the quantity: the cancel never took effect.
    h.fill(order, "T3", 50, 250_020)
    assert order.status is S.FILLED and order.filled_qty == 100


def test_cancel_rejected_restores_resting_status(h: Harness) -> None:
    order = h.working(10, order_type=OrderType.SL, trigger=249_000)
    h.ev(OrderPendingCancel, order)
    h.ev(OrderCancelRejected, order, reason="order is being processed")
    assert order.status is S.TRIGGER_PENDING and not order.in_flight
    assert order.reason == "order is being processed"
    h.fill(order, "T1", 4, 250_000)
    h.ev(OrderPendingCancel, order)
    h.report(order, "not cancelled", filled=4)
    assert order.status is S.PARTIALLY_FILLED and not order.in_flight


def test_cancel_rejected_without_request_is_ignored(h: Harness) -> None:
    order = h.working(10)
    result = h.ev(OrderCancelRejected, order, reason="x")
    assert result.outcome is ApplyOutcome.IGNORED and not result.changed


# ---------------------------------------------------------------------------------------------
# Modify


def test_modify_flow(h: Harness) -> None:
    order = h.working(100)
    h.ev(OrderPendingModify, order)
    assert order.status is S.PENDING_MODIFY and order.in_flight
    h.ev(OrderModified, order, qty=120, price=251_000)
    assert order.status is S.ACCEPTED and not order.in_flight
    assert (order.qty, order.price, order.leaves_qty) == (120, 251_000, 120)
    h.ev(OrderPendingModify, order)
    h.ev(OrderModifyRejected, order, reason="price outside band")
    assert order.status is S.ACCEPTED and order.reason == "price outside band"


def test_modify_of_untriggered_stop_returns_to_trigger_pending(h: Harness) -> None:
    order = h.working(10, order_type=OrderType.SL, trigger=249_000)
    h.ev(OrderPendingModify, order)
    h.ev(OrderModified, order, trigger_price=248_000)
    assert order.status is S.TRIGGER_PENDING and order.trigger_price == 248_000
    h.ev(OrderPendingModify, order)
    h.report(order, "modified")
    assert order.status is S.TRIGGER_PENDING


def test_modify_below_filled_qty_is_flagged(h: Harness) -> None:
    order = h.working(100)
    h.fill(order, "T1", 60, 250_000)
    result = h.ev(OrderModified, order, qty=50)
    assert result.outcome is ApplyOutcome.INVALID
    assert order.qty == 100 and order.needs_reconcile


def test_modify_down_to_filled_qty_fills_the_order(h: Harness) -> None:
    order = h.working(100)
    h.fill(order, "T1", 60, 250_000)
    h.ev(OrderPendingModify, order)
    h.ev(OrderModified, order, qty=60)
    assert order.status is S.FILLED and order.leaves_qty == 0


def test_cancel_while_modify_pending_and_no_modify_while_cancel_pending(h: Harness) -> None:
    order = h.working(100)
    h.ev(OrderPendingModify, order)
    h.ev(OrderPendingCancel, order)
    assert order.status is S.PENDING_CANCEL
    h.ev(OrderModified, order, price=251_000)  # the modify's answer arrives: cancel still pending
    assert order.status is S.PENDING_CANCEL and order.price == 251_000
    result = h.ev(OrderPendingModify, order)
    assert result.outcome is ApplyOutcome.ILLEGAL
    h.fill(order, "T1", 10, 250_000)
    result = h.ev(OrderPendingModify, order)  # PARTIALLY_FILLED, but the cancel is in flight
    assert result.outcome is ApplyOutcome.ILLEGAL
    assert order.pending_action is PendingAction.CANCEL


def test_fill_while_modify_pending(h: Harness) -> None:
    order = h.working(100)
    h.ev(OrderPendingModify, order)
    h.fill(order, "T1", 10, 250_000)
    assert order.status is S.PARTIALLY_FILLED and order.pending_action is PendingAction.MODIFY
    h.ev(OrderModified, order, price=250_500)
    assert order.status is S.PARTIALLY_FILLED and not order.in_flight


# ---------------------------------------------------------------------------------------------
# Illegal transitions are reported, never raised


def test_illegal_transitions_are_reported_and_logged(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    order = h.order(10)
    h.submit(order)
    caplog.set_level(logging.WARNING, logger="engine.oms")
    result = h.ev(OrderPendingCancel, order)  # no venue id yet: cannot cancel
    assert result.outcome is ApplyOutcome.ILLEGAL and result.is_problem
    assert not result.changed and order.status is S.SUBMITTED
    assert "cannot cancel" in result.message and "SUBMITTED" in result.message
    assert "cannot cancel" in caplog.text
    again = h.ev(OrderSubmitted, order)
    assert again.outcome is ApplyOutcome.DUPLICATE
    h.accept(order)
    h.fill(order, "T1", 10, 250_000)
    rejected = h.ev(OrderRejected, order, reason="late")
    assert rejected.outcome is ApplyOutcome.ILLEGAL
    assert order.status is S.FILLED and order.reason == ""
    modify = h.ev(OrderModified, order, qty=5)
    assert modify.outcome is ApplyOutcome.ILLEGAL and order.qty == 10


def test_event_for_unknown_order_is_reported(h: Harness) -> None:
    result = h.oms.apply(OrderCancelled(client_order_id=ClientOrderId("NOPE"), ts=1))
    assert result.outcome is ApplyOutcome.UNKNOWN_ORDER and result.order is None
    assert "NOPE" in result.message


def test_overfill_is_not_applied_and_flagged(h: Harness) -> None:
    order = h.working(10)
    h.fill(order, "T1", 8, 250_000)
    result = h.fill(order, "T2", 5, 250_000)
    assert result.outcome is ApplyOutcome.INVALID
    assert order.filled_qty == 8 and TradeId("T2") not in order.trade_ids
    assert order.needs_reconcile
    result = h.report(order, "open", filled=12)
    assert result.outcome is ApplyOutcome.INVALID and order.filled_qty == 8


def test_bad_fill_data_is_flagged(h: Harness) -> None:
    order = h.working(10)
    assert h.fill(order, "T1", 0, 250_000).outcome is ApplyOutcome.INVALID
    assert h.fill(order, "T2", 1, 0).outcome is ApplyOutcome.INVALID
    assert h.fill(order, "", 1, 1).outcome is ApplyOutcome.INVALID
    assert order.filled_qty == 0


def test_venue_id_clash_is_flagged(h: Harness) -> None:
    order = h.working(10, vid="V1")
    result = h.report(order, "open", venue_order_id=VenueOrderId("V2"))
    assert result.outcome is ApplyOutcome.INVALID
    assert order.venue_order_id == "V1" and order.needs_reconcile


def test_transition_table_never_leaves_a_terminal_state_except_to_filled() -> None:
    for status in S:
        if status.is_terminal:
            assert TRANSITIONS[status] <= {S.FILLED}
        assert can_transition(status, status)
    assert not can_transition(S.FILLED, S.ACCEPTED)
    assert not can_transition(S.ACCEPTED, S.TRIGGER_PENDING)
    assert not can_transition(S.PARTIALLY_FILLED, S.ACCEPTED)


# ---------------------------------------------------------------------------------------------
# Duplicates, unknown outcomes, reconciliation


def test_same_trade_twice_is_applied_once(h: Harness) -> None:
    order = h.working(100)
    h.fill(order, "T1", 30, 250_000)
    before = order.to_dict()
    result = h.fill(order, "T1", 30, 250_000)
    assert result.outcome is ApplyOutcome.DUPLICATE and not result.changed
    assert order.to_dict() == before


def test_trade_dedupe_survives_restart_from_journal_and_snapshot(h: Harness) -> None:
    order = h.working(100)
    h.fill(order, "T1", 30, 250_000)
    rows = [json.dumps(event_to_dict(e)) for e in h.journal]
    rebuilt = OMS.rebuild(event_from_dict(json.loads(r)) for r in rows)
    restored = OMS.from_dict(json.loads(json.dumps(h.oms.to_dict())))
    for oms in (rebuilt, restored):
        again = oms.get(order.client_order_id)
        assert again is not None and again.filled_qty == 30
        result = oms.apply(
            OrderFilled(
                client_order_id=order.client_order_id,
                ts=h.tick(),
                trade_id=TradeId("T1"),
                qty=30,
                price=250_000,
            )
        )
        assert result.outcome is ApplyOutcome.DUPLICATE
        assert again.filled_qty == 30


def test_outcome_unknown_stays_in_flight_until_reconciled(h: Harness) -> None:
    order = h.order(10)
    h.submit(order)
    result = h.ev(OrderOutcomeUnknown, order, reason="no answer in 10 s")
    assert result.changed
    assert order.status is S.SUBMITTED and order.outcome_unknown and order.in_flight
    assert order.is_open and order in h.oms.open_orders()
    assert h.oms.needs_reconcile() == [order]
    assert len(h.oms) == 1  # nothing was resent or duplicated
    # Retrying with the same id is idempotent: still one order.
    assert h.oms.add(Order(**_same_order_kwargs(order))) is order
    # Reconciliation by tag settles it.
    result = h.oms.reconcile(snapshot(order, "open", ts=h.tick(), vid="V77"))
    assert result.outcome is ApplyOutcome.APPLIED
    assert order.status is S.ACCEPTED and not order.outcome_unknown and not order.in_flight
    assert order.venue_order_id == "V77"
    assert h.oms.needs_reconcile() == []


def test_outcome_unknown_resolved_by_a_rejection(h: Harness) -> None:
    order = h.order(10)
    h.submit(order)
    h.ev(OrderOutcomeUnknown, order)
    h.oms.reconcile(snapshot(order, "rejected", ts=h.tick(), reason="RMS: margin"))
    assert order.status is S.REJECTED and order.reason == "RMS: margin"
    assert not order.needs_reconcile


def test_outcome_unknown_of_a_cancel(h: Harness) -> None:
    order = h.working(10)
    h.ev(OrderPendingCancel, order)
    h.ev(OrderOutcomeUnknown, order)
    assert order.status is S.PENDING_CANCEL and order.outcome_unknown
    h.oms.reconcile(snapshot(order, "cancelled", ts=h.tick()))
    assert order.status is S.CANCELLED and not order.needs_reconcile


def test_outcome_unknown_without_request_is_ignored(h: Harness) -> None:
    order = h.working(10)
    result = h.ev(OrderOutcomeUnknown, order)
    assert result.outcome is ApplyOutcome.IGNORED and not order.outcome_unknown


def test_report_from_the_broker_resolves_unknown_submit(h: Harness) -> None:
    order = h.order(10)
    h.submit(order)
    h.ev(OrderOutcomeUnknown, order)
    h.report(order, "validation pending")
    assert order.status is S.SUBMITTED and order.in_flight and not order.outcome_unknown


def test_reconcile_never_undoes_a_newer_fill(h: Harness) -> None:
    order = h.working(100, vid="V1")
    fill_ts = h.tick()
    h.fill(order, "T1", 100, 250_000, ts=fill_ts)
    result = h.oms.reconcile(snapshot(order, "open", ts=fill_ts - SEC, vid="V1"))
    assert order.status is S.FILLED and order.filled_qty == 100
    assert not result.changed


def test_stale_reconcile_snapshot_keeps_the_flags(h: Harness) -> None:
    order = h.working(100, vid="V1")
    fill_ts = h.tick()
    h.fill(order, "T1", 10, 250_000, ts=fill_ts)
    h.report(order, "???", filled=10, ts=fill_ts)
    assert order.needs_reconcile
    h.oms.reconcile(snapshot(order, "open", ts=fill_ts - SEC, filled=10))
    assert order.needs_reconcile  # an older row cannot settle it
    h.oms.reconcile(snapshot(order, "open", ts=fill_ts + SEC, filled=10))
    assert not order.needs_reconcile


def test_reconcile_matches_by_venue_id_when_tag_is_missing(h: Harness) -> None:
    order = h.working(100, vid="V5")
    h.oms.reconcile(snapshot(order, "open", ts=h.tick(), vid="V5", tag="", filled=10))
    assert order.filled_qty == 10 and len(h.oms) == 1


def test_reconcile_takes_fresh_parameters(h: Harness) -> None:
    order = h.working(100, vid="V5")
    h.oms.reconcile(snapshot(order, "open", ts=h.tick(), qty=150, price=251_500, trigger=0))
    assert (order.qty, order.price) == (150, 251_500)


def test_external_order_is_adopted(h: Harness) -> None:
    row = BrokerOrderSnapshot(
        venue_order_id=VenueOrderId("250101000000777"),
        status_text="open",
        ts=h.tick(),
        token="1594",
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        product=Product.CNC,
        qty=5,
        price=150_000,
        filled_qty=2,
        avg_price=Fraction(150_010),
    )
    result = h.oms.reconcile(row)
    adopted = result.order
    assert adopted is not None and adopted.external
    assert adopted.client_order_id == "EXT250101000000777"
    assert adopted.strategy_id == "external"
    assert adopted.status is S.PARTIALLY_FILLED and adopted.filled_qty == 2
    assert adopted.avg_fill_price == 150_010
    assert h.oms.orders_for_strategy(StrategyId("external")) == [adopted]
    # The same row again is matched, not adopted twice.
    h.oms.reconcile(row)
    assert len(h.oms) == 1
    # Replaying the journal adopts it the same way.
    rebuilt = OMS.rebuild(h.journal)
    assert rebuilt.to_dict()["orders"] == h.oms.to_dict()["orders"]


def test_row_without_venue_id_or_known_tag_is_reported() -> None:
    oms = OMS(salt="AAA")
    row = BrokerOrderSnapshot(
        venue_order_id=VenueOrderId(""),
        status_text="open",
        ts=1,
        token="1",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        product=Product.MIS,
        qty=1,
        tag="SOMEONEELSE",
    )
    result = oms.reconcile(row)
    assert result.outcome is ApplyOutcome.UNKNOWN_ORDER and len(oms) == 0


def test_adopting_a_bad_row_is_reported_not_raised() -> None:
    oms = OMS(salt="AAA")
    row = BrokerOrderSnapshot(
        venue_order_id=VenueOrderId("V1"),
        status_text="open",
        ts=1,
        token="1",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        product=Product.MIS,
        qty=0,
    )
    result = oms.reconcile(row)
    assert result.outcome is ApplyOutcome.INVALID and "qty must be" in result.message
    assert len(oms) == 0


# ---------------------------------------------------------------------------------------------
# Queries, listener, snapshots


def test_queries_and_counts(h: Harness) -> None:
    a = h.working(10, vid="V1", token="1", strategy="s1")
    b = h.working(10, vid="V2", token="2", strategy="s1")
    c = h.order(10, token="1", strategy="s2")
    h.fill(b, "T1", 10, 100)
    assert h.oms.open_orders() == [a]
    assert h.oms.open_count() == 1
    assert h.oms.orders_for_instrument("1") == [a, c]
    assert h.oms.orders_for_instrument("1", open_only=True) == [a]
    assert h.oms.orders_for_strategy(StrategyId("s1")) == [a, b]
    assert h.oms.orders_for_strategy(StrategyId("s1"), open_only=True) == [a]
    assert h.oms.counts() == {S.ACCEPTED: 1, S.FILLED: 1, S.INITIALIZED: 1}
    assert h.oms.all_orders() == [a, b, c]
    assert a.client_order_id in h.oms and ClientOrderId("zz") not in h.oms
    assert h.oms.get(ClientOrderId("zz")) is None


def test_on_change_hears_every_applied_change_and_nothing_else(h: Harness) -> None:
    order = h.working(10)
    h.fill(order, "T1", 5, 100)
    h.fill(order, "T1", 5, 100)  # duplicate
    h.ev(OrderSubmitted, order)  # illegal
    assert [kind for _, kind, _ in h.changes] == [
        "OrderInitialized",
        "OrderSubmitted",
        "OrderAccepted",
        "OrderFilled",
    ]
    assert h.changes[-1][2] is S.PARTIALLY_FILLED


def test_snapshot_roundtrip_and_ids_continue(h: Harness) -> None:
    a = h.working(10, vid="V1")
    h.fill(a, "T1", 3, 250_003)
    h.report(a, "open", filled=5, avg_price=Fraction(750_011, 3))
    b = h.order(7)
    h.submit(b)
    h.ev(OrderOutcomeUnknown, b)
    data = json.loads(json.dumps(h.oms.to_dict()))
    restored = OMS.from_dict(data, clock=h.clock)
    assert restored.to_dict() == h.oms.to_dict()
    assert restored.by_venue_id(VenueOrderId("V1")) is restored.get(a.client_order_id)
    assert [o.client_order_id for o in restored.needs_reconcile()] == [b.client_order_id]
    new_id = restored.new_client_order_id("T")
    assert new_id > b.client_order_id and new_id not in restored


def test_snapshot_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="unsupported OMS snapshot version"):
        OMS.from_dict({"version": 99})
    with pytest.raises(ValueError, match="missing field"):
        Order.from_dict({"client_order_id": "A"})


def test_rebuild_from_journal_gives_the_same_state(h: Harness) -> None:
    a = h.working(100, vid="V1")
    h.fill(a, "T1", 30, 250_000)
    h.ev(OrderPendingCancel, a)
    h.fill(a, "T2", 10, 250_005)
    h.ev(OrderCancelled, a)
    h.fill(a, "T3", 5, 250_010)  # late fill
    b = h.working(10, vid="V2", order_type=OrderType.SL, trigger=240_000)
    h.ev(OrderPendingModify, b)
    h.ev(OrderModified, b, trigger_price=241_000, qty=12)
    h.ev(OrderTriggered, b)
    h.report(b, "open", filled=4, avg_price=Fraction(241_100))
    c = h.order(5)
    h.submit(c)
    h.ev(OrderOutcomeUnknown, c)
    d = h.working(5, vid="V4")
    h.ev(OrderExpired, d, reason="IOC")
    e = h.order(5)
    h.submit(e)
    h.ev(OrderRejected, e, reason="margin")
    h.report(b, "mystery")
    rows = [json.dumps(event_to_dict(ev)) for ev in h.journal]
    rebuilt = OMS.rebuild([event_from_dict(json.loads(r)) for r in rows], salt="AB1")
    assert rebuilt.to_dict()["orders"] == h.oms.to_dict()["orders"]
    assert len(rebuilt.to_dict()["orders"]) == 5


def test_every_event_kind_roundtrips_through_json() -> None:
    coid = ClientOrderId("C1")
    samples: list[OrderEvent] = [
        OrderInitialized(
            client_order_id=coid,
            ts=1,
            token="1",
            side=Side.SELL,
            order_type=OrderType.SL_M,
            product=Product.NRML,
            qty=75,
            trigger_price=100,
            venue_order_id=VenueOrderId("V"),
            external=True,
        ),
        OrderSubmitted(client_order_id=coid, ts=2),
        OrderAccepted(client_order_id=coid, ts=3, venue_order_id=VenueOrderId("V")),
        OrderRejected(client_order_id=coid, ts=4, reason="r"),
        OrderTriggered(client_order_id=coid, ts=5),
        OrderPendingModify(client_order_id=coid, ts=6),
        OrderModified(client_order_id=coid, ts=7, qty=5, price=None, trigger_price=3),
        OrderModifyRejected(client_order_id=coid, ts=8, reason="m"),
        OrderPendingCancel(client_order_id=coid, ts=9),
        OrderCancelled(client_order_id=coid, ts=10, reason="c"),
        OrderCancelRejected(client_order_id=coid, ts=11, reason="cr"),
        OrderExpired(client_order_id=coid, ts=12),
        OrderFilled(client_order_id=coid, ts=13, trade_id=TradeId("T"), qty=1, price=2),
        OrderUpdated(
            client_order_id=coid,
            ts=14,
            status_text="open",
            filled_qty=1,
            avg_price=Fraction(7, 3),
            reconciled=True,
        ),
        OrderOutcomeUnknown(client_order_id=coid, ts=15, reason="timeout"),
    ]
    assert {type(e).__name__ for e in samples} == set(EVENT_TYPES)
    for event in samples:
        assert event_from_dict(json.loads(json.dumps(event_to_dict(event)))) == event


def test_event_decoding_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="unknown order event kind 'Bogus'"):
        event_from_dict({"kind": "Bogus"})
    with pytest.raises(ValueError, match="OrderFilled event is missing a field"):
        event_from_dict({"kind": "OrderFilled", "client_order_id": "A", "ts": 1})


# ---------------------------------------------------------------------------------------------
# helpers


def snapshot(
    order: Order,
    text: str,
    *,
    ts: int,
    vid: str | None = None,
    tag: str | None = None,
    filled: int = 0,
    qty: int | None = None,
    price: int | None = None,
    trigger: int | None = None,
    reason: str = "",
) -> BrokerOrderSnapshot:
    return BrokerOrderSnapshot(
        venue_order_id=VenueOrderId(vid or order.venue_order_id or ""),
        status_text=text,
        ts=ts,
        token=order.token,
        side=order.side,
        order_type=order.order_type,
        product=order.product,
        qty=order.qty if qty is None else qty,
        tag=order.client_order_id if tag is None else tag,
        filled_qty=filled,
        price=order.price if price is None else price,
        trigger_price=order.trigger_price if trigger is None else trigger,
        reason=reason,
    )


def _same_order_kwargs(order: Order) -> dict[str, Any]:
    return {
        "client_order_id": order.client_order_id,
        "token": order.token,
        "side": order.side,
        "order_type": order.order_type,
        "product": order.product,
        "qty": order.qty,
        "price": order.price,
    }


def test_report_is_idempotent_when_its_fill_moves_the_status(h: Harness) -> None:
    # Found by the stateful test: the fill moved SUBMITTED -> PARTIALLY_FILLED, and re-applying
    # the same report then reached PENDING_MODIFY. Fills now move first, then the status.
    order = h.order(5)
    h.submit(order)
    report = OrderUpdated(
        client_order_id=order.client_order_id,
        ts=h.tick(),
        status_text="modify validation pending",
        filled_qty=1,
    )
    h.oms.apply(report)
    assert order.status is S.PENDING_MODIFY and order.filled_qty == 1
    before = order.to_dict()
    assert not h.oms.apply(report).changed
    assert order.to_dict() == before


def test_reconcile_row_that_does_not_answer_a_cancel_keeps_it_unknown(h: Harness) -> None:
    order = h.working(10)
    h.ev(OrderPendingCancel, order)
    h.ev(OrderOutcomeUnknown, order)
    result = h.oms.reconcile(snapshot(order, "open pending", ts=h.tick()))
    assert result.outcome is ApplyOutcome.IGNORED
    assert order.status is S.PENDING_CANCEL and order.outcome_unknown
    assert h.oms.needs_reconcile() == [order]
