"""Bracket state machine: the research's cases (a)-(f) and the edges around them.

Events are fed by hand, as the core would feed them, and the returned actions are asserted
exactly. The randomised exchange simulation lives in test_brackets_properties.py.
"""

from __future__ import annotations

import json
from datetime import date
from datetime import time as dtime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.brackets import (
    SQUARE_OFF_MIS,
    BracketAction,
    BracketError,
    BracketManager,
    BracketSpec,
    BracketState,
    CancelOrder,
    CancelRejected,
    EntryFilled,
    ExitKind,
    ExitLevel,
    ExitReason,
    ModifyDone,
    ModifyOrder,
    ModifyRejected,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderRole,
    PlaceOrder,
    StopExitType,
)
from engine.clock import ist_ns
from engine.models import ClientOrderId, OrderType, Product, Side

DAY = date(2025, 1, 6)
T0 = ist_ns(DAY, dtime(9, 30))
SEC = 1_000_000_000
MIN = 60 * SEC
TICK = 5
TOKEN = "2885"


class Ids:
    """Client order ids c-1, c-2, ... (the core's id factory in production)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> ClientOrderId:
        self.n += 1
        return ClientOrderId(f"c-{self.n}")


def manager() -> BracketManager:
    return BracketManager(Ids())


def long_spec(**kw: object) -> BracketSpec:
    base: dict[str, object] = {
        "token": TOKEN,
        "side": Side.BUY,
        "qty": 10,
        "tick": TICK,
        "entry_type": OrderType.LIMIT,
        "entry_price": 10_000,
        "stop": ExitLevel.points(500),  # 95.00
        "target": ExitLevel.points(1_000),  # 110.00
        "product": Product.NRML,
    }
    base.update(kw)
    return BracketSpec(**base)  # type: ignore[arg-type]


def place(actions: list[BracketAction]) -> PlaceOrder:
    [a] = actions
    assert isinstance(a, PlaceOrder)
    return a


def start(m: BracketManager, spec: BracketSpec, filled: int | None = None) -> tuple[str, str]:
    """Submit and (optionally) fill the entry; return (bracket id, entry id)."""
    entry = place(m.submit(spec, T0))
    if filled is not None:
        m.on_order_event(entry.client_order_id, EntryFilled(filled, spec.entry_price or 10_000))
    return entry.bracket_id, entry.client_order_id


# ------------------------------------------------------------------------------- submit


def test_submit_places_the_entry_only() -> None:
    m = manager()
    entry = place(m.submit(long_spec(), T0))
    assert entry == PlaceOrder(
        bracket_id="br-1", role=OrderRole.ENTRY, client_order_id=ClientOrderId("c-1"),
        token=TOKEN, side=Side.BUY, qty=10, order_type=OrderType.LIMIT, price=10_000,
        trigger=None, product=Product.NRML, reduce_only=False,
    )
    b = m.get("br-1")
    assert b.state is BracketState.PENDING_ENTRY
    assert m.owns("c-1") and not m.owns("c-9")
    assert m.on_quote(TOKEN, 9_000, T0 + SEC) == []  # no position: no stop emulation


def test_first_fill_places_target_sized_to_the_fill() -> None:
    m = manager()
    bid, entry = start(m, long_spec())
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    assert (target.role, target.side, target.qty) == (OrderRole.TARGET, Side.SELL, 10)
    assert (target.order_type, target.price, target.reduce_only) == (OrderType.LIMIT, 11_000, True)
    b = m.get(bid)
    assert (b.state, b.stop_price, b.target_price, b.position) == (
        BracketState.ACTIVE, 9_500, 11_000, 10)


# ------------------------------------------------------------------------------- (a) target


def test_a_target_fill_ends_the_bracket_and_the_stop_is_gone() -> None:
    m = manager()
    bid, entry = start(m, long_spec())
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    assert m.on_order_event(target.client_order_id, OrderFilled(4, 11_000)) == []
    assert m.get(bid).position == 6 and m.get(bid).state is BracketState.ACTIVE
    assert m.on_order_event(target.client_order_id, OrderFilled(6, 11_000)) == []
    b = m.get(bid)
    assert (b.state, b.exit_reason, b.position) == (BracketState.CLOSED, ExitReason.TARGET, 0)
    # The price then falls through the stop: nothing happens, nothing is live.
    assert m.on_quote(TOKEN, 9_000, T0 + SEC) == []
    assert b.live_exits() == []


def test_a_target_fill_with_entry_still_working_cancels_the_entry_rest() -> None:
    m = manager()
    bid, entry = start(m, long_spec())
    target = place(m.on_order_event(entry, EntryFilled(3, 10_000)))
    actions = m.on_order_event(target.client_order_id, OrderFilled(3, 11_000))
    assert actions == [CancelOrder(bracket_id=bid, client_order_id=ClientOrderId(entry))]
    assert m.get(bid).state is BracketState.EXITING
    assert m.on_order_event(entry, OrderCancelled(filled_qty=3)) == []
    assert m.get(bid).state is BracketState.CLOSED


# ------------------------------------------------------------------------------- (b) stop


def test_b_stop_hit_cancels_target_then_exits_at_market() -> None:
    m = manager()
    bid, entry = start(m, long_spec())
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    assert m.on_quote(TOKEN, 9_505, T0 + SEC) == []
    actions = m.on_quote(TOKEN, 9_500, T0 + 2 * SEC)
    assert actions == [CancelOrder(bracket_id=bid, client_order_id=target.client_order_id)]
    # Nothing else is placed while the target's cancel is in flight, however far the price runs.
    assert m.on_quote(TOKEN, 9_000, T0 + 3 * SEC) == []
    stop = place(m.on_order_event(target.client_order_id, OrderCancelled(filled_qty=0)))
    assert (stop.role, stop.side, stop.qty, stop.order_type, stop.price, stop.reduce_only) == (
        OrderRole.STOP, Side.SELL, 10, OrderType.MARKET, None, True)
    assert m.on_order_event(stop.client_order_id, OrderFilled(10, 8_990)) == []
    b = m.get(bid)
    assert (b.state, b.exit_reason, b.position) == (BracketState.CLOSED, ExitReason.STOP, 0)


def test_b_target_partly_fills_while_cancelling_so_the_stop_exit_shrinks() -> None:
    m = manager()
    _, entry = start(m, long_spec())
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    m.on_quote(TOKEN, 9_400, T0 + SEC)
    assert m.on_order_event(target.client_order_id, OrderFilled(4, 11_000)) == []
    stop = place(m.on_order_event(target.client_order_id, OrderCancelled(filled_qty=4)))
    assert stop.qty == 6


def test_b_cancel_report_counts_fills_not_yet_delivered() -> None:
    m = manager()
    bid, entry = start(m, long_spec())
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    m.on_quote(TOKEN, 9_400, T0 + SEC)
    # The venue says 7 filled before the cancel landed; those fills arrive afterwards.
    stop = place(m.on_order_event(target.client_order_id, OrderCancelled(filled_qty=7)))
    assert stop.qty == 3
    assert m.on_order_event(target.client_order_id, OrderFilled(7, 11_000)) == []
    assert m.get(bid).position == 3  # the late fills were not counted twice
    m.on_order_event(stop.client_order_id, OrderFilled(3, 9_300))
    assert m.get(bid).state is BracketState.CLOSED


def test_b_stop_exit_as_marketable_limit() -> None:
    m = manager()
    _, entry = start(m, long_spec(stop_exit=StopExitType.LIMIT, stop_limit_buffer=50))
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    m.on_quote(TOKEN, 9_482, T0 + SEC)
    m.on_quote(TOKEN, 9_473, T0 + 2 * SEC)
    stop = place(m.on_order_event(target.client_order_id, OrderCancelled(filled_qty=0)))
    assert (stop.order_type, stop.price) == (OrderType.LIMIT, 9_420)  # 94.73 - 0.50, tick down


# ------------------------------------------------------------------------------- (c) gap


def test_c_gap_through_both_levels_gives_exactly_one_exit_target_filled_first() -> None:
    """The price gaps up through the target (which fills at the venue) and straight down through
    the stop before the fill is reported: the stop only asks for a cancel, the cancel is refused
    (the order is complete), the fill arrives, and no stop exit is ever placed."""
    m = manager()
    bid, entry = start(m, long_spec())
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    assert m.on_quote(TOKEN, 12_000, T0 + SEC) == []
    assert m.on_quote(TOKEN, 9_000, T0 + 2 * SEC) == [
        CancelOrder(bracket_id=bid, client_order_id=target.client_order_id)]
    assert m.on_order_event(target.client_order_id, CancelRejected("order is complete")) == []
    assert m.on_order_event(target.client_order_id, OrderFilled(10, 11_000)) == []
    b = m.get(bid)
    assert (b.state, b.exit_filled, b.entry_filled) == (BracketState.CLOSED, 10, 10)
    assert [o.role for o in b.orders.values()] == [OrderRole.ENTRY, OrderRole.TARGET]


def test_c_gap_down_through_stop_with_target_untouched_exits_once() -> None:
    m = manager()
    bid, entry = start(m, long_spec())
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    assert len(m.on_quote(TOKEN, 5_000, T0 + SEC)) == 1  # one cancel request
    assert m.on_quote(TOKEN, 4_000, T0 + 2 * SEC) == []  # no repeat while in flight
    stop = place(m.on_order_event(target.client_order_id, OrderCancelled(filled_qty=0)))
    assert m.on_quote(TOKEN, 3_000, T0 + 3 * SEC) == []  # one stop exit, not one per quote
    m.on_order_event(stop.client_order_id, OrderFilled(10, 3_000))
    assert m.get(bid).state is BracketState.CLOSED
    assert sum(1 for o in m.get(bid).orders.values() if o.role is OrderRole.STOP) == 1


def test_c_refused_cancel_is_retried_on_the_next_quote() -> None:
    m = manager()
    bid, entry = start(m, long_spec())
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    m.on_quote(TOKEN, 9_000, T0 + SEC)
    assert m.on_order_event(target.client_order_id, CancelRejected("rate limited")) == []
    assert m.on_quote(TOKEN, 9_000, T0 + 2 * SEC) == [
        CancelOrder(bracket_id=bid, client_order_id=target.client_order_id)]


# ------------------------------------------------------------------------------- (d) partial entry


def test_d_partial_entry_sizes_exits_to_filled_and_remainder_cancel_shrinks_nothing() -> None:
    m = manager()
    bid, entry = start(m, long_spec(qty=100))
    target = place(m.on_order_event(entry, EntryFilled(30, 10_000)))
    tid = target.client_order_id
    assert target.qty == 30
    assert m.on_order_event(entry, EntryFilled(20, 10_000)) == [
        ModifyOrder(bracket_id=bid, client_order_id=tid, qty=50, price=11_000)]
    # A third fill while the modify is in flight waits for it.
    assert m.on_order_event(entry, EntryFilled(5, 9_995)) == []
    assert m.on_order_event(tid, ModifyDone(50)) == [
        ModifyOrder(bracket_id=bid, client_order_id=tid, qty=55, price=11_000)]
    assert m.on_order_event(tid, ModifyDone(55)) == []
    # The rest of the entry is cancelled: exits stay at the 55 filled.
    assert m.on_order_event(entry, OrderCancelled(filled_qty=55)) == []
    b = m.get(bid)
    assert (b.state, b.position, b.target.qty if b.target else None) == (
        BracketState.ACTIVE, 55, 55)
    m.on_quote(TOKEN, 9_400, T0 + SEC)
    stop = place(m.on_order_event(tid, OrderCancelled(filled_qty=0)))
    assert stop.qty == 55


def test_d_target_partial_fill_then_more_entry_grows_target_total() -> None:
    """Totals count the target's own fills: filled 4 of 10, entry +5 -> total 15 (11 working)."""
    m = manager()
    bid, entry = start(m, long_spec(qty=20))
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    m.on_order_event(target.client_order_id, OrderFilled(4, 11_000))
    [mod] = m.on_order_event(entry, EntryFilled(5, 10_000))
    assert isinstance(mod, ModifyOrder) and mod.qty == 15
    assert m.get(bid).position == 11


