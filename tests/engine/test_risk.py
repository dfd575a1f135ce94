"""Example tests for the pre-trade risk checks, the config, the rate limiter and slicing.

Every check is shown passing and failing, and the failure message is asserted with its numbers.
"""

from __future__ import annotations

import dataclasses
from datetime import date, time
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from engine.clock import NS_PER_SECOND, SessionPhase, SimClock, ist_ns
from engine.kill_switch import KillSwitchSource, KillSwitchState
from engine.models import (
    ClientOrderId,
    Exchange,
    Fill,
    Instrument,
    InstrumentType,
    OptionKind,
    OrderType,
    Product,
    Side,
    TradeId,
    Validity,
    VenueOrderId,
)
from engine.portfolio import Portfolio
from engine.rate_limit import OrderAction, OrderRateLimiter, RateLimitError
from engine.risk import (
    CHECKS,
    OrderCheck,
    PreTradeRisk,
    RiskInputError,
    RiskState,
)
from engine.risk_config import RiskConfig
from engine.slicing import SlicingError, effective_freeze, slice_quantity

DAY = date(2026, 4, 7)  # a Tuesday
START = ist_ns(DAY, time(10, 0))
MS = 1_000_000


def rs(text: str) -> int:
    """Rupees to paise, exactly."""
    return int(Decimal(text) * 100)


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
    strike=rs("24000"),
    option_kind=OptionKind.CE,
    freeze_qty=1800,
)
NIFTY_INDEX = Instrument("99926000", Exchange.NSE, "Nifty 50", "NIFTY", InstrumentType.INDEX)


def order(inst: Instrument = INFY, **kw: Any) -> OrderCheck:
    """A valid BUY 10 LIMIT @ ₹1,500.00 with LTP ₹1,500.00 unless overridden."""
    base: dict[str, Any] = {
        "token": inst.token,
        "instrument": inst,
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "product": Product.MIS,
        "validity": Validity.DAY,
        "qty": 10,
        "price": rs("1500"),
        "ltp": rs("1500"),
        "client_order_id": ClientOrderId("c1"),
    }
    base.update(kw)
    return OrderCheck(**base)


def state(**kw: Any) -> RiskState:
    """A healthy account in the continuous session unless overridden."""
    base: dict[str, Any] = {
        "funds_available": rs("1000000"),
        "required_margin": rs("3000"),
        "open_positions": 0,
        "position_qty": 0,
        "gross_exposure": 0,
        "day_pnl": 0,
        "peak_equity": rs("1000000"),
        "equity": rs("1000000"),
        "capital_base": rs("1000000"),
        "open_orders": 0,
        "phase": SessionPhase.CONTINUOUS,
    }
    base.update(kw)
    return RiskState(**base)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(START)


def make(clock: SimClock, **cfg: Any) -> PreTradeRisk:
    return PreTradeRisk(RiskConfig(**cfg), clock)


def reject(risk: PreTradeRisk, o: OrderCheck, s: RiskState | None = None) -> tuple[str, str]:
    decision = risk.check(o, s or state())
    assert decision.rejection is not None, "expected a rejection"
    assert decision.slices == ()
    return decision.rejection.check, decision.rejection.message


def accept(risk: PreTradeRisk, o: OrderCheck, s: RiskState | None = None) -> None:
    decision = risk.check(o, s or state())
    assert decision.accepted, decision.rejection
    assert decision.slices == (o.qty,)


# ---------------------------------------------------------------------------------------------
# Config


def test_config_defaults_are_safe() -> None:
    limits = RiskConfig().limits()
    assert limits.orders_per_second == 10
    assert limits.count_modify_cancel is True
    assert limits.price_band_pct == 5
    assert limits.duplicate_window_ns == 3 * NS_PER_SECOND
    assert limits.kill_on_daily_loss and limits.kill_on_drawdown
    assert limits.allow_amo is False
    assert limits.max_order_value is None and limits.daily_loss_limit is None


