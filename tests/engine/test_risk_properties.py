"""Property tests: accepted orders satisfy every enabled limit (checked independently here),
decisions are deterministic, the rate limiter never admits more than N per second, and slicing
conserves quantity within the lot, freeze and slice-count rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from engine.clock import NS_PER_SECOND, SessionPhase, SimClock, ist_ns
from engine.kill_switch import KillSwitchState
from engine.models import (
    Exchange,
    Instrument,
    InstrumentType,
    OptionKind,
    OrderType,
    Product,
    Side,
    Validity,
)
from engine.rate_limit import OrderAction, OrderRateLimiter
from engine.risk import CHECKS, OrderCheck, PreTradeRisk, RiskDecision, RiskState
from engine.risk_config import RiskConfig
from engine.slicing import MAX_SLICES, SlicingError, effective_freeze, slice_quantity

START = ist_ns(date(2026, 4, 7), time(10, 0))
MS = 1_000_000

INFY = Instrument("1594", Exchange.NSE, "INFY-EQ", "INFY", InstrumentType.EQUITY, tick_size=5)
NIFTY_FUT = Instrument(
    "35001",
    Exchange.NFO,
    "NIFTY26APRFUT",
    "NIFTY",
    InstrumentType.FUTIDX,
    lot_size=65,
    tick_size=10,
    freeze_qty=1800,
)
NIFTY_CE = Instrument(
    "35002",
    Exchange.NFO,
    "NIFTY26APR24000CE",
    "NIFTY",
    InstrumentType.OPTIDX,
    lot_size=65,
    tick_size=5,
    strike=2_400_000,
    option_kind=OptionKind.CE,
    freeze_qty=1800,
)
INSTRUMENTS = (INFY, NIFTY_FUT, NIFTY_CE)
NIFTY_INDEX = Instrument("99926000", Exchange.NSE, "Nifty 50", "NIFTY", InstrumentType.INDEX)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------
# Strategies


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _rupees(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low * 100, high * 100).map(lambda p: Decimal(p) / 100)


configs = st.builds(
    RiskConfig,
    max_order_value=_maybe(_rupees(1_000, 5_000_000)),
    max_order_qty=_maybe(st.integers(1, 2_000)),
    max_open_positions=_maybe(st.integers(1, 5)),
    max_position_qty_per_instrument=_maybe(st.integers(1, 2_000)),
    max_position_value_per_instrument=_maybe(_rupees(1_000, 5_000_000)),
    max_gross_exposure=_maybe(_rupees(10_000, 20_000_000)),
    risk_per_trade_pct=_maybe(st.sampled_from([Decimal("0.5"), Decimal(1), Decimal(2)])),
    daily_loss_limit=_maybe(_rupees(1_000, 100_000)),
    max_drawdown_from_peak=_maybe(_rupees(1_000, 100_000)),
    max_drawdown_from_peak_pct=_maybe(st.sampled_from([Decimal(1), Decimal("2.5"), Decimal(5)])),
    price_band_pct=_maybe(st.sampled_from([Decimal(1), Decimal(5), Decimal(20)])),
    orders_per_second=st.integers(1, 10),
    rate_limit_counts_modify_cancel=st.booleans(),
    duplicate_window_s=st.sampled_from([Decimal(0), Decimal(1), Decimal(3)]),
    otr_warn=st.just(None),
    otr_block=_maybe(st.integers(1, 6)),
    allow_amo=st.booleans(),
    min_reward_risk=_maybe(st.sampled_from([Decimal(1), Decimal("1.5"), Decimal(3)])),
    kill_switch_on_daily_loss=st.booleans(),
    kill_switch_on_drawdown=st.booleans(),
)


@st.composite
def wild_orders(draw: st.DrawFn) -> OrderCheck:
    """Anything, including malformed orders."""
    inst = draw(st.sampled_from(INSTRUMENTS))
    tick = inst.tick_size
    ltp = draw(st.one_of(st.just(0), st.integers(20, 60_000).map(lambda n: n * tick)))
    base = ltp or draw(st.integers(20, 60_000)) * tick

    def near() -> int:
        # mostly on the tick grid near the base price, sometimes anywhere
        return draw(
            st.one_of(
                st.integers(-base // 8 // tick, base // 8 // tick).map(lambda k: base + k * tick),
                st.integers(-10, base * 2),
            )
        )

    kind = draw(st.sampled_from(list(OrderType)))
    price = near() if kind in (OrderType.LIMIT, OrderType.SL) or draw(st.booleans()) else 0
    trigger = near() if kind in (OrderType.SL, OrderType.SL_M) or draw(st.booleans()) else 0
    circuit = draw(st.booleans())
    return OrderCheck(
        token=inst.token if draw(st.integers(0, 10)) else "bad",
        instrument=draw(st.sampled_from([inst, NIFTY_INDEX])) if draw(st.booleans()) else inst,
        side=draw(st.sampled_from(list(Side))),
        order_type=kind,
        product=draw(st.sampled_from(list(Product))),
        validity=draw(st.sampled_from(list(Validity))),
        qty=draw(
            st.one_of(st.integers(1, 40).map(lambda n: n * inst.lot_size), st.integers(-3, 3_000))
        ),
        price=price,
        trigger=trigger,
        ltp=ltp,
        reference=draw(st.one_of(st.just(0), st.just(base))),
        upper_circuit=base + base // 10 if circuit else 0,
        lower_circuit=base - base // 10 if circuit else 0,
        stop_loss=draw(st.one_of(st.just(0), st.integers(-5, base * 2))),
        target=draw(st.one_of(st.just(0), st.integers(-5, base * 2))),
        is_exit=draw(st.booleans()),
        confirmed=draw(st.booleans()),
    )


@st.composite
def clean_orders(draw: st.DrawFn) -> OrderCheck:
    """Well-formed orders near the market, so that the limit checks are reached."""
    inst = draw(st.sampled_from(INSTRUMENTS))
    tick = inst.tick_size
    ltp = draw(st.integers(200, 60_000)) * tick
    steps_1pct = max(ltp // 100 // tick, 1)
    side = draw(st.sampled_from(list(Side)))
    sign = side.sign
    kind = draw(st.sampled_from(list(OrderType)))
    price = trigger = 0
    if kind is OrderType.LIMIT:
        price = ltp + draw(st.integers(-steps_1pct, steps_1pct)) * tick
    elif kind in (OrderType.SL, OrderType.SL_M):
        # a stop beyond the LTP in the order's direction (buy stops above, sell stops below)
        trigger = ltp + sign * draw(st.integers(1, steps_1pct)) * tick
        if kind is OrderType.SL:
            price = trigger + sign * draw(st.integers(0, 3)) * tick
    entry = price or trigger or ltp
    risk_steps = draw(st.integers(1, 3 * steps_1pct))
    stop = entry - sign * risk_steps * tick
    target = entry + sign * draw(st.integers(1, 6 * steps_1pct)) * tick
    product = draw(st.sampled_from([Product.MIS, Product.NRML]))
    if inst.instrument_type is InstrumentType.EQUITY:
        product = draw(st.sampled_from([Product.MIS, Product.CNC]))
    circuit = draw(st.booleans())
    return OrderCheck(
        token=inst.token,
        instrument=inst,
        side=side,
        order_type=kind,
        product=product,
        validity=Validity.DAY,
        qty=draw(st.integers(1, 30)) * inst.lot_size,
        price=price,
        trigger=trigger,
        ltp=ltp,
        reference=ltp,
        upper_circuit=ltp + ltp // 10 if circuit else 0,
        lower_circuit=ltp - ltp // 10 if circuit else 0,
        stop_loss=draw(st.sampled_from([0, stop, stop])) if stop > 0 else 0,
        target=draw(st.sampled_from([0, target, target])),
        is_exit=draw(st.integers(0, 4)) == 0,
        confirmed=draw(st.integers(0, 4)) == 0,
    )


orders = st.one_of(clean_orders(), clean_orders(), clean_orders(), wild_orders())


@st.composite
def wild_states(draw: st.DrawFn) -> RiskState:
    peak = draw(st.integers(100_000_00, 2_000_000_00))
    return RiskState(
        funds_available=draw(st.integers(-100_000_00, 5_000_000_00)),
        required_margin=draw(st.integers(0, 2_000_000_00)),
        open_positions=draw(st.integers(0, 6)),
        position_qty=draw(
            st.one_of(
                st.just(0), st.integers(-20, 20).map(lambda n: n * 65), st.integers(-500, 500)
            )
        ),
        gross_exposure=draw(st.integers(0, 20_000_000_00)),
        day_pnl=draw(st.integers(-150_000_00, 50_000_00)),
        peak_equity=peak,
        equity=peak - draw(st.integers(0, 150_000_00)),
        capital_base=draw(st.integers(0, 5_000_000_00)),
        open_orders=draw(st.integers(0, 5)),
        phase=draw(st.sampled_from(list(SessionPhase))),
        open_exit_qty=draw(st.one_of(st.just(0), st.integers(0, 300))),
    )


@st.composite
def calm_states(draw: st.DrawFn) -> RiskState:
    """An account in the continuous session with room to trade (limits decide)."""
    peak = draw(st.integers(500_000_00, 5_000_000_00))
    funds = draw(st.integers(100_000_00, 50_000_000_00))
    return RiskState(
        funds_available=funds,
        required_margin=draw(st.integers(0, funds)),
        open_positions=draw(st.integers(0, 4)),
        position_qty=draw(st.one_of(st.just(0), st.integers(-20, 20).map(lambda n: n * 65))),
        gross_exposure=draw(st.integers(0, 5_000_000_00)),
        day_pnl=draw(st.integers(-20_000_00, 50_000_00)),
        peak_equity=peak,
        equity=peak - draw(st.integers(0, 20_000_00)),
        capital_base=draw(st.integers(1_000_000_00, 10_000_000_00)),
        open_orders=draw(st.integers(0, 5)),
        phase=draw(st.sampled_from([SessionPhase.CONTINUOUS] * 4 + [SessionPhase.CLOSED])),
        open_exit_qty=draw(st.sampled_from([0, 0, 65])),
    )


states = st.one_of(calm_states(), calm_states(), calm_states(), wild_states())


steps = st.lists(
    st.tuples(orders, states, st.integers(0, 400 * MS), st.booleans(), st.booleans()),
    min_size=1,
    max_size=12,
)
"""(order, state, time step, sliced?, repeat the previous order?) per step."""

Step = tuple[OrderCheck, RiskState, int, bool, bool]


# ---------------------------------------------------------------------------------------------
# Independent verification of an accepted order


def _reduces(o: OrderCheck, s: RiskState) -> bool:
    pos = s.position_qty
    if pos == 0 or o.qty <= 0:
        return False
    opposite = (pos > 0 and o.side is Side.SELL) or (pos < 0 and o.side is Side.BUY)
    return opposite and o.qty + s.open_exit_qty <= abs(pos)


def _valuation(o: OrderCheck) -> int | None:
    if o.order_type in (OrderType.LIMIT, OrderType.SL):
        return o.price
    if o.order_type is OrderType.SL_M:
        return o.trigger
    return o.ltp or o.reference or None


def verify_accepted(
    cfg: RiskConfig,
    o: OrderCheck,
    s: RiskState,
    switch_before: KillSwitchState,
    sliced: bool,
    slices: tuple[int, ...],
) -> None:
    """Assert, without using the checker, that ``o`` meets every rule and enabled limit."""
    inst = o.instrument
    # the order itself
    assert o.token == inst.token and inst.tradable
    assert o.qty > 0
    assert sum(slices) == o.qty
    if o.order_type in (OrderType.LIMIT, OrderType.SL):
        assert o.price > 0
    else:
        assert o.price == 0
    if o.order_type in (OrderType.SL, OrderType.SL_M):
        assert o.trigger > 0
    else:
        assert o.trigger == 0
    # exchange rules
    assert o.qty % inst.lot_size == 0
    assert o.price % inst.tick_size == 0 and o.trigger % inst.tick_size == 0
    if inst.freeze_qty:
        cap = effective_freeze(inst.freeze_qty, inst.lot_size)
        assert all(0 < q <= cap and q % inst.lot_size == 0 for q in slices)
        assert len(slices) <= MAX_SLICES
        if not sliced:
            assert o.qty <= cap
    for p in (o.price, o.trigger):
        if p:
            assert not o.upper_circuit or p <= o.upper_circuit
            assert not o.lower_circuit or p >= o.lower_circuit
    if o.order_type is OrderType.SL:
        assert o.trigger <= o.price if o.side is Side.BUY else o.trigger >= o.price
    if o.order_type in (OrderType.SL, OrderType.SL_M) and o.ltp:
        assert o.trigger > o.ltp if o.side is Side.BUY else o.trigger < o.ltp
    pct = cfg.price_band_pct
    if pct is not None and o.order_type in (OrderType.LIMIT, OrderType.SL):
        ref = o.trigger if o.order_type is OrderType.SL else (o.ltp or o.reference)
        assert ref > 0
        assert Fraction(abs(o.price - ref) * 100) <= Fraction(pct) * ref
    # session
    assert s.phase.accepts_orders or (s.phase is SessionPhase.CLOSED and cfg.allow_amo)
    # exits must really reduce
    if o.is_exit:
        assert _reduces(o, s)
    exit_ok = o.is_exit and _reduces(o, s)
    # kill switch
    assert switch_before is KillSwitchState.ARMED or (
        switch_before is KillSwitchState.TRIGGERED and exit_ok
    )
    if exit_ok:
        return
    # loss limits
    if cfg.daily_loss_limit is not None:
        assert -s.day_pnl < cfg.daily_loss_limit * 100
    fall = s.peak_equity - s.equity
    if cfg.max_drawdown_from_peak is not None:
        assert fall < cfg.max_drawdown_from_peak * 100
    if cfg.max_drawdown_from_peak_pct is not None and fall > 0:
        assert fall * 100 < Fraction(cfg.max_drawdown_from_peak_pct) * s.peak_equity
    # exposure limits (all instruments here are priced in paise)
    value_price = _valuation(o)
    old, new = s.position_qty, s.position_qty + o.side.sign * o.qty
    grows = abs(new) > abs(old)
    if cfg.max_order_qty is not None:
        assert o.qty <= cfg.max_order_qty
    if cfg.max_order_value is not None:
        assert value_price is not None
        assert o.qty * value_price <= cfg.max_order_value * 100
    if cfg.max_position_qty_per_instrument is not None and grows:
        assert abs(new) <= cfg.max_position_qty_per_instrument
    if cfg.max_position_value_per_instrument is not None and grows:
        assert value_price is not None
        assert abs(new) * value_price <= cfg.max_position_value_per_instrument * 100
    if cfg.max_open_positions is not None and old == 0:
        assert s.open_positions < cfg.max_open_positions
    if cfg.max_gross_exposure is not None and grows:
        assert value_price is not None
        added = (abs(new) - abs(old)) * value_price
        assert s.gross_exposure + added <= cfg.max_gross_exposure * 100
    assert s.required_margin <= s.funds_available
    if cfg.risk_per_trade_pct is not None:
        assert value_price is not None and o.stop_loss > 0 and s.capital_base > 0
        if o.side is Side.BUY:
            assert o.stop_loss < value_price
        else:
            assert o.stop_loss > value_price
        risk = abs(value_price - o.stop_loss) * o.qty
        assert risk * 100 <= Fraction(cfg.risk_per_trade_pct) * s.capital_base
    if cfg.min_reward_risk is not None:
        assert value_price is not None and o.stop_loss > 0 and o.target > 0
        reward = o.target - value_price if o.side is Side.BUY else value_price - o.target
        assert reward > 0
        assert Fraction(reward, abs(value_price - o.stop_loss)) >= Fraction(cfg.min_reward_risk)


@dataclass
class Run:
    """Decisions of one run of a sequence, with the times of every slot used per segment."""

    decisions: list[RiskDecision]
    used: dict[str, list[int]]


def run(cfg: RiskConfig, seq: list[Step]) -> Run:
    clock = SimClock(START)
    risk = PreTradeRisk(cfg, clock)
    decisions: list[RiskDecision] = []
    used: dict[str, list[int]] = {}
    previous: OrderCheck | None = None
    for step_order, s, dt, sliced, repeat in seq:
        o = previous if repeat and previous is not None else step_order
        previous = o
        clock.advance(dt)
        before_state = risk.kill_switch.state
        seg = o.segment
        free_before = risk.rate_limiter.available(seg, clock.now_ns())
        first = risk.evaluate_all(o, s)
        assert risk.rate_limiter.available(seg, clock.now_ns()) == free_before
        assert risk.kill_switch.state is before_state
        d = risk.check_sliced(o, s) if sliced else risk.check(o, s)
        decisions.append(d)
        event(f"rejected by {d.rejection.check}" if d.rejection else "accepted")
        free_after = risk.rate_limiter.available(seg, clock.now_ns())
        if d.rejection is not None:
            assert d.rejection.check in CHECKS
            assert d.slices == ()
            assert free_after == free_before  # a rejection never consumes a slot
            # check() stops at the first failure evaluate_all lists (sliced: the freeze rule
            # and the slot count differ, and a rate-limit refusal can only come last)
            if not sliced and first:
                assert d.rejection.check == first[0].check
        else:
            assert free_after == free_before - len(d.slices)
            if not sliced:
                assert first == []
            verify_accepted(cfg, o, s, before_state, sliced, d.slices)
            used.setdefault(seg, []).extend([clock.now_ns()] * len(d.slices))
    return Run(decisions, used)


# ---------------------------------------------------------------------------------------------
# Properties


@FAST
@given(cfg=configs, seq=steps)
def test_accepted_orders_satisfy_every_enabled_limit(cfg: RiskConfig, seq: list[Step]) -> None:
    result = run(cfg, seq)
    per_second = cfg.orders_per_second
    for times in result.used.values():
        for i in range(len(times) - per_second):
            assert times[i + per_second] - times[i] >= NS_PER_SECOND


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs, seq=steps)
def test_decisions_are_deterministic(cfg: RiskConfig, seq: list[Step]) -> None:
    first, second = run(cfg, seq), run(cfg, seq)
    assert first.decisions == second.decisions
    assert first.used == second.used


@settings(max_examples=300, deadline=None)
@given(
    per_window=st.integers(1, 10),
    requests=st.lists(
        st.tuples(
            st.integers(0, 300 * MS),
            st.integers(1, 3),
            st.sampled_from(["NSE", "NFO"]),
            st.sampled_from(list(OrderAction)),
        ),
        max_size=120,
    ),
    count_modify_cancel=st.booleans(),
)
def test_rate_limiter_never_admits_more_than_n_in_any_second(
    per_window: int,
    requests: list[tuple[int, int, str, OrderAction]],
    count_modify_cancel: bool,
) -> None:
    limiter = OrderRateLimiter(per_window, count_modify_cancel=count_modify_cancel)
    now = 0
    admitted: dict[str, list[int]] = {}
    for gap, n, segment, action in requests:
        now += gap
        free = limiter.available(segment, now)
        wait = limiter.time_until_available(segment, now, min(n, per_window))
        ok = limiter.try_acquire_many(segment, n, now, action)
        counted = action is OrderAction.NEW or count_modify_cancel
        if not counted:
            assert ok
            continue
        recent = [t for t in admitted.get(segment, []) if t > now - NS_PER_SECOND]
        assert free == per_window - len(recent)
        # admitted exactly when the window has room (the limiter is strict, not stingy)
        assert ok == (n <= per_window and len(recent) + n <= per_window)
        assert (wait == 0) == (len(recent) + min(n, per_window) <= per_window)
        if ok:
            admitted.setdefault(segment, []).extend([now] * n)
    for times in admitted.values():
        for i in range(len(times) - per_window):
            assert times[i + per_window] - times[i] >= NS_PER_SECOND


@settings(max_examples=300, deadline=None)
@given(
    qty=st.integers(1, 60_000),
    lot=st.integers(1, 200),
    freeze=st.one_of(st.none(), st.integers(0, 5_000)),
    max_slices=st.integers(1, MAX_SLICES),
)
def test_slicing_conserves_quantity_within_the_rules(
    qty: int, lot: int, freeze: int | None, max_slices: int
) -> None:
    inst = Instrument("1", Exchange.NFO, "X", "X", InstrumentType.FUTSTK, lot_size=lot)
    qty = max(qty - qty % lot, lot) if qty % 3 else qty  # mostly lot multiples
    try:
        slices = slice_quantity(qty, inst, freeze, max_slices)
    except SlicingError as exc:
        cap = effective_freeze(freeze or 0, lot) if freeze else None
        assert qty % lot != 0 or cap == 0 or (cap is not None and -(-qty // cap) > max_slices), str(
            exc
        )
        assert str(qty) in str(exc) or f"freeze quantity {freeze}" in str(exc)
        return
    assert sum(slices) == qty
    assert all(q > 0 and q % lot == 0 for q in slices)
    assert 1 <= len(slices) <= max_slices
    if freeze:
        cap = effective_freeze(freeze, lot)
        assert all(q <= cap for q in slices)
        assert len(slices) == -(-qty // cap)  # as few slices as possible