def test_d_stop_hit_with_entry_working_cancels_entry_and_exits_late_fills_after() -> None:
    m = manager()
    bid, entry = start(m, long_spec(qty=100))
    target = place(m.on_order_event(entry, EntryFilled(30, 10_000)))
    actions = m.on_quote(TOKEN, 9_400, T0 + SEC)
    assert actions == [
        CancelOrder(bracket_id=bid, client_order_id=ClientOrderId(entry)),
        CancelOrder(bracket_id=bid, client_order_id=target.client_order_id),
    ]
    stop = place(m.on_order_event(target.client_order_id, OrderCancelled(filled_qty=0)))
    assert stop.qty == 30
    # 10 more of the entry filled before its cancel landed.
    assert m.on_order_event(entry, EntryFilled(10, 9_400)) == []  # one exit at a time
    assert m.on_order_event(entry, OrderCancelled(filled_qty=40)) == []
    flatten = place(m.on_order_event(stop.client_order_id, OrderFilled(30, 9_390)))
    assert (flatten.role, flatten.qty) == (OrderRole.STOP, 10)
    m.on_order_event(flatten.client_order_id, OrderFilled(10, 9_380))
    b = m.get(bid)
    assert (b.state, b.position, b.entry_filled, b.exit_filled) == (
        BracketState.CLOSED, 0, 40, 40)