def test_config_converts_rupees_to_paise_exactly() -> None:
    cfg = RiskConfig.model_validate(
        {
            "max_order_value": Decimal("100000.50"),
            "daily_loss_limit": "2500",
            "max_gross_exposure": 7,
        }
    )
    limits = cfg.limits()
    assert limits.max_order_value == 10_000_050
    assert limits.daily_loss_limit == 250_000
    assert limits.max_gross_exposure == 700


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("orders_per_second", 11, "orders_per_second must be between 1 and 10"),
        ("orders_per_second", 0, "orders_per_second must be between 1 and 10"),
        ("max_order_value", Decimal("-5"), "max_order_value must be a positive rupee amount"),
        ("max_order_value", Decimal("10.005"), "max_order_value must be whole paise"),
        ("daily_loss_limit", Decimal("0"), "daily_loss_limit must be a positive rupee amount"),
        ("price_band_pct", Decimal("0"), "price_band_pct is a percentage"),
        ("risk_per_trade_pct", Decimal("101"), "risk_per_trade_pct is a percentage"),
        ("max_order_qty", 0, "max_order_qty must be a positive whole number"),
        ("max_order_qty", True, "max_order_qty must be a whole number, not True"),
        ("duplicate_window_s", Decimal("-1"), "duplicate_window_s must be between 0"),
        ("min_reward_risk", Decimal("0"), "min_reward_risk must be a positive ratio"),
    ],
)
def test_config_errors_name_the_field(field: str, value: object, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        RiskConfig.model_validate({field: value})
    assert fragment in str(info.value)
    assert field in str(info.value)


def test_config_refuses_unknown_keys_and_misordered_otr() -> None:
    with pytest.raises(ValidationError) as info:
        RiskConfig(max_order_vaule=Decimal(1))  # type: ignore[call-arg]
    assert "max_order_vaule" in str(info.value)
    with pytest.raises(ValidationError) as info:
        RiskConfig(otr_warn=500, otr_block=500)
    assert "otr_warn (500) must be below otr_block (500)" in str(info.value)


def test_config_switches_limits_off_with_none() -> None:
    limits = RiskConfig(price_band_pct=None, otr_warn=None, otr_block=None).limits()
    assert limits.price_band_pct is None and limits.otr_block is None


# ---------------------------------------------------------------------------------------------
# Inputs


def test_wrong_input_types_raise() -> None:
    with pytest.raises(RiskInputError, match=r"OrderCheck\.qty must be an int"):
        order(qty=1.5)
    with pytest.raises(RiskInputError, match=r"OrderCheck\.side must be a Side"):
        order(side="BUY")
    with pytest.raises(RiskInputError, match=r"RiskState\.open_positions cannot be negative"):
        state(open_positions=-1)
    with pytest.raises(RiskInputError, match=r"RiskState\.phase must be a SessionPhase"):
        state(phase="CONTINUOUS")


def test_check_names_are_stable_and_unique() -> None:
    assert len(set(CHECKS)) == len(CHECKS)
    assert CHECKS[0] == "instrument" and CHECKS[-1] == "rate_limit"
    assert CHECKS.index("kill_switch") < CHECKS.index("funds") < CHECKS.index("duplicate")


# ---------------------------------------------------------------------------------------------
# Order well-formedness


def test_instrument_check(clock: SimClock) -> None:
    risk = make(clock)
    assert reject(risk, order(token="9999")) == (
        "instrument",
        "order token '9999' does not match the instrument NSE:INFY-EQ (token '1594')",
    )
    check, message = reject(risk, order(NIFTY_INDEX))
    assert check == "instrument"
    assert "NSE:Nifty 50 is an index and cannot be traded" in message
    accept(risk, order())


def test_quantity_check(clock: SimClock) -> None:
    risk = make(clock)
    assert reject(risk, order(qty=0)) == (
        "quantity",
        "quantity must be a positive number of units, got 0",
    )
    assert reject(risk, order(qty=-5))[0] == "quantity"


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"order_type": OrderType.MARKET}, "a MARKET order carries no limit price (got ₹1,500.00)"),
        ({"price": 0}, "a LIMIT order needs a limit price above ₹0"),
        ({"order_type": OrderType.SL}, "a SL order needs a trigger price above ₹0"),
        (
            {"order_type": OrderType.SL_M, "price": 0},
            "a SL-M order needs a trigger price above ₹0",
        ),
        ({"trigger": rs("1490")}, "only SL and SL-M orders carry a trigger price"),
        ({"price": -5}, "price cannot be negative, got -₹0.05"),
        (
            {"upper_circuit": rs("1600"), "lower_circuit": rs("1700")},
            "lower circuit ₹1,700.00 is above the upper circuit ₹1,600.00",
        ),
    ],
)
def test_order_fields_check(clock: SimClock, kw: dict[str, Any], fragment: str) -> None:
    check, message = reject(make(clock), order(**kw))
    assert check == "order_fields"
    assert fragment in message


# ---------------------------------------------------------------------------------------------
# Kill switch and session


def test_kill_switch_check(clock: SimClock) -> None:
    risk = make(clock)
    risk.kill_switch.trigger("manual stop", KillSwitchSource.MANUAL, START)
    check, message = reject(risk, order())
    assert check == "kill_switch"
    assert "kill switch TRIGGERED at 2026-04-07 10:00:00 IST (manual: manual stop)" in message
    exit_order = order(side=Side.SELL, is_exit=True)
    accept(risk, exit_order, state(position_qty=10))
    risk.kill_switch.mark_flat(0, 0, START)
    check, message = reject(risk, order(side=Side.SELL, is_exit=True, price=rs("1495")))
    assert check == "kill_switch"
    assert "LOCKED" in message and "REARM" in message


@pytest.mark.parametrize(
    ("phase", "kw", "fragment"),
    [
        (SessionPhase.CLOSED, {}, "NSE is closed for order entry (phase CLOSED); allow_amo is off"),
        (SessionPhase.PRE_OPEN_MATCH, {}, "NSE takes no orders during PRE_OPEN_MATCH"),
        (SessionPhase.CLOSING, {}, "NSE takes no orders during CLOSING"),
        (
            SessionPhase.PRE_OPEN,
            {"order_type": OrderType.SL, "trigger": rs("1505"), "price": rs("1510")},
            "NSE pre-open takes only LIMIT and MARKET orders, not SL",
        ),
        (SessionPhase.PRE_OPEN, {"validity": Validity.IOC}, "pre-open takes only DAY orders"),
        (
            SessionPhase.POST_CLOSE,
            {},
            "closing session (15:40-16:00) takes only CNC equity orders, not MIS EQ",
        ),
    ],
)
def test_market_hours_rejections(
    clock: SimClock, phase: SessionPhase, kw: dict[str, Any], fragment: str
) -> None:
    check, message = reject(make(clock), order(**kw), state(phase=phase))
    assert check == "market_hours"
    assert fragment in message


