"""NSE monthly derivative expiries and Angel One style contract symbols.

NSE's monthly index and stock derivatives expire on the last Tuesday of the month for contracts
expiring from 2025-09-01 (circular NSE/FAOP/68747); before that the last Thursday. When that day is
not a trading day the contract expires on the previous trading day (research/trading-semantics.md
§4.1). The weekday history is data (:class:`MonthlyExpiryRule`), so a future change is one line.

Symbols follow the Angel One instrument master (research/smartapi.md §9): a future is
``NAME + DDMMMYY + FUT`` (``NIFTY24NOV26FUT``) and the master's ``expiry`` field is ``DDMMMYYYY``
(``24NOV2026``). Month names are fixed English abbreviations, never the locale's.
"""

from __future__ import annotations

import calendar as _stdcal
from dataclasses import dataclass
from datetime import date, timedelta

from engine.calendar import HolidayCalendar, default_calendar

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
"""Upper-case English month abbreviations as the instrument master writes them."""

_MONTH_NUMBER = {name: number for number, name in enumerate(MONTHS, start=1)}
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class ExpiryError(ValueError):
    """An expiry rule, date or symbol that cannot be used, with the reason."""


@dataclass(frozen=True, slots=True)
class ExpiryWeekday:
    """From ``effective_from`` on, monthly contracts expire on the last ``weekday`` (Monday=0)."""

    effective_from: date
    weekday: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ExpiryError(f"weekday must be 0 (Monday) to 6 (Sunday), got {self.weekday}")


@dataclass(frozen=True, slots=True)
class MonthlyExpiryRule:
    """Which weekday monthly contracts expire on, over time.

    A month's expiry uses the newest entry whose ``effective_from`` is on or before the candidate
    expiry day; the first entry applies to everything before the later ones.
    """

    history: tuple[ExpiryWeekday, ...]

    def __post_init__(self) -> None:
        if not self.history:
            raise ExpiryError("an expiry rule needs at least one weekday entry")
        dates = [entry.effective_from for entry in self.history]
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            raise ExpiryError("expiry weekday entries must be in increasing effective_from order")

    def scheduled_day(self, year: int, month: int) -> date:
        """The last expiry weekday of the month before any holiday adjustment."""
        for entry in reversed(self.history):
            candidate = last_weekday_of_month(year, month, entry.weekday)
            if candidate >= entry.effective_from:
                return candidate
        return last_weekday_of_month(year, month, self.history[0].weekday)

    def describe(self) -> str:
        """Human summary, e.g. ``last Thursday; last Tuesday from 2025-09-01``."""
        parts = [f"last {_WEEKDAY_NAMES[self.history[0].weekday]}"]
        parts += [
            f"last {_WEEKDAY_NAMES[e.weekday]} from {e.effective_from.isoformat()}"
            for e in self.history[1:]
        ]
        return "; ".join(parts)


NSE_MONTHLY_EXPIRY = MonthlyExpiryRule(
    (
        ExpiryWeekday(date(2000, 1, 1), _stdcal.THURSDAY),
        ExpiryWeekday(date(2025, 9, 1), _stdcal.TUESDAY),
    )
)
"""NSE equity derivatives: last Thursday, then last Tuesday from 2025-09-01."""


def last_weekday_of_month(year: int, month: int, weekday: int) -> date:
    """The last ``weekday`` (Monday=0) of a month."""
    last = date(year, month, _stdcal.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def monthly_expiry(
    year: int,
    month: int,
    *,
    calendar: HolidayCalendar | None = None,
    rule: MonthlyExpiryRule = NSE_MONTHLY_EXPIRY,
) -> date:
    """Expiry date of the monthly contract of ``year``/``month``, moved back over holidays."""
    cal = calendar if calendar is not None else default_calendar()
    return cal.trading_day_on_or_before(rule.scheduled_day(year, month))


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def near_month_expiry(
    today: date,
    *,
    calendar: HolidayCalendar | None = None,
    rule: MonthlyExpiryRule = NSE_MONTHLY_EXPIRY,
) -> date:
    """Expiry of the near-month contract on ``today``: this month's, or next month's once
    this month's has passed (on expiry day itself the contract is still the near month)."""
    return next_expiries(today, 1, calendar=calendar, rule=rule)[0]


def next_expiries(
    today: date,
    n: int,
    *,
    calendar: HolidayCalendar | None = None,
    rule: MonthlyExpiryRule = NSE_MONTHLY_EXPIRY,
) -> list[date]:
    """The ``n`` monthly expiries from the near month on, in order."""
    if n < 0:
        raise ExpiryError(f"number of expiries must be >= 0, got {n}")
    cal = calendar if calendar is not None else default_calendar()
    year, month = today.year, today.month
    found: list[date] = []
    while len(found) < n:
        expiry = monthly_expiry(year, month, calendar=cal, rule=rule)
        if expiry >= today:
            found.append(expiry)
        year, month = _next_month(year, month)
    return found


# ---------------------------------------------------------------------------------------------
# Symbols and the master's expiry field


def expiry_code(expiry: date) -> str:
    """``DDMMMYY`` as used inside contract symbols: ``date(2026, 11, 24)`` -> ``24NOV26``."""
    return f"{expiry.day:02d}{MONTHS[expiry.month - 1]}{expiry.year % 100:02d}"


def future_symbol(name: str, expiry: date) -> str:
    """Angel One future symbol: ``NIFTY`` expiring 2026-11-24 is ``NIFTY24NOV26FUT``."""
    if not name or not name.isupper() or any(c.isspace() for c in name):
        raise ExpiryError(f"underlying name must be upper case without spaces, got {name!r}")
    return f"{name}{expiry_code(expiry)}FUT"


def format_master_expiry(expiry: date) -> str:
    """The master's ``expiry`` field: ``date(2026, 11, 24)`` -> ``24NOV2026``."""
    return f"{expiry.day:02d}{MONTHS[expiry.month - 1]}{expiry.year:04d}"


def parse_master_expiry(text: str) -> date:
    """Parse the master's ``DDMMMYYYY`` expiry (``28MAR2024``); case-insensitive."""
    cleaned = text.strip().upper()
    month = _MONTH_NUMBER.get(cleaned[2:5]) if len(cleaned) == 9 else None
    if month is None or not (cleaned[:2].isdigit() and cleaned[5:].isdigit()):
        raise ExpiryError(f"expiry {text!r} is not DDMMMYYYY (e.g. 28MAR2024)")
    try:
        return date(int(cleaned[5:]), month, int(cleaned[:2]))
    except ValueError:
        raise ExpiryError(f"expiry {text!r} is not a real date") from None


def parse_expiry_code(code: str) -> date:
    """Parse a ``DDMMMYY`` symbol code (``24NOV26``) into a date in 2000-2099."""
    cleaned = code.strip().upper()
    month = _MONTH_NUMBER.get(cleaned[2:5]) if len(cleaned) == 7 else None
    if month is None or not (cleaned[:2].isdigit() and cleaned[5:].isdigit()):
        raise ExpiryError(f"expiry code {code!r} is not DDMMMYY (e.g. 24NOV26)")
    try:
        return date(2000 + int(cleaned[5:]), month, int(cleaned[:2]))
    except ValueError:
        raise ExpiryError(f"expiry code {code!r} is not a real date") from None