def test_d_modify_refused_keeps_the_smaller_target_and_retries_on_next_fill() -> None:
    m = manager()
    bid, entry = start(m, long_spec(qty=30))
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    [mod] = m.on_order_event(entry, EntryFilled(10, 10_000))
    assert isinstance(mod, ModifyOrder)
    assert m.on_order_event(target.client_order_id, ModifyRejected("busy")) == []
    assert m.on_quote(TOKEN, 10_100, T0 + SEC) == []
    [again] = m.on_order_event(entry, EntryFilled(10, 10_000))
    assert isinstance(again, ModifyOrder) and again.qty == 30
    assert "target modify refused: busy" in m.get(bid).errors


# ------------------------------------------------------------------------------- (e) trailing


def test_e_trailing_stop_steps_up_and_never_loosens() -> None:
    m = manager()
    bid, entry = start(m, long_spec(trail_step=100, target=None))
    assert m.on_order_event(entry, EntryFilled(10, 10_000)) == []  # no target: stop only
    b = m.get(bid)
    seen = []
    for ltp in [10_050, 10_099, 10_100, 10_350, 10_200, 10_000, 10_420, 9_850]:
        m.on_quote(TOKEN, ltp, T0 + SEC)
        seen.append(b.stop_price)
    assert seen == [9_500, 9_500, 9_600, 9_800, 9_800, 9_800, 9_900, 9_900]
    assert b.exit_reason is ExitReason.STOP  # 98.50 <= 99.00