def test_market_hours_acceptances(clock: SimClock) -> None:
    risk = make(clock, duplicate_window_s=0)
    accept(risk, order(), state(phase=SessionPhase.PRE_OPEN))
    accept(risk, order(product=Product.CNC), state(phase=SessionPhase.POST_CLOSE))
    check, message = reject(
        risk,
        order(NIFTY_CE, qty=65, price=rs("120"), ltp=rs("120")),
        state(phase=SessionPhase.PRE_OPEN),
    )
    assert (check, message) == (
        "market_hours",
        "NFO pre-open is for equities and futures only, not options",
    )
    amo = make(clock, allow_amo=True)
    decision = amo.check(order(), state(phase=SessionPhase.CLOSED))
    assert decision.accepted
    assert [w.check for w in decision.warnings] == ["market_hours"]
    assert "after-market order (AMO)" in decision.warnings[0].message


# ---------------------------------------------------------------------------------------------
# Exits


def test_reduce_only_check(clock: SimClock) -> None:
    risk = make(clock, duplicate_window_s=0)
    sell_exit = order(side=Side.SELL, is_exit=True)
    assert reject(risk, sell_exit) == (
        "reduce_only",
        "exit order but there is no open MIS position in INFY-EQ",
    )
    assert reject(risk, order(is_exit=True), state(position_qty=10)) == (
        "reduce_only",
        "an exit of the long 10 INFY-EQ must SELL; a BUY would add to the position",
    )
    assert reject(risk, sell_exit, state(position_qty=15, open_exit_qty=8)) == (
        "reduce_only",
        "exit of 10 plus 8 already working exceeds the position of 15 INFY-EQ; exit at most 7",
    )
    accept(risk, sell_exit, state(position_qty=15, open_exit_qty=5))
    accept(risk, order(is_exit=True), state(position_qty=-10))


def test_verified_exit_skips_loss_and_exposure_limits(clock: SimClock) -> None:
    risk = make(
        clock,
        daily_loss_limit=Decimal(1000),
        max_order_value=Decimal(100),
        max_order_qty=1,
        kill_switch_on_daily_loss=False,
    )
    broke = state(position_qty=10, day_pnl=rs("-5000"), funds_available=0)
    accept(risk, order(side=Side.SELL, is_exit=True), broke)
    # the same order without the exit flag meets every limit
    check, _ = reject(risk, order(side=Side.SELL, price=rs("1495")), broke)
    assert check == "daily_loss"


def test_exit_never_skips_exchange_rules(clock: SimClock) -> None:
    risk = make(clock)
    check, _ = reject(
        risk, order(side=Side.SELL, is_exit=True, price=rs("1500.03")), state(position_qty=10)
    )
    assert check == "tick_size"
    check, _ = reject(
        risk, order(side=Side.SELL, is_exit=True, price=rs("1200")), state(position_qty=10)
    )
    assert check == "price_band"


# ---------------------------------------------------------------------------------------------
# Exchange rules


def test_lot_size_check(clock: SimClock) -> None:
    risk = make(clock)
    fut = order(NIFTY_FUT, qty=70, price=rs("24000"), ltp=rs("24000"))
    assert reject(risk, fut) == (
        "lot_size",
        "quantity 70 of NIFTY26APRFUT is not a multiple of the lot size 65 (quantities are "
        "units, not lots): use 65 or 130",
    )
    _, message = reject(risk, dataclasses.replace(fut, qty=30))
    assert message.endswith("use 65")
    accept(risk, dataclasses.replace(fut, qty=130))


def test_tick_size_check(clock: SimClock) -> None:
    risk = make(clock)
    assert reject(risk, order(price=rs("1500.03"))) == (
        "tick_size",
        "price ₹1,500.03 is not a multiple of the tick ₹0.05 for INFY-EQ: use ₹1,500.00 or "
        "₹1,500.05",
    )
    check, message = reject(
        risk,
        order(order_type=OrderType.SL_M, price=0, trigger=rs("1510.02"), ltp=rs("1500")),
    )
    assert check == "tick_size" and message.startswith("trigger ₹1,510.02")
    accept(risk, order(price=rs("1500.05")))


def test_freeze_qty_check_and_sliced_orders(clock: SimClock) -> None:
    risk = make(clock)
    fut = order(NIFTY_FUT, qty=1820, price=rs("24000"), ltp=rs("24000"))
    assert reject(risk, fut) == (
        "freeze_qty",
        "quantity 1820 of NIFTY26APRFUT exceeds the freeze quantity 1800 (at most 1755 units "
        "per order at lot 65); send it as 2 slices",
    )
    decision = risk.check_sliced(fut, state())
    assert decision.accepted
    assert decision.slices == (1755, 65)
    assert "1820 NIFTY26APRFUT goes as 2 slices: 1755 + 65" in decision.warnings[-1].message
    assert risk.rate_limiter.available("NFO", clock.now_ns()) == 8
    accept(risk, dataclasses.replace(fut, qty=1755))


def test_sliced_order_too_large_is_refused_with_numbers(clock: SimClock) -> None:
    risk = make(clock)
    fut = order(NIFTY_FUT, qty=65 * 300, price=rs("24000"), ltp=rs("24000"))
    decision = risk.check_sliced(fut, state())
    assert decision.rejection is not None
    assert decision.rejection.check == "freeze_qty"
    assert decision.rejection.message == (
        "quantity 19500 of NFO:NIFTY26APRFUT needs 12 slices of at most 1755 units (freeze 1800, "
        "lot 65); at most 10 slices are allowed, so the largest order is 17550 units"
    )
    assert risk.rate_limiter.available("NFO", clock.now_ns()) == 10


def test_sliced_order_limits_apply_to_the_whole_order(clock: SimClock) -> None:
    risk = make(clock, max_order_value=Decimal(5_000_000))
    fut = order(NIFTY_FUT, qty=1820, price=rs("24000"), ltp=rs("24000"))
    decision = risk.check_sliced(fut, state())
    assert decision.rejection is not None
    assert decision.rejection.message == (
        "order value ₹4,36,80,000.00 exceeds max_order_value ₹50,00,000.00"
    )


