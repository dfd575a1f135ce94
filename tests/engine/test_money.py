"""Tests of engine.money: exact price round trips, tick snapping and Indian digit grouping."""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.money import (
    PriceError,
    format_money,
    format_price,
    parse_price,
    round_half_even,
    round_half_up,
    rupees_to_units,
    scale_digits,
    snap_to_tick,
    units_to_decimal,
)

# Every tick size in use, in price units, per price scale:
# NSE/BSE equity and F&O at scale 100: 0.01, 0.05, 0.10, 0.20, 0.50, 1.00, 5.00 (and MCX's 1.00);
# currency derivatives at scale 10**7: 0.0025 (and 0.0001, 0.01 for cross-currency and rupee steps).
TICKS_BY_SCALE: dict[int, tuple[int, ...]] = {
    100: (1, 5, 10, 20, 50, 100, 500),
    10**7: (1_000, 25_000, 100_000),
}
SCALE_AND_TICK = st.sampled_from(
    [(scale, tick) for scale, ticks in TICKS_BY_SCALE.items() for tick in ticks]
)
MAX_UNITS = 10**15


@settings(max_examples=300)
@given(SCALE_AND_TICK, st.integers(min_value=-(10**9), max_value=10**9))
def test_parse_of_format_is_identity_on_every_tick_grid(
    scale_tick: tuple[int, int], steps: int
) -> None:
    scale, tick = scale_tick
    price = steps * tick
    assert parse_price(format_price(price, scale), scale) == price


@settings(max_examples=300)
@given(
    st.sampled_from(sorted(TICKS_BY_SCALE)),
    st.integers(min_value=-MAX_UNITS, max_value=MAX_UNITS),
    st.integers(min_value=0, max_value=9),
)
def test_parse_of_format_is_identity_for_any_units_and_digits(
    scale: int, units: int, digits: int
) -> None:
    text = format_price(units, scale, digits=digits)
    assert parse_price(text, scale) == units
    decimals = text.partition(".")[2]
    assert len(decimals) >= min(digits, scale_digits(scale))


def test_format_price_examples() -> None:
    assert format_price(81250) == "812.50"
    assert format_price(5) == "0.05"
    assert format_price(-5) == "-0.05"
    assert format_price(81250, digits=1) == "812.5"
    assert format_price(81200, digits=0) == "812"
    assert format_price(81201, digits=0) == "812.01"
    assert format_price(25_000, 10**7) == "0.0025000"
    assert format_price(25_000, 10**7, digits=4) == "0.0025"
    assert format_price(83_1234500, 10**7, digits=2) == "83.12345"


def test_parse_price_accepts_the_edge_forms() -> None:
    assert parse_price("812.5") == 81250
    assert parse_price("₹1,234.05") == 123405
    assert parse_price(" -3 ") == -300
    assert parse_price("Rs. 10") == 1000
    assert parse_price("0.0025", 10**7) == 25_000


@pytest.mark.parametrize("text", ["812.505", "abc", "", "NaN", "inf"])
def test_parse_price_rejects_what_it_cannot_hold(text: str) -> None:
    with pytest.raises(PriceError):
        parse_price(text)


def test_parse_price_names_the_finest_step() -> None:
    with pytest.raises(PriceError, match=r"finest step is 0\.01"):
        parse_price("812.505")


@pytest.mark.parametrize("scale", [0, -100, 3, 250])
def test_price_scale_must_be_a_power_of_ten(scale: int) -> None:
    with pytest.raises(PriceError, match=r"power of ten|positive"):
        scale_digits(scale)


# ---------------------------------------------------------------------------------------------
# snap_to_tick


@settings(max_examples=400)
@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from([t for ticks in TICKS_BY_SCALE.values() for t in ticks] + [3, 7]),
)
def test_snap_to_tick_properties(units: int, tick: int) -> None:
    down = snap_to_tick(units, tick, mode="down")
    up = snap_to_tick(units, tick, mode="up")
    nearest = snap_to_tick(units, tick)
    for snapped in (down, up, nearest):
        assert snapped % tick == 0
        assert snap_to_tick(snapped, tick) == snapped
        assert snap_to_tick(snapped, tick, mode="down") == snapped
        assert snap_to_tick(snapped, tick, mode="up") == snapped
    assert down <= units < down + tick
    assert up - tick < units <= up
    assert nearest in (down, up)
    assert 2 * abs(nearest - units) <= tick
    if 2 * (units - down) == tick:
        assert nearest == up  # ties go up


def test_snap_to_tick_examples() -> None:
    assert snap_to_tick(81253, 5) == 81255
    assert snap_to_tick(81252, 5) == 81250
    assert snap_to_tick(81253, 5, mode="down") == 81250
    assert snap_to_tick(81251, 5, mode="up") == 81255
    assert snap_to_tick(81250, 5, mode="up") == 81250


def test_snap_to_tick_rejects_bad_ticks_and_modes() -> None:
    with pytest.raises(PriceError, match="tick size must be positive"):
        snap_to_tick(100, 0)
    with pytest.raises(ValueError, match="unknown snap mode"):
        snap_to_tick(101, 5, mode="sideways")


# ---------------------------------------------------------------------------------------------
# format_money (Indian grouping: last three digits, then pairs)

GROUPED = re.compile(r"^-?(\d{1,3}|\d{1,2}(,\d{2})*,\d{3})\.\d{2}$")


@pytest.mark.parametrize(
    ("paise", "text"),
    [
        (0, "0.00"),
        (5, "0.05"),
        (-5, "-0.05"),
        (99_999, "999.99"),
        (100_000, "1,000.00"),
        (999_999_99, "9,99,999.99"),
        (12_345_678, "1,23,456.78"),
        (-12_345_678, "-1,23,456.78"),
        (10_000_000_00, "1,00,00,000.00"),
        (10**11, "1,00,00,00,000.00"),
        (123_456_789_012_34, "1,23,45,67,89,012.34"),
    ],
)
def test_format_money_examples(paise: int, text: str) -> None:
    assert format_money(paise) == text


@settings(max_examples=400)
@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_format_money_groups_and_round_trips(paise: int) -> None:
    text = format_money(paise)
    assert GROUPED.match(text), text
    assert parse_price(text) == paise
    assert Decimal(text.replace(",", "")) * 100 == paise


# ---------------------------------------------------------------------------------------------
# Exact conversions and rounding


@given(st.integers(min_value=-(10**12), max_value=10**12), st.sampled_from(sorted(TICKS_BY_SCALE)))
def test_units_decimal_round_trip(units: int, scale: int) -> None:
    assert rupees_to_units(units_to_decimal(units, scale), scale) == units


def test_rupees_to_units_rounds_half_even() -> None:
    assert rupees_to_units("0.005") == 0
    assert rupees_to_units("0.015") == 2
    assert rupees_to_units(Decimal("812.5")) == 81250
    assert rupees_to_units(3) == 300


@given(st.integers(min_value=-(10**9), max_value=10**9), st.integers(min_value=1, max_value=10**6))
def test_rounding_helpers_stay_within_half(numerator: int, denominator: int) -> None:
    value = Fraction(numerator, denominator)
    for rounded in (round_half_even(value), round_half_up(value)):
        assert abs(rounded - value) <= Fraction(1, 2)
    if value.denominator == 2:
        assert round_half_even(value) % 2 == 0
        assert abs(round_half_up(value)) == abs(value) + Fraction(1, 2)