def test_e_trailing_for_a_short_moves_down() -> None:
    m = manager()
    spec = long_spec(side=Side.SELL, stop=ExitLevel.points(500), target=ExitLevel.points(2_000),
                     trail_step=200)
    bid, entry = start(m, spec)
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    assert (target.side, target.price) == (Side.BUY, 8_000)
    b = m.get(bid)
    assert b.stop_price == 10_500
    for ltp in [9_900, 9_800, 9_550, 9_700]:
        m.on_quote(TOKEN, ltp, T0 + SEC)
    assert b.stop_price == 10_100
    assert m.on_quote(TOKEN, 10_100, T0 + 2 * SEC) == [
        CancelOrder(bracket_id=bid, client_order_id=target.client_order_id)]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(-400, 400), min_size=1, max_size=40),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 40),
)
def test_e_trailing_is_monotone_and_on_the_tick_grid(
    moves: list[int], side: Side, step_ticks: int
) -> None:
    m = manager()
    spec = long_spec(side=side, target=None, stop=ExitLevel.points(2_000),
                     trail_step=step_ticks * TICK)
    bid, _entry = start(m, spec, filled=10)
    b = m.get(bid)
    ltp, last_stop = 10_000, b.stop_price
    assert last_stop is not None
    for mv in moves:
        ltp = max(TICK, ltp + mv)
        m.on_quote(TOKEN, ltp, T0 + SEC)
        assert b.stop_price is not None
        assert side.sign * (b.stop_price - last_stop) >= 0  # never loosens
        assert b.stop_price % TICK == 0
        assert (b.stop_price - (b.initial_stop or 0)) % (step_ticks * TICK) == 0
        last_stop = b.stop_price
        if b.exit_reason is not None:
            break