def test_sliced_order_needs_all_its_slots_at_once(clock: SimClock) -> None:
    risk = make(clock, duplicate_window_s=0)
    fut = order(NIFTY_FUT, qty=65, price=rs("24000"), ltp=rs("24000"))
    for _ in range(9):
        accept(risk, fut)
    big = dataclasses.replace(fut, qty=1820)
    decision = risk.check_sliced(big, state())
    assert decision.rejection is not None
    assert decision.rejection.check == "rate_limit"
    assert "2 slots needed, 1 free" in decision.rejection.message
    assert risk.rate_limiter.available("NFO", clock.now_ns()) == 1


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"order_type": OrderType.SL, "trigger": rs("1520"), "price": rs("1510")},
            "a BUY SL's trigger ₹1,520.00 must be at or below its limit price ₹1,510.00",
        ),
        (
            {
                "order_type": OrderType.SL,
                "side": Side.SELL,
                "trigger": rs("1480"),
                "price": rs("1490"),
            },
            "a SELL SL's trigger ₹1,480.00 must be at or above its limit price ₹1,490.00",
        ),
        (
            {"order_type": OrderType.SL_M, "price": 0, "trigger": rs("1495")},
            "a BUY stop's trigger ₹1,495.00 must be above the LTP ₹1,500.00 (it would fire at "
            "once; use a LIMIT order)",
        ),
        (
            {"order_type": OrderType.SL_M, "side": Side.SELL, "price": 0, "trigger": rs("1500")},
            "a SELL stop's trigger ₹1,500.00 must be below the LTP ₹1,500.00 (it would fire at "
            "once; use a LIMIT order)",
        ),
    ],
)
def test_trigger_check(clock: SimClock, kw: dict[str, Any], message: str) -> None:
    assert reject(make(clock), order(**kw)) == ("trigger", message)


def test_trigger_check_passes_valid_stops(clock: SimClock) -> None:
    risk = make(clock)
    accept(risk, order(order_type=OrderType.SL, trigger=rs("1505"), price=rs("1510")))
    accept(risk, order(order_type=OrderType.SL_M, side=Side.SELL, price=0, trigger=rs("1450")))


def test_circuit_check(clock: SimClock) -> None:
    risk = make(clock, price_band_pct=None)
    circuits: dict[str, Any] = {"upper_circuit": rs("1650"), "lower_circuit": rs("1350")}
    assert reject(risk, order(price=rs("1700"), **circuits)) == (
        "circuit",
        "limit price ₹1,700.00 is above the upper circuit ₹1,650.00 of INFY-EQ",
    )
    assert reject(risk, order(price=rs("1300"), **circuits)) == (
        "circuit",
        "limit price ₹1,300.00 is below the lower circuit ₹1,350.00 of INFY-EQ",
    )
    sl = order(order_type=OrderType.SL_M, side=Side.SELL, price=0, trigger=rs("1340"), **circuits)
    assert reject(risk, sl) == (
        "circuit",
        "trigger ₹1,340.00 is below the lower circuit ₹1,350.00 of INFY-EQ",
    )
    accept(risk, order(price=rs("1650"), **circuits))
    accept(risk, order(price=rs("1700")))  # circuits unknown


def test_price_band_check(clock: SimClock) -> None:
    risk = make(clock, duplicate_window_s=0)
    assert reject(risk, order(price=rs("1200"), ltp=rs("1000"))) == (
        "price_band",
        "limit price ₹1,200.00 is 20% from the LTP ₹1,000.00; price_band_pct allows 5% "
        "(₹950.00 to ₹1,050.00)",
    )
    _, message = reject(risk, order(price=rs("1050.05"), ltp=rs("1000")))
    assert "is 5.01% from the LTP" in message
    accept(risk, order(price=rs("1050"), ltp=rs("1000")))
    accept(risk, order(price=rs("950"), ltp=rs("1000")))
    # previous close when the LTP is unknown
    _, message = reject(risk, order(price=rs("1200"), ltp=0, reference=rs("1000")))
    assert "from the previous close (LTP unknown) ₹1,000.00" in message
    assert reject(risk, order(ltp=0)) == (
        "price_band",
        "no LTP or previous close known for INFY-EQ: the limit price ₹1,500.00 cannot be checked "
        "against price_band_pct 5%; wait for a quote",
    )
    # SL: the limit is banded around its trigger, where it becomes a limit order
    sl = order(order_type=OrderType.SL, trigger=rs("1600"), price=rs("1700"))
    assert reject(risk, sl) == (
        "price_band",
        "limit price ₹1,700.00 is 6.25% from its trigger ₹1,600.00; price_band_pct allows 5% "
        "(₹1,520.00 to ₹1,680.00)",
    )
    off = make(clock, price_band_pct=None)
    accept(off, order(price=rs("1200"), ltp=rs("1000")))


# ---------------------------------------------------------------------------------------------
# Loss limits


def test_daily_loss_check_triggers_the_kill_switch_once(clock: SimClock) -> None:
    risk = make(clock, daily_loss_limit=Decimal(50_000))
    accept(risk, order(), state(day_pnl=rs("-49999.99")))
    decision = risk.check(order(price=rs("1500.05")), state(day_pnl=rs("-50000")))
    assert decision.rejection is not None
    assert decision.rejection.check == "daily_loss"
    assert decision.rejection.message == (
        "day P&L -₹50,000.00 has reached daily_loss_limit ₹50,000.00; new orders are blocked "
        "for the day (exits are still accepted)"
    )
    plan = decision.kill_switch
    assert plan is not None
    assert plan.source is KillSwitchSource.DAILY_LOSS
    assert plan.cancel_open_orders and plan.cancel_gtts and plan.flatten_positions
    assert risk.kill_switch.state is KillSwitchState.TRIGGERED
    again = risk.check(order(), state(day_pnl=rs("-60000")))
    assert again.rejection is not None and again.rejection.check == "kill_switch"
    assert again.kill_switch is None


