"""Tests of engine.expiry: NSE monthly expiries (weekday history, holidays) and symbols."""

from __future__ import annotations

import calendar as stdcal
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.calendar import HolidayCalendar, default_calendar, weekday_calendar
from engine.expiry import (
    NSE_MONTHLY_EXPIRY,
    ExpiryError,
    ExpiryWeekday,
    MonthlyExpiryRule,
    expiry_code,
    format_master_expiry,
    future_symbol,
    last_weekday_of_month,
    monthly_expiry,
    near_month_expiry,
    next_expiries,
    parse_expiry_code,
    parse_master_expiry,
)

CAL = default_calendar()


def test_last_weekday_of_month() -> None:
    assert last_weekday_of_month(2026, 11, stdcal.TUESDAY) == date(2026, 11, 24)
    assert last_weekday_of_month(2026, 6, stdcal.TUESDAY) == date(2026, 6, 30)  # the last day
    assert last_weekday_of_month(2025, 8, stdcal.THURSDAY) == date(2025, 8, 28)
    assert last_weekday_of_month(2024, 2, stdcal.THURSDAY) == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("year", "month", "expiry"),
    [
        (2025, 7, date(2025, 7, 31)),  # last Thursday (old rule)
        (2025, 8, date(2025, 8, 28)),  # last Thursday
        (2025, 9, date(2025, 9, 30)),  # first month of the Tuesday rule
        (2025, 10, date(2025, 10, 28)),  # Diwali on the 21st does not matter
        (2026, 3, date(2026, 3, 30)),  # Tue 31st is Mahavir Jayanti -> Monday
        (2026, 6, date(2026, 6, 30)),
        (2026, 11, date(2026, 11, 23)),  # Tue 24th is Guru Nanak Jayanti -> Monday
        (2026, 12, date(2026, 12, 29)),
        (2027, 1, date(2027, 1, 25)),  # Tue 26th is Republic Day -> Monday
    ],
)
def test_monthly_expiry(year: int, month: int, expiry: date) -> None:
    assert monthly_expiry(year, month, calendar=CAL) == expiry
    assert monthly_expiry(year, month) == expiry  # the bundled calendar is the default


def test_holiday_on_the_day_before_moves_further_back() -> None:
    cal = weekday_calendar()
    assert monthly_expiry(2026, 11, calendar=cal) == date(2026, 11, 24)
    two = HolidayCalendar(
        {date(2026, 11, 24): "a", date(2026, 11, 23): "b"}, years={2026: "official"}
    )
    assert monthly_expiry(2026, 11, calendar=two) == date(2026, 11, 20)  # Friday


def test_near_month_rolls_after_expiry_day() -> None:
    assert near_month_expiry(date(2026, 11, 21)) == date(2026, 11, 23)
    assert near_month_expiry(date(2026, 11, 23)) == date(2026, 11, 23)  # expiry day itself
    assert near_month_expiry(date(2026, 11, 24)) == date(2026, 12, 29)
    assert near_month_expiry(date(2026, 12, 30)) == date(2027, 1, 25)  # across the year


def test_next_expiries() -> None:
    assert next_expiries(date(2026, 11, 21), 3) == [
        date(2026, 11, 23),
        date(2026, 12, 29),
        date(2027, 1, 25),
    ]
    assert next_expiries(date(2026, 11, 21), 0) == []
    with pytest.raises(ExpiryError, match=">= 0"):
        next_expiries(date(2026, 11, 21), -1)


@settings(max_examples=200)
@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)))
def test_near_month_expiry_properties(today: date) -> None:
    expiry = near_month_expiry(today, calendar=CAL)
    assert expiry >= today
    assert CAL.is_trading_day(expiry)
    scheduled = NSE_MONTHLY_EXPIRY.scheduled_day(expiry.year, expiry.month)
    assert expiry <= scheduled
    assert expiry.month == scheduled.month
    day = expiry + timedelta(days=1)
    while day <= scheduled:  # every day skipped back over is closed
        assert not CAL.is_trading_day(day)
        day += timedelta(days=1)
    assert scheduled.weekday() == (
        stdcal.TUESDAY if scheduled >= date(2025, 9, 1) else stdcal.THURSDAY
    )
    following = next_expiries(today, 2, calendar=CAL)
    assert following[0] == expiry and following[1] > expiry


