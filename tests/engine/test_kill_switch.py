"""Kill switch: transitions, plans, journal events, persistence and the automatic triggers."""

from __future__ import annotations

import json
from datetime import date, time
from decimal import Decimal
from typing import Any

import pytest

from engine.clock import NS_PER_SECOND, SessionPhase, SimClock, ist_ns
from engine.kill_switch import (
    REARM_PHRASE,
    KillSwitch,
    KillSwitchError,
    KillSwitchSource,
    KillSwitchState,
)
from engine.models import Exchange, Instrument, InstrumentType, OrderType, Product, Side, Validity
from engine.risk import OrderCheck, PreTradeRisk, RiskState
from engine.risk_config import RiskConfig

DAY = date(2026, 4, 7)
T0 = ist_ns(DAY, time(11, 30))
INFY = Instrument("1594", Exchange.NSE, "INFY-EQ", "INFY", InstrumentType.EQUITY)


def rs(text: str) -> int:
    return int(Decimal(text) * 100)


def state_of(switch: KillSwitch) -> KillSwitchState:
    """The state, read through a call so the type checker does not narrow it across calls."""
    return switch.state


def order(**kw: Any) -> OrderCheck:
    base: dict[str, Any] = {
        "token": INFY.token,
        "instrument": INFY,
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "product": Product.MIS,
        "validity": Validity.DAY,
        "qty": 10,
        "price": rs("1500"),
        "ltp": rs("1500"),
    }
    base.update(kw)
    return OrderCheck(**base)