def test_daily_loss_without_auto_kill(clock: SimClock) -> None:
    risk = make(clock, daily_loss_limit=Decimal(50_000), kill_switch_on_daily_loss=False)
    decision = risk.check(order(), state(day_pnl=rs("-70000")))
    assert decision.rejection is not None and decision.rejection.check == "daily_loss"
    assert decision.kill_switch is None
    assert risk.kill_switch.state is KillSwitchState.ARMED


def test_drawdown_checks(clock: SimClock) -> None:
    risk = make(clock, max_drawdown_from_peak=Decimal(20_000), kill_switch_on_drawdown=False)
    s = state(peak_equity=rs("1100000"), equity=rs("1080000"))
    assert reject(risk, order(), s) == (
        "drawdown",
        "equity ₹10,80,000.00 is ₹20,000.00 below the day's peak ₹11,00,000.00; "
        "max_drawdown_from_peak is ₹20,000.00",
    )
    accept(risk, order(), state(peak_equity=rs("1100000"), equity=rs("1080000.01")))
    pct = make(clock, max_drawdown_from_peak_pct=Decimal(2), kill_switch_on_drawdown=False)
    assert reject(pct, order(), state(peak_equity=rs("1000000"), equity=rs("975000"))) == (
        "drawdown",
        "equity ₹9,75,000.00 is ₹25,000.00 (2.50%) below the day's peak ₹10,00,000.00; "
        "max_drawdown_from_peak_pct is 2%",
    )
    accept(pct, order(), state(peak_equity=rs("1000000"), equity=rs("980000.01")))


# ---------------------------------------------------------------------------------------------
# Exposure limits


def test_max_order_qty_check(clock: SimClock) -> None:
    risk = make(clock, max_order_qty=400)
    assert reject(risk, order(qty=500)) == (
        "max_order_qty",
        "quantity 500 exceeds max_order_qty 400",
    )
    accept(risk, order(qty=400))


def test_max_order_value_check(clock: SimClock) -> None:
    risk = make(clock, max_order_value=Decimal(100_000))
    big = order(qty=100, price=rs("1250"), ltp=rs("1250"))
    assert reject(risk, big) == (
        "max_order_value",
        "order value ₹1,25,000.00 exceeds max_order_value ₹1,00,000.00",
    )
    accept(risk, order(qty=80, price=rs("1250"), ltp=rs("1250")))


def test_market_order_valuation(clock: SimClock) -> None:
    risk = make(clock, max_order_value=Decimal(100_000))
    market = order(order_type=OrderType.MARKET, price=0, qty=100, ltp=rs("1250"))
    assert reject(risk, market)[1] == (
        "order value ₹1,25,000.00 exceeds max_order_value ₹1,00,000.00"
    )
    assert reject(risk, dataclasses.replace(market, ltp=0)) == (
        "max_order_value",
        "cannot value the MARKET order for max_order_value: no LTP or previous close known for "
        "INFY-EQ",
    )
    decision = risk.check(dataclasses.replace(market, ltp=0, qty=50, reference=rs("1250")), state())
    assert decision.accepted
    assert decision.warnings[0].message == (
        "LTP of INFY-EQ unknown: the MARKET order was valued at the previous close ₹1,250.00"
    )


def test_max_position_qty_check(clock: SimClock) -> None:
    risk = make(clock, max_position_qty_per_instrument=400, duplicate_window_s=0)
    assert reject(risk, order(qty=300), state(position_qty=200)) == (
        "max_position_qty",
        "position in INFY-EQ would be +500 (now +200); max_position_qty_per_instrument is 400",
    )
    accept(risk, order(qty=200), state(position_qty=200))
    # reducing an oversized position is never blocked
    accept(risk, order(side=Side.SELL, qty=100), state(position_qty=600))
    # flipping through zero counts the new side
    check, message = reject(risk, order(side=Side.SELL, qty=700), state(position_qty=200))
    assert check == "max_position_qty" and "would be -500 (now +200)" in message


def test_max_position_value_check(clock: SimClock) -> None:
    risk = make(clock, max_position_value_per_instrument=Decimal(200_000))
    assert reject(risk, order(qty=100), state(position_qty=50)) == (
        "max_position_value",
        "position in INFY-EQ would be worth ₹2,25,000.00 (150 at ₹1,500.00); "
        "max_position_value_per_instrument is ₹2,00,000.00",
    )
    accept(risk, order(qty=50), state(position_qty=50))


def test_max_open_positions_check(clock: SimClock) -> None:
    risk = make(clock, max_open_positions=3, duplicate_window_s=0)
    assert reject(risk, order(), state(open_positions=3)) == (
        "max_open_positions",
        "this order opens a new position in INFY-EQ; 3 are open and max_open_positions is 3",
    )
    accept(risk, order(), state(open_positions=3, position_qty=5))
    accept(risk, order(), state(open_positions=2))


def test_max_gross_exposure_check(clock: SimClock) -> None:
    risk = make(clock, max_gross_exposure=Decimal(500_000), duplicate_window_s=0)
    s = state(gross_exposure=rs("480000"))
    assert reject(risk, order(qty=20), s) == (
        "max_gross_exposure",
        "gross exposure would be ₹5,10,000.00 (now ₹4,80,000.00 + this order ₹30,000.00); "
        "max_gross_exposure is ₹5,00,000.00",
    )
    accept(risk, order(qty=10), state(gross_exposure=rs("485000")))
    # reducing exposure passes even above the limit
    accept(risk, order(side=Side.SELL, qty=20), state(gross_exposure=rs("900000"), position_qty=50))


