"""Position sizing: exact hand-computed cases, clear errors and property tests (the risk or value
of a size never exceeds its budget, sizes are whole lots, one more lot would break the budget)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.sizing import (
    SizingError,
    atr_risk,
    fixed_quantity,
    fixed_risk,
    fractional_kelly,
    kelly_fraction,
    risk_budget,
)

LAKH = 1_00_000_00  # Rs 1 lakh in paise


def test_fixed_quantity() -> None:
    assert fixed_quantity(10) == 10
    assert fixed_quantity(130, lot_size=50) == 100
    assert fixed_quantity(49, lot_size=50) == 0
    assert fixed_quantity(100, price=1000_00, max_value=55_000_00) == 55


def test_fixed_risk_hand_computed() -> None:
    # Rs 10 lakh, 1% = Rs 10,000 at risk; stop Rs 4 below a Rs 500 entry: 2,500 shares.
    assert risk_budget(10 * LAKH, 1) == 10_000_00
    assert fixed_risk(10 * LAKH, 1, entry=500_00, stop=496_00) == 2500
    # Short side: stop above the entry, same distance.
    assert fixed_risk(10 * LAKH, "1", entry=500_00, stop=504_00) == 2500
    # 0.3% as a float means 3/1000 exactly: Rs 3,000 / Rs 7 = 428.57 -> 428, lots of 25 -> 425.
    assert fixed_risk(10 * LAKH, 0.3, entry=100_00, stop=93_00, lot_size=25) == 425
    # No leverage: value capped at the capital.
    assert fixed_risk(LAKH, 5, entry=1000_00, stop=999_00, max_value=LAKH) == 100
    assert fixed_risk(LAKH, Decimal("0.01"), entry=100_00, stop=50_00) == 0


def test_atr_and_kelly_hand_computed() -> None:
    # Rs 10,000 risk, 2 x ATR(12.5 rupees = 1250 paise) = Rs 25 per share: 400 shares.
    assert atr_risk(10 * LAKH, 1, atr=1250.0, multiplier=2) == 400
    assert atr_risk(10 * LAKH, 1, atr=1250.0, multiplier=2, lot_size=75) == 375
    assert kelly_fraction(Fraction(55, 100), 1) == Fraction(1, 10)
    assert kelly_fraction("0.4", 3) == Fraction(2, 10)
    # Half Kelly of 20% = 10% of Rs 10 lakh at Rs 250 = 400 shares.
    assert fractional_kelly(10 * LAKH, 250_00, "0.4", 3, fraction="0.5", cap="0.25") == 400
    # Capped at 5% of capital.
    assert fractional_kelly(10 * LAKH, 250_00, "0.4", 3, fraction=1, cap="0.05") == 200
    assert fractional_kelly(10 * LAKH, 250_00, "0.3", 1) == 0  # negative edge


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: fixed_risk(LAKH, 1, entry=100_00, stop=100_00), "zero stop distance"),
        (lambda: fixed_risk(LAKH, 0, entry=100_00, stop=99_00), r"risk_pct .* \(0, 100\]"),
        (lambda: fixed_risk(LAKH, 101, entry=100_00, stop=99_00), r"risk_pct .* \(0, 100\]"),
        (lambda: fixed_risk(-1, 1, entry=100_00, stop=99_00), "capital must be at least 0"),
        (lambda: fixed_risk(LAKH, 1, entry=100_00, stop=99_00, lot_size=0), "lot_size"),
        (lambda: fixed_risk(LAKH, "abc", entry=100_00, stop=99_00), "risk_pct must be a number"),
        (lambda: fixed_risk(LAKH, float("nan"), entry=10, stop=9), "risk_pct must be a finite"),
        (lambda: atr_risk(LAKH, 1, atr=0), "atr must be > 0"),
        (lambda: atr_risk(LAKH, 1, atr=10, multiplier=-1), "multiplier must be > 0"),
        (lambda: kelly_fraction("1.2", 2), "win_probability must be between 0 and 1"),
        (lambda: kelly_fraction("0.5", 0), "win_loss_ratio must be > 0"),
        (lambda: fractional_kelly(LAKH, 100, "0.5", 2, fraction=2), "fraction must be in"),
        (lambda: fractional_kelly(LAKH, 100, "0.5", 2, cap=0), "cap must be in"),
        (lambda: fixed_quantity(10, max_value=100), "needs a positive price"),
        (lambda: fixed_quantity(True), "qty must be an int"),
    ],
)
def test_impossible_inputs_are_named(call: object, message: str) -> None:
    with pytest.raises(SizingError, match=message):
        call()  # type: ignore[operator]


lots = st.sampled_from([1, 15, 25, 50, 75, 1800])
pcts = st.integers(1, 10_000).map(lambda bp: Fraction(bp, 100))  # 0.01% .. 100%


@settings(max_examples=300, deadline=None)
@given(
    capital=st.integers(0, 10**12),
    pct=pcts,
    entry=st.integers(1, 10**7),
    distance=st.integers(-(10**6), 10**6).filter(bool),
    lot=lots,
)
def test_fixed_risk_never_exceeds_the_budget(
    capital: int, pct: Fraction, entry: int, distance: int, lot: int
) -> None:
    stop = entry + distance
    if stop < 0:
        stop = entry - distance
    qty = fixed_risk(capital, pct, entry=entry, stop=stop, lot_size=lot)
    budget = capital * pct / 100
    assert qty >= 0 and qty % lot == 0
    assert qty * abs(entry - stop) <= budget
    assert (qty + lot) * abs(entry - stop) > budget  # as large as the budget allows


@settings(max_examples=300, deadline=None)
@given(
    capital=st.integers(0, 10**12),
    pct=pcts,
    atr=st.floats(min_value=0.01, max_value=1e6, allow_nan=False),
    mult=st.sampled_from(["0.5", "1", "1.5", "2", "3"]),
    lot=lots,
)
def test_atr_risk_never_exceeds_the_budget(
    capital: int, pct: Fraction, atr: float, mult: str, lot: int
) -> None:
    qty = atr_risk(capital, pct, atr=atr, multiplier=mult, lot_size=lot)
    per_unit = Fraction(repr(atr)) * Fraction(mult)
    budget = capital * pct / 100
    assert qty >= 0 and qty % lot == 0
    assert qty * per_unit <= budget < (qty + lot) * per_unit


@settings(max_examples=300, deadline=None)
@given(
    capital=st.integers(0, 10**12),
    price=st.integers(1, 10**7),
    p=st.integers(0, 100).map(lambda x: Fraction(x, 100)),
    b=st.integers(1, 500).map(lambda x: Fraction(x, 100)),
    frac=st.sampled_from([Fraction(1, 4), Fraction(1, 2), Fraction(1)]),
    cap=st.sampled_from([Fraction(1, 20), Fraction(1, 4), Fraction(1)]),
    lot=lots,
)
def test_fractional_kelly_respects_the_cap(
    capital: int, price: int, p: Fraction, b: Fraction, frac: Fraction, cap: Fraction, lot: int
) -> None:
    qty = fractional_kelly(capital, price, p, b, fraction=frac, cap=cap, lot_size=lot)
    share = min(frac * (p - (1 - p) / b), cap)
    assert qty >= 0 and qty % lot == 0
    if share <= 0:
        assert qty == 0
    else:
        assert qty * price <= capital * share < (qty + lot) * price