def state(**kw: Any) -> RiskState:
    base: dict[str, Any] = {
        "funds_available": rs("1000000"),
        "required_margin": rs("3000"),
        "open_positions": 1,
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


# ---------------------------------------------------------------------------------------------
# Transitions


def test_armed_switch_blocks_nothing() -> None:
    switch = KillSwitch()
    assert switch.state is KillSwitchState.ARMED
    assert switch.blocks(order_is_exit=False) is None
    assert switch.blocks(order_is_exit=True) is None
    assert switch.pending_plan() is None


def test_trigger_returns_the_plan_and_event() -> None:
    switch = KillSwitch(Decimal(3))
    plan = switch.trigger("  trader pressed F12 ", "manual", T0)
    assert switch.state is KillSwitchState.TRIGGERED
    assert plan.reason == "trader pressed F12"
    assert plan.source is KillSwitchSource.MANUAL
    assert plan.ts == T0
    assert plan.market_protection_pct == Decimal(3)
    assert (plan.cancel_open_orders, plan.cancel_gtts, plan.flatten_positions) == (
        True,
        True,
        True,
    )
    assert plan.event == {
        "type": "kill_switch.triggered",
        "from": "ARMED",
        "to": "TRIGGERED",
        "source": "manual",
        "reason": "trader pressed F12",
        "triggered_at": T0,
        "ts": T0,
    }


def test_triggered_blocks_new_orders_but_not_exits() -> None:
    switch = KillSwitch()
    switch.trigger("stop", KillSwitchSource.MANUAL, T0)
    message = switch.blocks(order_is_exit=False)
    assert message == (
        "kill switch TRIGGERED at 2026-04-07 11:30:00 IST (manual: stop); flattening in "
        "progress, only exits that reduce a position are accepted"
    )
    assert switch.blocks(order_is_exit=True) is None


def test_repeat_trigger_reissues_the_plan_and_keeps_the_first_reason() -> None:
    switch = KillSwitch()
    switch.trigger("first", KillSwitchSource.MANUAL, T0)
    plan = switch.trigger("second", KillSwitchSource.DRAWDOWN, T0 + NS_PER_SECOND)
    assert switch.state is KillSwitchState.TRIGGERED
    assert plan.reason == "first"
    assert plan.event["type"] == "kill_switch.retriggered"
    assert plan.event["new_reason"] == "second"
    assert plan.event["new_source"] == "drawdown"
    assert switch.triggered_at == T0


def test_mark_flat_locks_only_when_nothing_is_open() -> None:
    switch = KillSwitch()
    with pytest.raises(
        KillSwitchError, match="only valid while TRIGGERED; the kill switch is ARMED"
    ):
        switch.mark_flat(0, 0, T0)
    switch.trigger("stop", KillSwitchSource.MANUAL, T0)
    with pytest.raises(KillSwitchError) as info:
        switch.mark_flat(2, 1, T0 + 1)
    assert str(info.value) == (
        "not flat yet: 2 open order(s) and 1 open position(s) remain; the kill switch stays "
        "TRIGGERED"
    )
    assert switch.state is KillSwitchState.TRIGGERED
    event = switch.mark_flat(0, 0, T0 + 2)
    assert state_of(switch) is KillSwitchState.LOCKED
    assert event["type"] == "kill_switch.locked"
    assert (event["from"], event["to"], event["ts"]) == ("TRIGGERED", "LOCKED", T0 + 2)


def test_locked_blocks_everything_until_rearmed() -> None:
    switch = KillSwitch()
    switch.trigger("stop", KillSwitchSource.MANUAL, T0)
    switch.mark_flat(0, 0, T0)
    message = switch.blocks(order_is_exit=True)
    assert message is not None
    assert message == (
        "kill switch LOCKED after the trigger at 2026-04-07 11:30:00 IST (manual: stop); every "
        "new order is blocked until it is re-armed with the phrase REARM"
    )
    assert switch.blocks(order_is_exit=False) == message


def test_rearm_needs_the_phrase() -> None:
    switch = KillSwitch()
    switch.trigger("stop", KillSwitchSource.MANUAL, T0)
    switch.mark_flat(0, 0, T0)
    for wrong in ("rearm", "", "yes", "REARM please"):
        with pytest.raises(KillSwitchError, match="needs the confirmation phrase REARM exactly"):
            switch.rearm(wrong, T0 + 1)
    assert switch.state is KillSwitchState.LOCKED
    event = switch.rearm(REARM_PHRASE, T0 + 5)
    assert state_of(switch) is KillSwitchState.ARMED
    assert event["type"] == "kill_switch.rearmed"
    assert (event["from"], event["to"], event["ts"]) == ("LOCKED", "ARMED", T0 + 5)
    assert switch.blocks(order_is_exit=False) is None


def test_rearm_refused_while_flattening_or_armed() -> None:
    switch = KillSwitch()
    with pytest.raises(KillSwitchError, match="already ARMED"):
        switch.rearm("REARM", T0)
    switch.trigger("stop", KillSwitchSource.MANUAL, T0)
    with pytest.raises(KillSwitchError, match="cannot re-arm while the kill switch is TRIGGERED"):
        switch.rearm("REARM", T0)
    assert switch.state is KillSwitchState.TRIGGERED


def test_trigger_from_locked_flattens_again() -> None:
    switch = KillSwitch()
    switch.trigger("stop", KillSwitchSource.MANUAL, T0)
    switch.mark_flat(0, 0, T0)
    plan = switch.trigger("positions reappeared", KillSwitchSource.MANUAL, T0 + 7)
    assert switch.state is KillSwitchState.TRIGGERED
    assert plan.event["from"] == "LOCKED"
    assert plan.reason == "positions reappeared"


def test_trigger_refuses_bad_input() -> None:
    switch = KillSwitch()
    with pytest.raises(KillSwitchError, match="needs a reason"):
        switch.trigger("  ", KillSwitchSource.MANUAL, T0)
    with pytest.raises(KillSwitchError, match="unknown kill-switch source 'panic'; use one of"):
        switch.trigger("x", "panic", T0)
    with pytest.raises(KillSwitchError, match="market_protection_pct must be a Decimal"):
        KillSwitch(Decimal(0))
    assert switch.state is KillSwitchState.ARMED


# ---------------------------------------------------------------------------------------------
# Persistence


def test_triggered_switch_is_still_triggered_after_a_restart() -> None:
    switch = KillSwitch(Decimal("2.5"))
    switch.trigger("day loss", KillSwitchSource.DAILY_LOSS, T0)
    restored = KillSwitch.from_dict(json.loads(json.dumps(switch.to_dict())))
    assert restored.state is KillSwitchState.TRIGGERED
    assert restored.blocks(order_is_exit=False) == switch.blocks(order_is_exit=False)
    plan = restored.pending_plan()
    assert plan is not None
    assert (plan.reason, plan.source, plan.ts) == ("day loss", KillSwitchSource.DAILY_LOSS, T0)
    assert plan.market_protection_pct == Decimal("2.5")
    assert plan.event["type"] == "kill_switch.pending"
    assert restored.auto_triggered_on(KillSwitchSource.DAILY_LOSS, DAY)
    assert restored.to_dict() == switch.to_dict()


def test_locked_and_rearmed_states_round_trip() -> None:
    switch = KillSwitch()
    switch.trigger("stop", KillSwitchSource.MANUAL, T0)
    switch.mark_flat(0, 0, T0 + 1)
    locked = KillSwitch.from_dict(switch.to_dict())
    assert locked.state is KillSwitchState.LOCKED
    assert locked.pending_plan() is None
    switch.rearm("REARM", T0 + 2)
    armed = KillSwitch.from_dict(switch.to_dict())
    assert armed.state is KillSwitchState.ARMED
    assert armed.to_dict() == switch.to_dict()


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"version": 9}, "snapshot version 9 is not supported"),
        ({"state": "MELTED"}, "snapshot is malformed"),
        ({"source": None}, "has no trigger source/time; refusing to guess"),
        ({"triggered_at": None}, "has no trigger source/time"),
    ],
)
def test_from_dict_refuses_bad_snapshots(patch: dict[str, Any], fragment: str) -> None:
    switch = KillSwitch()
    switch.trigger("stop", KillSwitchSource.MANUAL, T0)
    data = switch.to_dict() | patch
    with pytest.raises(KillSwitchError, match=fragment):
        KillSwitch.from_dict(data)