def test_weekday_is_a_parameter_with_an_effective_date() -> None:
    thursdays = MonthlyExpiryRule((ExpiryWeekday(date(2000, 1, 1), stdcal.THURSDAY),))
    cal = weekday_calendar()
    assert monthly_expiry(2026, 11, calendar=cal, rule=thursdays) == date(2026, 11, 26)
    later = MonthlyExpiryRule(
        (
            ExpiryWeekday(date(2000, 1, 1), stdcal.THURSDAY),
            ExpiryWeekday(date(2025, 10, 1), stdcal.TUESDAY),
        )
    )
    assert monthly_expiry(2025, 9, calendar=cal, rule=later) == date(2025, 9, 25)
    assert monthly_expiry(2025, 10, calendar=cal, rule=later) == date(2025, 10, 28)
    mid_month = MonthlyExpiryRule(
        (
            ExpiryWeekday(date(2000, 1, 1), stdcal.THURSDAY),
            ExpiryWeekday(date(2025, 9, 30), stdcal.TUESDAY),
        )
    )
    assert monthly_expiry(2025, 9, calendar=cal, rule=mid_month) == date(2025, 9, 30)
    assert near_month_expiry(date(2026, 11, 25), calendar=cal, rule=thursdays) == date(2026, 11, 26)
    assert NSE_MONTHLY_EXPIRY.describe() == "last Thursday; last Tuesday from 2025-09-01"


def test_rule_validation() -> None:
    with pytest.raises(ExpiryError, match="at least one"):
        MonthlyExpiryRule(())
    with pytest.raises(ExpiryError, match="increasing"):
        MonthlyExpiryRule((ExpiryWeekday(date(2025, 1, 1), 1), ExpiryWeekday(date(2024, 1, 1), 3)))
    with pytest.raises(ExpiryError, match="0 \\(Monday\\) to 6"):
        ExpiryWeekday(date(2025, 1, 1), 7)


def test_symbols_follow_the_angel_master() -> None:
    assert expiry_code(date(2026, 11, 24)) == "24NOV26"
    assert future_symbol("NIFTY", date(2026, 11, 24)) == "NIFTY24NOV26FUT"
    assert future_symbol("BANKNIFTY", date(2026, 3, 3)) == "BANKNIFTY03MAR26FUT"
    assert future_symbol("M&M", date(2026, 12, 29)) == "M&M29DEC26FUT"
    assert format_master_expiry(date(2024, 3, 28)) == "28MAR2024"
    assert parse_master_expiry("28MAR2024") == date(2024, 3, 28)
    assert parse_master_expiry(" 28mar2024 ") == date(2024, 3, 28)
    assert parse_expiry_code("24NOV26") == date(2026, 11, 24)


@pytest.mark.parametrize("bad", ["nifty", "", "NIFTY 50"])
def test_future_symbol_rejects_bad_names(bad: str) -> None:
    with pytest.raises(ExpiryError, match="upper case"):
        future_symbol(bad, date(2026, 11, 24))


@pytest.mark.parametrize("bad", ["28MAR24", "2024-03-28", "31FEB2024", "28XYZ2024", "AAMAR2024"])
def test_parse_master_expiry_rejects_bad_text(bad: str) -> None:
    with pytest.raises(ExpiryError, match=r"DDMMMYYYY|real date"):
        parse_master_expiry(bad)


@pytest.mark.parametrize("bad", ["28MAR2024", "31FEB24", "2XMAR24"])
def test_parse_expiry_code_rejects_bad_text(bad: str) -> None:
    with pytest.raises(ExpiryError, match=r"DDMMMYY|real date"):
        parse_expiry_code(bad)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_expiry_texts_round_trip(day: date) -> None:
    assert parse_master_expiry(format_master_expiry(day)) == day
    assert parse_expiry_code(expiry_code(day)) == day