# ------------------------------------------------------------------------------- (f) square-off


def test_f_square_off_at_configured_time_cancels_target_then_flattens() -> None:
    m = manager()
    bid, entry = start(m, long_spec(product=Product.MIS))
    assert m.get(bid).square_off_ts == ist_ns(DAY, SQUARE_OFF_MIS)
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    assert m.on_time(ist_ns(DAY, dtime(15, 9, 59))) == []
    assert m.on_time(ist_ns(DAY, dtime(15, 10))) == [
        CancelOrder(bracket_id=bid, client_order_id=target.client_order_id)]
    flat = place(m.on_order_event(target.client_order_id, OrderCancelled(filled_qty=0)))
    assert (flat.role, flat.qty, flat.order_type, flat.side) == (
        OrderRole.FLATTEN, 10, OrderType.MARKET, Side.SELL)
    m.on_order_event(flat.client_order_id, OrderFilled(10, 10_050))
    b = m.get(bid)
    assert (b.state, b.exit_reason) == (BracketState.CLOSED, ExitReason.SQUARE_OFF)


def test_f_custom_square_off_time_and_pending_entry_is_cancelled() -> None:
    m = manager()
    bid, entry = start(m, long_spec(product=Product.MIS, square_off_at=dtime(11, 0)))
    assert m.on_quote(TOKEN, 10_100, ist_ns(DAY, dtime(11, 0))) == [
        CancelOrder(bracket_id=bid, client_order_id=ClientOrderId(entry))]
    assert m.on_order_event(entry, OrderCancelled(filled_qty=0)) == []
    assert m.get(bid).state is BracketState.CANCELLED


def test_f_mis_after_square_off_time_is_refused_and_nrml_has_none() -> None:
    m = manager()
    with pytest.raises(BracketError, match="cannot start at or after its square-off time 15:10"):
        m.submit(long_spec(product=Product.MIS), ist_ns(DAY, dtime(15, 10)))
    entry = place(m.submit(long_spec(product=Product.NRML), ist_ns(DAY, dtime(15, 20))))
    assert m.get(entry.bracket_id).square_off_ts is None
    late = place(m.submit(long_spec(product=Product.CNC, square_off_at=dtime(10, 0)),
                          ist_ns(DAY, dtime(15, 20))))
    assert m.get(late.bracket_id).square_off_ts == ist_ns(date(2025, 1, 7), dtime(10, 0))


def test_time_exit_counts_from_the_first_fill() -> None:
    m = manager()
    bid, entry = start(m, long_spec(time_exit_minutes=5, target=None))
    m.on_order_event(entry, EntryFilled(10, 10_000), ts=T0 + MIN)
    assert m.on_time(T0 + 6 * MIN - 1) == []
    [flat] = m.on_time(T0 + 6 * MIN)
    assert isinstance(flat, PlaceOrder) and (flat.role, flat.qty) == (OrderRole.FLATTEN, 10)
    assert m.get(bid).exit_reason is ExitReason.TIME


# ------------------------------------------------------------------------------- levels


def test_levels_percent_atr_and_price() -> None:
    m = manager()
    spec = long_spec(stop=ExitLevel.percent("1.5"), target=ExitLevel.atr("2"))
    bid, entry = start_with_atr(m, spec, atr=Fraction(1234, 10))
    m.on_order_event(entry, EntryFilled(10, 9_990))
    b = m.get(bid)
    assert b.stop_price == 10_000 - 150  # 1.5 % of the limit price
    assert b.target_price == 10_000 + 245  # 2 x 12.34 = 24.68 -> 24.70 (nearest tick)
    spec2 = long_spec(stop=ExitLevel.price(9_700), target=ExitLevel.price(10_800))
    bid2, _entry2 = start(m, spec2, filled=10)
    assert (m.get(bid2).stop_price, m.get(bid2).target_price) == (9_700, 10_800)


def start_with_atr(m: BracketManager, spec: BracketSpec, atr: Fraction) -> tuple[str, str]:
    entry = place(m.submit(spec, T0, atr=atr))
    return entry.bracket_id, entry.client_order_id