# ---------------------------------------------------------------------------------------------
# Automatic triggers through the risk monitor


def test_monitor_triggers_on_daily_loss() -> None:
    clock = SimClock(T0)
    risk = PreTradeRisk(RiskConfig(daily_loss_limit=Decimal(25_000)), clock)
    assert risk.monitor(state(day_pnl=rs("-24999.99"))) is None
    plan = risk.monitor(state(day_pnl=rs("-25000")))
    assert plan is not None
    assert plan.source is KillSwitchSource.DAILY_LOSS
    assert plan.reason.startswith("day P&L -₹25,000.00 has reached daily_loss_limit ₹25,000.00")
    assert risk.kill_switch.state is KillSwitchState.TRIGGERED
    # while triggered, the monitor does not trigger again
    assert risk.monitor(state(day_pnl=rs("-40000"))) is None
    # new entries are refused, the exits that flatten pass
    assert risk.check(order(), state()).rejection is not None
    exit_order = order(side=Side.SELL, is_exit=True, order_type=OrderType.MARKET, price=0)
    assert risk.check(exit_order, state(position_qty=10, day_pnl=rs("-40000"))).accepted


def test_monitor_triggers_on_drawdown_amount_and_pct() -> None:
    clock = SimClock(T0)
    risk = PreTradeRisk(RiskConfig(max_drawdown_from_peak=Decimal(30_000)), clock)
    assert risk.monitor(state(peak_equity=rs("1050000"), equity=rs("1020000.01"))) is None
    plan = risk.monitor(state(peak_equity=rs("1050000"), equity=rs("1020000")))
    assert plan is not None and plan.source is KillSwitchSource.DRAWDOWN
    assert "₹30,000.00 below the day's peak ₹10,50,000.00" in plan.reason

    pct = PreTradeRisk(RiskConfig(max_drawdown_from_peak_pct=Decimal(3)), SimClock(T0))
    plan = pct.monitor(state(peak_equity=rs("1000000"), equity=rs("970000")))
    assert plan is not None
    assert "(3%) below the day's peak" in plan.reason


def test_auto_trigger_can_be_switched_off() -> None:
    risk = PreTradeRisk(
        RiskConfig(
            daily_loss_limit=Decimal(100),
            max_drawdown_from_peak=Decimal(100),
            kill_switch_on_daily_loss=False,
            kill_switch_on_drawdown=False,
        ),
        SimClock(T0),
    )
    assert risk.monitor(state(day_pnl=-rs("500"), equity=rs("999500"))) is None
    assert risk.kill_switch.state is KillSwitchState.ARMED


def test_auto_trigger_once_per_day_per_source() -> None:
    clock = SimClock(T0)
    risk = PreTradeRisk(RiskConfig(daily_loss_limit=Decimal(1000)), clock)
    breached = state(day_pnl=-rs("1500"))
    assert risk.monitor(breached) is not None
    risk.kill_switch.mark_flat(0, 0, clock.now_ns())
    risk.kill_switch.rearm("REARM", clock.now_ns())
    clock.advance(60 * NS_PER_SECOND)
    assert risk.monitor(breached) is None  # same day, same source: not again
    decision = risk.check(order(), breached)
    assert decision.rejection is not None and decision.rejection.check == "daily_loss"
    assert decision.kill_switch is None
    # the next trading day a fresh breach trips it again
    clock.set(ist_ns(date(2026, 4, 8), time(9, 30)))
    assert risk.monitor(breached) is not None


def test_auto_trigger_memory_survives_a_restart() -> None:
    clock = SimClock(T0)
    risk = PreTradeRisk(RiskConfig(daily_loss_limit=Decimal(1000)), clock)
    assert risk.monitor(state(day_pnl=-rs("1500"))) is not None
    risk.kill_switch.mark_flat(0, 0, T0)
    risk.kill_switch.rearm("REARM", T0)
    restored = KillSwitch.from_dict(risk.kill_switch.to_dict())
    again = PreTradeRisk(RiskConfig(daily_loss_limit=Decimal(1000)), clock, kill_switch=restored)
    assert again.monitor(state(day_pnl=-rs("1500"))) is None


def test_manual_trigger_while_loss_breached_keeps_manual_source() -> None:
    clock = SimClock(T0)
    risk = PreTradeRisk(RiskConfig(daily_loss_limit=Decimal(1000)), clock)
    risk.kill_switch.trigger("by hand", KillSwitchSource.MANUAL, T0)
    assert risk.monitor(state(day_pnl=-rs("5000"))) is None
    assert risk.kill_switch.source is KillSwitchSource.MANUAL
