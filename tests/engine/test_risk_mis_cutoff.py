"""The intraday entry cutoff: MIS orders that open or grow a position stop at a set IST time."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.clock import SimClock, ist_ns
from engine.models import OrderType, Product, Side
from engine.risk import CHECKS
from engine.risk_config import RiskConfig
from tests.engine.test_risk import DAY, accept, make, order, reject, rs, state


def at(hh: int, mm: int) -> SimClock:
    """A clock at hh:mm IST on the test day."""
    return SimClock(ist_ns(DAY, time(hh, mm)))


def test_cutoff_is_off_by_default() -> None:
    assert RiskConfig().mis_entry_cutoff is None
    accept(make(at(15, 29)), order())


def test_mis_entry_refused_at_and_after_the_cutoff_with_the_times_named() -> None:
    risk = make(at(15, 20), mis_entry_cutoff=time(15, 20))
    check, message = reject(risk, order())
    assert check == "mis_cutoff"
    assert "15:20 IST" in message and "15:20 now" in message and "reduce" in message


def test_mis_entry_before_the_cutoff_and_cnc_after_it_pass() -> None:
    accept(make(at(15, 19), mis_entry_cutoff=time(15, 20)), order())
    accept(make(at(15, 25), mis_entry_cutoff=time(15, 20)), order(product=Product.CNC))


def test_reducing_and_flipping_orders_after_the_cutoff() -> None:
    risk = make(at(15, 25), mis_entry_cutoff="15:20")
    # Selling 10 of a long 10: reduces to flat, allowed.
    accept(risk, order(side=Side.SELL, price=rs("1500")), state(position_qty=10))
    # Selling 30 of a long 10 flips to -20: the position grows, refused.
    assert reject(risk, order(side=Side.SELL, qty=30), state(position_qty=10))[0] == "mis_cutoff"


def test_config_refuses_a_bad_time_naming_the_key() -> None:
    with pytest.raises(ValidationError, match="mis_entry_cutoff"):
        RiskConfig(mis_entry_cutoff="25:00")


def test_check_runs_among_the_entry_checks() -> None:
    assert CHECKS.index("drawdown") < CHECKS.index("mis_cutoff") < CHECKS.index("funds")


@settings(max_examples=60, deadline=None)
@given(
    minute=st.integers(9 * 60 + 15, 15 * 60 + 29),
    cutoff=st.integers(9 * 60 + 15, 15 * 60 + 29),
    position=st.integers(-50, 50),
    buy=st.booleans(),
    qty=st.integers(1, 60),
)
def test_property_refused_exactly_when_mis_grows_at_or_after_cutoff(
    minute: int, cutoff: int, position: int, buy: bool, qty: int
) -> None:
    risk = make(at(minute // 60, minute % 60), mis_entry_cutoff=time(cutoff // 60, cutoff % 60))
    side = Side.BUY if buy else Side.SELL
    new = position + (qty if buy else -qty)
    o = order(side=side, qty=qty, order_type=OrderType.LIMIT)
    decision = risk.check(o, state(position_qty=position))
    grows = abs(new) > abs(position)
    refused = decision.rejection is not None and decision.rejection.check == "mis_cutoff"
    assert refused == (grows and minute >= cutoff)