def test_market_entry_measures_from_the_first_fill() -> None:
    m = manager()
    spec = long_spec(entry_type=OrderType.MARKET, entry_price=None, stop=ExitLevel.percent(2),
                     target=ExitLevel.points(300))
    bid, entry = start(m, spec)
    target = place(m.on_order_event(entry, EntryFilled(10, 20_010)))
    b = m.get(bid)
    assert (b.ref_price, b.stop_price, b.target_price, target.price) == (
        20_010, 20_010 - 400, 20_310, 20_310)


def test_atr_from_quotes_is_used_when_not_passed() -> None:
    m = manager()
    m.on_quote(TOKEN, 10_000, T0, atr=100)
    bid, _entry = start(m, long_spec(stop=ExitLevel.atr("1.5")), filled=10)
    assert m.get(bid).stop_price == 10_000 - 150


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"qty": 0}, "quantity must be a positive"),
        ({"entry_price": 10_001}, "entry price 10001 is not a multiple of the tick 5"),
        ({"entry_price": None}, "a LIMIT entry needs a positive price"),
        ({"entry_type": OrderType.MARKET}, "a MARKET entry takes no price"),
        ({"entry_type": OrderType.SL}, "a bracket entry is LIMIT or MARKET"),
        ({"stop": None, "target": None}, "needs a stop-loss, a target, or both"),
        ({"stop": ExitLevel.price(10_500)}, "stop 10500 must be below the entry reference"),
        ({"target": ExitLevel.price(9_000)}, "target 9000 must be above the entry reference"),
        ({"stop": ExitLevel.points(12)}, "stop points 12 is not a multiple of the tick 5"),
        ({"stop": ExitLevel.price(9_501)}, "stop price 9501 is not a multiple"),
        ({"stop": ExitLevel.atr(2)}, "no ATR is known"),
        ({"stop": ExitLevel.percent("0.01")}, "less than one tick"),
        ({"trail_step": 7}, "trail step 7 is not a multiple"),
        ({"trail_step": 100, "stop": None}, "trailing stop needs a stop-loss"),
        ({"time_exit_minutes": 0}, "time exit must be a positive"),
        ({"tick": 0}, "tick size must be a positive"),
        ({"side": Side.SELL, "stop": ExitLevel.points(500), "target": ExitLevel.points(10_000)},
         "the target resolves to 0, which is not a price"),
        ({"token": ""}, "empty token"),
        ({"stop_limit_buffer": 3}, "stop limit buffer 3 is not a multiple"),
    ],
)
def test_bad_specs_name_the_problem(kw: dict[str, object], message: str) -> None:
    with pytest.raises(BracketError, match=message):
        manager().submit(long_spec(**kw), T0)


def test_bad_levels_name_the_problem() -> None:
    with pytest.raises(BracketError, match="must be positive"):
        ExitLevel.points(0)
    with pytest.raises(BracketError, match="integer price units"):
        ExitLevel(ExitKind.POINTS, Decimal("1.5"))
    with pytest.raises(BracketError, match="below 100"):
        ExitLevel.percent(100)
    with pytest.raises(BracketError, match="not a float"):
        ExitLevel.percent(1.5)  # type: ignore[arg-type]
    with pytest.raises(BracketError, match="not a number"):
        ExitLevel.atr("two")


# ------------------------------------------------------------------------------- refusals


def test_entry_rejected_cancels_the_bracket() -> None:
    m = manager()
    bid, entry = start(m, long_spec())
    assert m.on_order_event(entry, OrderRejected("margin")) == []
    b = m.get(bid)
    assert b.state is BracketState.CANCELLED and "entry order refused: margin" in b.errors


def test_target_rejected_stop_still_protects() -> None:
    m = manager()
    bid, entry = start(m, long_spec(qty=10))
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    assert m.on_order_event(target.client_order_id, OrderRejected("price band")) == []
    assert m.on_quote(TOKEN, 10_100, T0 + SEC) == []  # not retried on quotes
    [stop] = m.on_quote(TOKEN, 9_500, T0 + 2 * SEC)  # no target to cancel: exit at once
    assert isinstance(stop, PlaceOrder) and (stop.role, stop.qty) == (OrderRole.STOP, 10)
    assert m.get(bid).state is BracketState.EXITING