def test_funds_check(clock: SimClock) -> None:
    risk = make(clock)
    assert reject(risk, order(), state(required_margin=rs("3000"), funds_available=rs("2500"))) == (
        "funds",
        "required margin ₹3,000.00 exceeds available funds ₹2,500.00 (short by ₹500.00)",
    )
    accept(risk, order(), state(required_margin=rs("3000"), funds_available=rs("3000")))


def test_risk_per_trade_check(clock: SimClock) -> None:
    risk = make(clock, risk_per_trade_pct=Decimal(1), duplicate_window_s=0)
    assert reject(risk, order()) == (
        "risk_per_trade",
        "risk_per_trade_pct is on: the order needs a stop-loss price",
    )
    assert reject(risk, order(stop_loss=rs("1510"))) == (
        "risk_per_trade",
        "a BUY's stop-loss ₹1,510.00 must be below the entry ₹1,500.00",
    )
    # 100 × ₹150 = ₹15,000 > 1 % of ₹10,00,000
    assert reject(risk, order(qty=100, stop_loss=rs("1350"))) == (
        "risk_per_trade",
        "risk to the stop-loss ₹15,000.00 (100 × ₹150.00 from ₹1,500.00 to ₹1,350.00) exceeds "
        "risk_per_trade_pct 1% of capital ₹10,00,000.00 = ₹10,000.00",
    )
    accept(risk, order(qty=100, stop_loss=rs("1400")))
    accept(risk, order(qty=100, side=Side.SELL, stop_loss=rs("1600")))


def test_min_reward_risk_check(clock: SimClock) -> None:
    risk = make(clock, min_reward_risk=Decimal("1.5"), duplicate_window_s=0)
    assert reject(risk, order(stop_loss=rs("1480")))[1] == (
        "min_reward_risk is on: the order needs a target price"
    )
    assert reject(risk, order(stop_loss=rs("1480"), target=rs("1490")))[1] == (
        "a BUY's target ₹1,490.00 must be above the entry ₹1,500.00"
    )
    assert reject(risk, order(stop_loss=rs("1480"), target=rs("1520"))) == (
        "min_reward_risk",
        "reward/risk 1 (entry ₹1,500.00, target ₹1,520.00, stop ₹1,480.00) is below "
        "min_reward_risk 1.50",
    )
    accept(risk, order(stop_loss=rs("1480"), target=rs("1530")))


# ---------------------------------------------------------------------------------------------
# Stateful checks: OTR, duplicates, rate limit


def test_otr_warns_then_blocks(clock: SimClock) -> None:
    risk = make(clock, otr_warn=3, otr_block=5, duplicate_window_s=0)
    decisions = []
    for _ in range(5):
        decisions.append(risk.check(order(), state()))
        clock.advance(NS_PER_SECOND)
    assert all(d.accepted for d in decisions)
    assert [bool(d.warnings) for d in decisions] == [False, False, True, True, True]
    assert decisions[2].warnings[0].message == (
        "order-to-trade ratio is 3 today (3 orders+modifies+cancels, 0 trades); otr_warn is 3, "
        "otr_block 5"
    )
    assert reject(risk, order()) == (
        "otr",
        "order-to-trade ratio would be 6 today (5 orders+modifies+cancels + 1, 0 trades); "
        "otr_block is 5",
    )
    # exits are never trapped by the OTR block
    accept(risk, order(side=Side.SELL, is_exit=True), state(position_qty=10))
    risk.on_trade()
    assert reject(risk, order())[0] == "otr"  # 7 messages / 1 trade
    risk.on_trade()
    accept(risk, order())  # 7 messages / 2 trades
    # the day rolls over
    clock.set(ist_ns(date(2026, 4, 8), time(9, 20)))
    assert risk.otr.messages(clock.now_ns()) == 0


def test_duplicate_check(clock: SimClock) -> None:
    risk = make(clock, duplicate_window_s=Decimal(3))
    accept(risk, order())
    clock.advance(1200 * MS)
    assert reject(risk, order()) == (
        "duplicate",
        "the same order (BUY 10 INFY-EQ LIMIT @ ₹1,500.00) was accepted 1.2 s ago; confirm to "
        "send it again (duplicate_window_s 3)",
    )
    accept(risk, order(confirmed=True))
    accept(risk, order(price=rs("1500.05")))
    clock.advance(3 * NS_PER_SECOND)
    accept(risk, order())
    off = make(clock, duplicate_window_s=0)
    accept(off, order())
    accept(off, order())


def test_rejected_order_is_not_remembered_as_duplicate(clock: SimClock) -> None:
    risk = make(clock, max_order_qty=5)
    reject(risk, order(qty=10))
    assert reject(risk, order(qty=10))[0] == "max_order_qty"


def test_rate_limit_check(clock: SimClock) -> None:
    risk = make(clock, duplicate_window_s=0)
    for i in range(10):
        clock.advance(10 * MS)
        accept(risk, order(client_order_id=ClientOrderId(f"c{i}")))
    assert reject(risk, order()) == (
        "rate_limit",
        "NSE order rate limit of 10 orders per second reached (no slot free); retry in 910 ms",
    )
    # other segments have their own window
    accept(risk, order(NIFTY_FUT, qty=65, price=rs("24000"), ltp=rs("24000")))
    clock.advance(910 * MS)
    accept(risk, order())


