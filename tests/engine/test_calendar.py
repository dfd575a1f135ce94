"""Tests of engine.calendar: the bundled NSE holidays, trading-day steps and session phases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.calendar import (
    HolidayCalendar,
    HolidayCalendarError,
    default_calendar,
    ist_date_of,
    ist_time_of,
    weekday_calendar,
)
from engine.clock import IST, NS_PER_SECOND, SessionPhase, SessionSchedule, ist_ns

CAL = default_calendar()


def at(day: date, hh: int, mm: int, ss: int = 0) -> int:
    return ist_ns(day, dtime(hh, mm, ss))


# ---------------------------------------------------------------------------------------------
# The bundled file


def test_bundled_file_covers_2025_to_2027() -> None:
    assert CAL.years == {2025: "official", 2026: "official", 2027: "provisional"}
    assert CAL.covers(date(2026, 5, 1))
    assert not CAL.covers(date(2031, 5, 1))
    assert not CAL.is_provisional(date(2026, 1, 1))
    assert CAL.is_provisional(date(2027, 1, 1))
    assert CAL.is_provisional(date(2031, 1, 1))
    assert HolidayCalendar.bundled() is CAL


def test_bundled_holidays_match_the_published_lists() -> None:
    by_year: dict[int, list[date]] = {}
    for day in CAL.holidays:
        by_year.setdefault(day.year, []).append(day)
    assert len(by_year[2025]) == 14
    assert len(by_year[2026]) == 16
    for day in (date(2025, 2, 26), date(2025, 10, 21), date(2026, 1, 15), date(2026, 11, 24)):
        assert not CAL.is_trading_day(day)
        assert CAL.holiday_name(day)
    assert CAL.holiday_name(date(2026, 3, 31)) == "Shri Mahavir Jayanti"
    assert CAL.holiday_name(date(2026, 11, 23)) is None


def test_bundled_holidays_are_weekdays_and_special_sessions_weekends() -> None:
    assert all(day.weekday() < 5 for day in CAL.holidays)
    assert set(CAL.special_sessions) == {date(2025, 2, 1), date(2026, 2, 1)}


def test_trading_days() -> None:
    assert CAL.is_trading_day(date(2026, 11, 20))  # Friday
    assert not CAL.is_trading_day(date(2026, 11, 21))  # Saturday
    assert not CAL.is_trading_day(date(2026, 11, 22))  # Sunday
    assert CAL.is_trading_day(date(2026, 2, 1))  # Budget Sunday
    assert CAL.is_trading_day(date(2025, 2, 1))  # Budget Saturday
    assert CAL.is_trading_day(date(2031, 3, 3))  # uncovered year: weekdays trade


def test_next_and_previous_trading_day_skip_weekends_and_holidays() -> None:
    assert CAL.next_trading_day(date(2026, 11, 20)) == date(2026, 11, 23)
    assert CAL.next_trading_day(date(2026, 11, 23)) == date(2026, 11, 25)  # 24th Guru Nanak
    assert CAL.previous_trading_day(date(2026, 4, 6)) == date(2026, 4, 2)  # 3rd Good Friday
    assert CAL.next_trading_day(date(2026, 3, 30)) == date(2026, 4, 1)  # 31st Mahavir Jayanti
    assert CAL.next_trading_day(date(2026, 1, 30)) == date(2026, 2, 1)  # Budget Sunday
    assert CAL.trading_day_on_or_before(date(2026, 11, 24)) == date(2026, 11, 23)
    assert CAL.trading_day_on_or_before(date(2026, 11, 23)) == date(2026, 11, 23)
    assert CAL.trading_days(date(2026, 11, 20), date(2026, 11, 27)) == [
        date(2026, 11, 20),
        date(2026, 11, 23),
        date(2026, 11, 25),
        date(2026, 11, 26),
        date(2026, 11, 27),
    ]


@settings(max_examples=200)
@given(st.dates(min_value=date(2024, 6, 1), max_value=date(2028, 6, 1)))
def test_trading_day_steps_are_consistent(day: date) -> None:
    after, before = CAL.next_trading_day(day), CAL.previous_trading_day(day)
    assert before < day < after
    assert CAL.is_trading_day(after) and CAL.is_trading_day(before)
    gap = day + timedelta(days=1)
    while gap < after:
        assert not CAL.is_trading_day(gap)
        gap += timedelta(days=1)
    assert CAL.previous_trading_day(after) == CAL.trading_day_on_or_before(day) or (
        not CAL.is_trading_day(day) and CAL.previous_trading_day(after) == before
    )


# ---------------------------------------------------------------------------------------------
# Session phases


FRIDAY = date(2026, 11, 20)


@pytest.mark.parametrize(
    ("ts", "phase"),
    [
        (at(FRIDAY, 8, 59, 59), SessionPhase.CLOSED),
        (at(FRIDAY, 9, 0), SessionPhase.PRE_OPEN),
        (at(FRIDAY, 9, 8) - 1, SessionPhase.PRE_OPEN),
        (at(FRIDAY, 9, 8), SessionPhase.PRE_OPEN_MATCH),
        (at(FRIDAY, 9, 15) - 1, SessionPhase.PRE_OPEN_MATCH),
        (at(FRIDAY, 9, 15), SessionPhase.CONTINUOUS),
        (at(FRIDAY, 15, 30) - 1, SessionPhase.CONTINUOUS),
        (at(FRIDAY, 15, 30), SessionPhase.CLOSING),
        (at(FRIDAY, 15, 40), SessionPhase.POST_CLOSE),
        (at(FRIDAY, 16, 0), SessionPhase.CLOSED),
        (at(date(2026, 11, 21), 10, 0), SessionPhase.CLOSED),  # Saturday
        (at(date(2026, 11, 24), 10, 0), SessionPhase.CLOSED),  # holiday
        (at(date(2026, 2, 1), 10, 0), SessionPhase.CONTINUOUS),  # Budget Sunday
    ],
)
def test_phase_at(ts: int, phase: SessionPhase) -> None:
    assert CAL.phase_at(ts) is phase


def test_phase_at_uses_the_given_schedule() -> None:
    late = SessionSchedule(continuous_start=dtime(10, 0))
    assert CAL.phase_at(at(FRIDAY, 9, 30), late) is SessionPhase.PRE_OPEN_MATCH


def test_ist_midnight_belongs_to_the_new_day() -> None:
    midnight = at(date(2026, 11, 23), 0, 0)
    assert ist_date_of(midnight) == date(2026, 11, 23)
    assert ist_date_of(midnight - 1) == date(2026, 11, 22)
    assert ist_time_of(midnight - 1) == dtime(23, 59, 59, 999_999)


@settings(max_examples=300)
@given(st.integers(min_value=0, max_value=4_000_000_000 * NS_PER_SECOND))
def test_ist_date_and_time_agree_with_zoneinfo(ts: int) -> None:
    reference = datetime.fromtimestamp(ts // 1000 / 1_000_000, tz=UTC).astimezone(IST)
    micro = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ts // 1000)
    local = micro.astimezone(IST)
    assert ist_date_of(ts) == local.date()
    assert ist_time_of(ts) == local.time()
    assert abs((reference - local).total_seconds()) < 1e-3


def test_next_open() -> None:
    assert CAL.next_open_ns(at(FRIDAY, 8, 0)) == at(FRIDAY, 9, 15)
    assert CAL.next_open_ns(at(FRIDAY, 9, 15)) == at(FRIDAY, 9, 15)
    assert CAL.next_open_ns(at(FRIDAY, 9, 15) + 1) == at(date(2026, 11, 23), 9, 15)
    assert CAL.next_open_ns(at(FRIDAY, 16, 0)) == at(date(2026, 11, 23), 9, 15)
    assert CAL.next_open_ns(at(date(2026, 11, 23), 20, 0)) == at(date(2026, 11, 25), 9, 15)
    assert CAL.next_open_ns(at(date(2026, 1, 31), 12, 0)) == at(date(2026, 2, 1), 9, 15)


@settings(max_examples=100)
@given(st.integers(min_value=1_735_000_000, max_value=1_830_000_000))
def test_next_open_is_a_trading_day_open_with_no_open_in_between(seconds: int) -> None:
    ts = seconds * NS_PER_SECOND
    opened = CAL.next_open_ns(ts)
    assert opened >= ts
    assert CAL.phase_at(opened) is SessionPhase.CONTINUOUS
    assert CAL.phase_at(opened - 1) is SessionPhase.PRE_OPEN_MATCH
    assert opened - ts <= 8 * 86_400 * NS_PER_SECOND


# ---------------------------------------------------------------------------------------------
# User files and their errors

GOOD = """\
format = 1
[years]
2030 = "official"
[holidays]
2030-01-01 = "New Year (example)"
"2030-01-02" = "Quoted key"
[special_sessions]
2030-01-05 = "Saturday session"
"""


def test_from_file_reads_a_user_calendar(tmp_path: Path) -> None:
    path = tmp_path / "holidays.toml"
    path.write_text(GOOD, encoding="utf-8")
    cal = HolidayCalendar.from_file(path)
    assert not cal.is_trading_day(date(2030, 1, 1))
    assert not cal.is_trading_day(date(2030, 1, 2))
    assert cal.is_trading_day(date(2030, 1, 3))
    assert cal.is_trading_day(date(2030, 1, 5))
    assert cal.source == str(path)
    assert "2030 official" in repr(cal)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(HolidayCalendarError, match=r"cannot read holiday file .*nope\.toml"):
        HolidayCalendar.from_file(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace('2030-01-01 = "New', "2030-01-01 = New"), r"not valid TOML.*line 5"),
        (
            GOOD.replace("2030-01-01", "2030-02-30"),
            r"line 5, key '\[holidays\] 2030-02-30'.*YYYY-MM-DD",
        ),
        (GOOD.replace('"2030-01-02"', '"20300102"'), r"line 6, key '\[holidays\] 20300102'"),
        (GOOD.replace('"New Year (example)"', "3"), r"line 5, .*reason string"),
        (GOOD.replace("2030-01-01", "2031-01-01"), r"line 5, .*2031 is not listed in \[years\]"),
        (GOOD.replace("format = 1", "format = 2"), r"line 1, key 'format': must be 1"),
        (GOOD.replace('"official"', '"final"'), r"line 3, key '\[years\] 2030'.*official"),
        (GOOD.replace("2030 =", "30 ="), r"line 3, key '\[years\] 30'.*four-digit"),
        ("holidayz = 1\n" + GOOD, r"line 1, key 'holidayz': unknown key"),
        (GOOD.replace("2030-01-05", "2030-01-07"), r"line 8, .*2030-01-07.*is a weekday"),
        ("format = 1\n[years]\n", r"\[years\] lists no year"),
        (
            GOOD.replace("[special", '2030-01-05 = "Sat"\n[special'),
            "2030-01-05 is both a holiday and a special session",
        ),
    ],
)
def test_malformed_files_name_line_and_key(text: str, message: str) -> None:
    with pytest.raises(HolidayCalendarError, match=message):
        HolidayCalendar.from_toml(text, source="mine.toml")


def test_weekday_calendar_has_no_holidays() -> None:
    cal = weekday_calendar([2026])
    assert cal.is_trading_day(date(2026, 11, 24))
    assert not cal.is_trading_day(date(2026, 11, 22))
    assert cal.covers(date(2026, 1, 1)) and not cal.covers(date(2027, 1, 1))