def test_target_rejected_is_retried_on_the_next_entry_fill() -> None:
    m = manager()
    _, entry = start(m, long_spec(qty=20))
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    m.on_order_event(target.client_order_id, OrderRejected("busy"))
    again = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    assert (again.role, again.qty) == (OrderRole.TARGET, 20)


def test_stop_exit_refused_is_retried_per_tick_then_gives_up() -> None:
    m = manager()
    bid, entry = start(m, long_spec(target=None, max_exit_rejects=2))
    m.on_order_event(entry, EntryFilled(10, 10_000))
    first = place(m.on_quote(TOKEN, 9_400, T0 + SEC))
    assert m.on_order_event(first.client_order_id, OrderRejected("rms")) == []  # no tight loop
    second = place(m.on_quote(TOKEN, 9_400, T0 + 2 * SEC))
    assert second.client_order_id != first.client_order_id
    assert m.on_order_event(second.client_order_id, OrderRejected("rms")) == []
    assert m.on_quote(TOKEN, 9_400, T0 + 3 * SEC) == []
    assert m.on_time(T0 + 4 * SEC) == []
    b = m.get(bid)
    assert b.state is BracketState.EXITING and any("exit them by hand" in e for e in b.errors)
    third = place(m.cancel(bid, T0 + 5 * SEC, flatten=True))  # the trader asks again
    assert third.qty == 10
    m.on_order_event(third.client_order_id, OrderFilled(10, 9_400))
    assert m.get(bid).state is BracketState.CLOSED


def test_exit_partly_filled_then_expired_is_replaced_for_the_rest() -> None:
    m = manager()
    _bid, entry = start(m, long_spec(target=None))
    m.on_order_event(entry, EntryFilled(10, 10_000))
    first = place(m.on_quote(TOKEN, 9_400, T0 + SEC))
    m.on_order_event(first.client_order_id, OrderFilled(6, 9_400))
    second = place(m.on_order_event(first.client_order_id, OrderExpired(filled_qty=6)))
    assert second.qty == 4


def test_target_cancelled_at_the_broker_is_not_replaced() -> None:
    m = manager()
    bid, entry = start(m, long_spec())
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    assert m.on_order_event(target.client_order_id, OrderCancelled(filled_qty=0)) == []
    assert m.on_quote(TOKEN, 10_500, T0 + SEC) == []
    assert any("outside the bracket" in e for e in m.get(bid).errors)
    stop = place(m.on_quote(TOKEN, 9_500, T0 + 2 * SEC))
    assert (stop.role, stop.qty) == (OrderRole.STOP, 10)


def test_exit_cancelled_unfilled_is_retried_on_the_next_tick() -> None:
    m = manager()
    bid, entry = start(m, long_spec(target=None))
    m.on_order_event(entry, EntryFilled(10, 10_000))
    first = place(m.on_quote(TOKEN, 9_400, T0 + SEC))
    assert m.on_order_event(first.client_order_id, OrderCancelled(filled_qty=0)) == []
    second = place(m.on_time(T0 + 2 * SEC))
    assert (second.role, second.qty) == (OrderRole.STOP, 10)
    assert m.get(bid).exit_rejects == 1


# ------------------------------------------------------------------------------- cancel


def test_cancel_pending_entry() -> None:
    m = manager()
    bid, entry = start(m, long_spec())
    assert m.cancel(bid, T0 + SEC) == [CancelOrder(bracket_id=bid,
                                                   client_order_id=ClientOrderId(entry))]
    assert m.cancel(bid, T0 + SEC) == []  # already asked
    m.on_order_event(entry, OrderCancelled(filled_qty=0))
    assert m.get(bid).state is BracketState.CANCELLED
    assert m.cancel(bid, T0 + 2 * SEC) == []


def test_cancel_without_flatten_releases_the_position() -> None:
    m = manager()
    bid, entry = start(m, long_spec())
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    assert m.cancel(bid, T0 + SEC) == [
        CancelOrder(bracket_id=bid, client_order_id=target.client_order_id)]
    assert m.on_order_event(target.client_order_id, OrderCancelled(filled_qty=0)) == []
    b = m.get(bid)
    assert (b.state, b.position) == (BracketState.CANCELLED, 10)
    assert m.on_quote(TOKEN, 1_000, T0 + 2 * SEC) == []  # no longer managed