def test_rejected_checks_never_consume_a_slot(clock: SimClock) -> None:
    risk = make(clock, duplicate_window_s=0)
    for _ in range(50):
        reject(risk, order(price=rs("1500.03")))
    assert risk.rate_limiter.available("NSE", clock.now_ns()) == 10
    for _ in range(10):
        accept(risk, order())
    assert risk.rate_limiter.available("NSE", clock.now_ns()) == 0


def test_configured_rate_below_the_cap(clock: SimClock) -> None:
    risk = make(clock, orders_per_second=3, duplicate_window_s=0)
    for _ in range(3):
        accept(risk, order())
    assert reject(risk, order())[0] == "rate_limit"


def test_modify_and_cancel_count_against_the_rate(clock: SimClock) -> None:
    risk = make(clock)
    accept(risk, order())
    # a modification with the same fields is not a duplicate
    decision = risk.check(order(), state(), action=OrderAction.MODIFY)
    assert decision.accepted
    for _ in range(8):
        assert risk.admit_cancel(INFY).accepted
    refused = risk.admit_cancel(INFY)
    assert refused.rejection is not None and refused.rejection.check == "rate_limit"
    assert risk.otr.messages(clock.now_ns()) == 10


def test_modify_and_cancel_uncounted_when_configured(clock: SimClock) -> None:
    risk = make(clock, rate_limit_counts_modify_cancel=False)
    for _ in range(30):
        assert risk.admit_cancel(INFY).accepted
    assert risk.rate_limiter.available("NSE", clock.now_ns()) == 10


def test_kill_switch_never_blocks_cancels(clock: SimClock) -> None:
    risk = make(clock)
    risk.kill_switch.trigger("stop", KillSwitchSource.MANUAL, START)
    assert risk.admit_cancel(INFY).accepted


def test_shared_limiter_may_not_exceed_the_config(clock: SimClock) -> None:
    with pytest.raises(ValueError, match="allows 10 orders per window, more than"):
        PreTradeRisk(RiskConfig(orders_per_second=5), clock, rate_limiter=OrderRateLimiter(10))


# ---------------------------------------------------------------------------------------------
# evaluate_all


def test_evaluate_all_lists_every_failure_and_changes_nothing(clock: SimClock) -> None:
    risk = make(clock, max_order_qty=5, max_order_value=Decimal(10_000))
    bad = order(qty=10, price=rs("1500.03"))
    failures = risk.evaluate_all(bad, state(funds_available=0))
    assert [f.check for f in failures] == ["tick_size", "max_order_qty", "max_order_value", "funds"]
    assert risk.rate_limiter.available("NSE", clock.now_ns()) == 10
    malformed = risk.evaluate_all(order(qty=0, price=0), state())
    assert [f.check for f in malformed] == ["quantity", "order_fields"]
    assert risk.evaluate_all(order(qty=5), state()) == []


def test_evaluate_all_reports_rate_limit_without_consuming(clock: SimClock) -> None:
    risk = make(clock, duplicate_window_s=0)
    for _ in range(10):
        accept(risk, order())
    assert [f.check for f in risk.evaluate_all(order(), state())] == ["rate_limit"]


def test_evaluate_all_never_triggers_the_kill_switch(clock: SimClock) -> None:
    risk = make(clock, daily_loss_limit=Decimal(100))
    assert [f.check for f in risk.evaluate_all(order(), state(day_pnl=-rs("100")))] == [
        "daily_loss"
    ]
    assert risk.kill_switch.state is KillSwitchState.ARMED


# ---------------------------------------------------------------------------------------------
# Position loss exits (with the real portfolio)


def _fill(trade: str, side: Side, qty: int, price: int) -> Fill:
    return Fill(
        TradeId(trade),
        ClientOrderId(f"o{trade}"),
        VenueOrderId(f"v{trade}"),
        INFY.token,
        side,
        qty,
        price,
        Product.MIS,
        START,
    )


def test_positions_to_exit_uses_portfolio_views(clock: SimClock) -> None:
    portfolio = Portfolio(rs("1000000"))
    portfolio.apply_fill(_fill("1", Side.BUY, 100, rs("1500")), INFY)
    risk = make(clock, max_loss_per_position=Decimal(5000))
    portfolio.mark(INFY.token, rs("1451"))  # -₹4,900
    assert risk.positions_to_exit(portfolio.positions()) == []
    portfolio.mark(INFY.token, rs("1450"))  # -₹5,000
    exits = risk.positions_to_exit(portfolio.positions())
    assert len(exits) == 1
    ex = exits[0]
    assert (ex.token, ex.product, ex.side, ex.qty, ex.loss) == (
        INFY.token,
        Product.MIS,
        Side.SELL,
        100,
        rs("5000"),
    )
    assert ex.message == (
        "position +100 in 1594 (MIS) has lost ₹5,000.00, at or beyond max_loss_per_position "
        "₹5,000.00: SELL 100 to exit"
    )
    assert make(clock).positions_to_exit(portfolio.positions()) == []


# ---------------------------------------------------------------------------------------------
# Rate limiter


def test_rate_limiter_ten_per_second_then_refills() -> None:
    limiter = OrderRateLimiter(10)
    t0 = 5 * NS_PER_SECOND
    assert all(limiter.try_acquire("NSE", t0 + i * MS) for i in range(10))
    assert not limiter.try_acquire("NSE", t0 + 10 * MS)
    assert limiter.time_until_available("NSE", t0 + 10 * MS) == NS_PER_SECOND - 10 * MS
    assert not limiter.try_acquire("NSE", t0 + NS_PER_SECOND - 1)
    assert limiter.try_acquire("NSE", t0 + NS_PER_SECOND)
    assert not limiter.try_acquire("NSE", t0 + NS_PER_SECOND)
    assert limiter.try_acquire("NSE", t0 + NS_PER_SECOND + MS)
    assert limiter.available("NSE", t0 + 3 * NS_PER_SECOND) == 10


def test_rate_limiter_is_not_a_burst_bucket() -> None:
    # a token bucket would let 10 more through right after the refill; the window does not
    limiter = OrderRateLimiter(10)
    assert limiter.try_acquire_many("NSE", 10, 0)
    accepted = sum(limiter.try_acquire("NSE", t * 100 * MS) for t in range(1, 10))
    assert accepted == 0
    assert limiter.try_acquire("NSE", NS_PER_SECOND)


def test_rate_limiter_clock_going_backwards_is_stricter() -> None:
    limiter = OrderRateLimiter(2)
    assert limiter.try_acquire("NSE", 10 * NS_PER_SECOND)
    assert limiter.try_acquire("NSE", 10 * NS_PER_SECOND)
    assert not limiter.try_acquire("NSE", 9 * NS_PER_SECOND)
    assert not limiter.try_acquire("NSE", 10 * NS_PER_SECOND + NS_PER_SECOND - 1)
    assert limiter.try_acquire("NSE", 11 * NS_PER_SECOND)


def test_rate_limiter_many_is_all_or_nothing() -> None:
    limiter = OrderRateLimiter(10)
    assert limiter.try_acquire_many("NFO", 7, 0)
    assert not limiter.try_acquire_many("NFO", 4, 1)
    assert limiter.available("NFO", 1) == 3
    assert not limiter.try_acquire_many("NFO", 11, NS_PER_SECOND * 5)
    with pytest.raises(RateLimitError, match="n must be between 1 and 10"):
        limiter.time_until_available("NFO", 0, 11)


def test_rate_limiter_refuses_bad_settings() -> None:
    with pytest.raises(RateLimitError, match="max_per_window must be a positive int"):
        OrderRateLimiter(0)
    with pytest.raises(RateLimitError, match="window_ns must be a positive int"):
        OrderRateLimiter(10, window_ns=0)


def test_rate_limiter_modify_cancel_flag() -> None:
    counted = OrderRateLimiter(1)
    assert counted.try_acquire("NSE", 0, OrderAction.CANCEL)
    assert not counted.try_acquire("NSE", 0, OrderAction.NEW)
    free = OrderRateLimiter(1, count_modify_cancel=False)
    assert free.try_acquire("NSE", 0, OrderAction.MODIFY)
    assert free.try_acquire("NSE", 0, OrderAction.CANCEL)
    assert free.try_acquire("NSE", 0, OrderAction.NEW)
    assert not free.try_acquire("NSE", 0, OrderAction.NEW)


# ---------------------------------------------------------------------------------------------
# Slicing


def test_effective_freeze() -> None:
    assert effective_freeze(1800, 65) == 1755
    assert effective_freeze(1800, 75) == 1800
    assert effective_freeze(600, 30) == 600
    assert effective_freeze(20, 65) == 0


def test_slice_quantity_examples() -> None:
    assert slice_quantity(65, NIFTY_FUT, 1800) == [65]
    assert slice_quantity(1755, NIFTY_FUT, 1800) == [1755]
    assert slice_quantity(1820, NIFTY_FUT, 1800) == [1755, 65]
    assert slice_quantity(1755 * 10, NIFTY_FUT, 1800) == [1755] * 10
    assert slice_quantity(5000, INFY, None) == [5000]
    assert slice_quantity(5000, INFY, 0) == [5000]
    assert slice_quantity(5000, INFY, 2000) == [2000, 2000, 1000]
    assert slice_quantity(130, NIFTY_FUT, 1800, max_slices=1) == [130]


def test_slice_quantity_refusals() -> None:
    with pytest.raises(SlicingError) as info:
        slice_quantity(1755 * 10 + 65, NIFTY_FUT, 1800)
    assert str(info.value) == (
        "quantity 17615 of NFO:NIFTY26APRFUT needs 11 slices of at most 1755 units (freeze "
        "1800, lot 65); at most 10 slices are allowed, so the largest order is 17550 units"
    )
    with pytest.raises(SlicingError, match="not a multiple of the lot size 65"):
        slice_quantity(100, NIFTY_FUT, 1800)
    with pytest.raises(SlicingError, match="smaller than one lot"):
        slice_quantity(65, NIFTY_FUT, 50)
    with pytest.raises(SlicingError, match="quantity must be a positive whole number"):
        slice_quantity(0, NIFTY_FUT, 1800)
    with pytest.raises(SlicingError, match="max_slices must be between 1 and 10"):
        slice_quantity(65, NIFTY_FUT, 1800, max_slices=11)
    with pytest.raises(SlicingError, match="needs 2 slices"):
        slice_quantity(1820, NIFTY_FUT, 1800, max_slices=1)


# ---------------------------------------------------------------------------------------------
# Other price scales


def test_value_of_a_non_paise_instrument(clock: SimClock) -> None:
    usdinr = Instrument(
        "1234",
        Exchange.CDS,
        "USDINR26APRFUT",
        "USDINR",
        InstrumentType.FUTCUR,
        lot_size=1,
        tick_size=25_000,  # ₹0.0025
        price_scale=10**7,
    )
    risk = make(clock, max_order_value=Decimal(1000))
    o = order(usdinr, qty=12, price=8_350_000_000, ltp=8_350_000_000)  # ₹835.0000
    assert reject(risk, o) == (
        "max_order_value",
        "order value ₹10,020.00 exceeds max_order_value ₹1,000.00",
    )