def test_cancel_with_flatten_closes() -> None:
    m = manager()
    bid, entry = start(m, long_spec())
    target = place(m.on_order_event(entry, EntryFilled(10, 10_000)))
    m.cancel(bid, T0 + SEC, flatten=True)
    flat = place(m.on_order_event(target.client_order_id, OrderCancelled(filled_qty=2)))
    assert (flat.role, flat.qty) == (OrderRole.FLATTEN, 8)
    m.on_order_event(flat.client_order_id, OrderFilled(8, 10_000))
    assert m.get(bid).state is BracketState.CLOSED


def test_late_entry_fill_after_close_is_exited_again() -> None:
    m = manager()
    bid, entry = start(m, long_spec(qty=20, target=None))
    m.on_order_event(entry, EntryFilled(10, 10_000))
    cancel_entry, stop = m.on_quote(TOKEN, 9_400, T0 + SEC)
    assert cancel_entry == CancelOrder(bracket_id=bid, client_order_id=ClientOrderId(entry))
    assert isinstance(stop, PlaceOrder) and stop.qty == 10
    m.on_order_event(entry, OrderCancelled())  # the venue did not say how much filled
    m.on_order_event(stop.client_order_id, OrderFilled(10, 9_400))
    assert m.get(bid).state is BracketState.CLOSED
    again = place(m.on_order_event(entry, EntryFilled(5, 9_400)))  # a fill in flight
    assert (again.role, again.qty) == (OrderRole.STOP, 5)
    assert m.get(bid).state is BracketState.EXITING


def test_unknown_order_and_bracket() -> None:
    m = manager()
    with pytest.raises(BracketError, match="belongs to no bracket"):
        m.on_order_event("nope", OrderFilled(1, 1))
    with pytest.raises(BracketError, match="no bracket with id"):
        m.get("br-9")


# ------------------------------------------------------------------------------- restart


def test_restart_mid_exit_continues_the_same_way() -> None:
    ids = Ids()
    m = BracketManager(ids)
    entry = place(m.submit(long_spec(qty=50, trail_step=100), T0))
    bid, eid = entry.bracket_id, entry.client_order_id
    target = place(m.on_order_event(eid, EntryFilled(30, 10_000)))
    m.on_quote(TOKEN, 10_300, T0 + SEC)  # trail the stop to 98.00
    m.on_quote(TOKEN, 9_790, T0 + 2 * SEC)  # hit: cancel entry rest and target
    saved = json.loads(json.dumps(m.to_dict()))
    m2 = BracketManager.from_dict(saved, ids)
    b = m2.get(bid)
    assert (b.state, b.stop_price, b.position) == (BracketState.EXITING, 9_800, 30)
    assert m2.on_quote(TOKEN, 9_700, T0 + 3 * SEC) == []  # cancels already sent
    stop = place(m2.on_order_event(target.client_order_id, OrderCancelled(filled_qty=0)))
    assert (stop.qty, stop.client_order_id) == (30, ClientOrderId("c-3"))
    m2.on_order_event(eid, OrderCancelled(filled_qty=30))
    m2.on_order_event(stop.client_order_id, OrderFilled(30, 9_700))
    assert b.state is BracketState.CLOSED
    assert m2.to_dict()["brackets"][0]["state"] == "CLOSED"
    with pytest.raises(BracketError, match="version"):
        BracketManager.from_dict({"version": 0}, ids)


def test_two_brackets_on_one_token_are_independent() -> None:
    m = manager()
    b1, _e1 = start(m, long_spec(), filled=10)
    b2, _e2 = start(m, long_spec(side=Side.SELL, stop=ExitLevel.points(200)), filled=5)
    actions = m.on_quote(TOKEN, 10_200, T0 + SEC)  # the short's stop (102.00) only
    assert [(type(a).__name__, a.bracket_id) for a in actions] == [
        ("CancelOrder", b2), ("CancelOrder", b2)]  # the entry rest and the target
    assert m.get(b1).state is BracketState.ACTIVE
