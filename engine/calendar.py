"""NSE holiday calendar, trading-day arithmetic and the session phase at a timestamp.

The holidays come from a TOML file (the bundled ``engine/data/nse_holidays.toml`` or the user's
own copy, see :meth:`HolidayCalendar.from_file`); its header documents the format. A year the file
does not list is treated as "weekends only": :meth:`HolidayCalendar.covers` tells the caller when
that is the case so it can warn instead of silently trusting the answer.

Dates are IST calendar dates; timestamps are ``int`` ns since the epoch. The date and time of a
timestamp are computed with integer arithmetic (IST is UTC+05:30 with no DST), so phase boundaries
are exact to the nanosecond.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from datetime import time as dtime
from functools import lru_cache
from importlib import resources
from pathlib import Path

from engine.clock import NS_PER_SECOND, NSE_SCHEDULE, SessionPhase, SessionSchedule, ist_ns

IST_OFFSET_SECONDS = 19_800
"""IST is UTC+05:30 all year."""

_EPOCH_DAY = date(1970, 1, 1)
_ONE_DAY = timedelta(days=1)
_YEAR_STATUSES = ("official", "provisional")
_TOP_LEVEL_KEYS = ("format", "years", "holidays", "special_sessions")
_SUPPORTED_FORMAT = 1


class HolidayCalendarError(ValueError):
    """A holiday file that cannot be used, naming the file, the line and the key at fault."""


def ist_date_of(ts_ns: int) -> date:
    """IST calendar date of a timestamp (integer arithmetic, exact)."""
    days = (ts_ns // NS_PER_SECOND + IST_OFFSET_SECONDS) // 86_400
    return _EPOCH_DAY + timedelta(days=days)


def ist_time_of(ts_ns: int) -> dtime:
    """IST wall time of a timestamp, truncated to the microsecond (never rounded up)."""
    seconds, nanos = divmod(ts_ns, NS_PER_SECOND)
    of_day = (seconds + IST_OFFSET_SECONDS) % 86_400
    hour, rest = divmod(of_day, 3600)
    minute, second = divmod(rest, 60)
    return dtime(hour, minute, second, nanos // 1000)


class HolidayCalendar:
    """Trading holidays and weekend special sessions of one exchange.

    A day is a trading day when it is a weekday that is not a holiday, or a special session
    (a weekend day the exchange opens, such as Budget day).
    """

    __slots__ = ("_holidays", "_special", "_years", "source")

    def __init__(
        self,
        holidays: Mapping[date, str] | None = None,
        special_sessions: Mapping[date, str] | None = None,
        years: Mapping[int, str] | None = None,
        *,
        source: str = "<memory>",
    ) -> None:
        self._holidays: dict[date, str] = dict(holidays or {})
        self._special: dict[date, str] = dict(special_sessions or {})
        self._years: dict[int, str] = dict(years or {})
        self.source = source
        clash = sorted(set(self._holidays) & set(self._special))
        if clash:
            raise HolidayCalendarError(
                f"{source}: {clash[0].isoformat()} is both a holiday and a special session"
            )

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path) -> HolidayCalendar:
        """Load a holiday file (the format of ``engine/data/nse_holidays.toml``)."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise HolidayCalendarError(f"cannot read holiday file {file}: {exc.strerror}") from exc
        return cls.from_toml(text, source=str(file))

    @classmethod
    def from_toml(cls, text: str, *, source: str = "<text>") -> HolidayCalendar:
        """Parse holiday-file text; errors name ``source``, the line and the key."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise HolidayCalendarError(f"{source}: not valid TOML: {exc}") from exc
        return _parse_calendar(data, text, source)

    @classmethod
    def bundled(cls) -> HolidayCalendar:
        """The calendar shipped with the cockpit (cached; see :func:`default_calendar`)."""
        return default_calendar()

    # -- days ------------------------------------------------------------------------------

    @property
    def holidays(self) -> Mapping[date, str]:
        """Holiday date -> reason (a copy)."""
        return dict(self._holidays)

    @property
    def special_sessions(self) -> Mapping[date, str]:
        """Special weekend session date -> reason (a copy)."""
        return dict(self._special)

    @property
    def years(self) -> Mapping[int, str]:
        """Covered year -> ``"official"`` or ``"provisional"`` (a copy)."""
        return dict(self._years)

    def covers(self, day: date) -> bool:
        """True when the file lists ``day``'s year (otherwise only weekends are known)."""
        return day.year in self._years

    def is_provisional(self, day: date) -> bool:
        """True when ``day``'s year is missing or only estimated: its holidays may be wrong."""
        return self._years.get(day.year) != "official"

    def holiday_name(self, day: date) -> str | None:
        """The reason the market is closed on ``day`` if it is a listed holiday, else ``None``."""
        return self._holidays.get(day)

    def is_trading_day(self, day: date) -> bool:
        """True when the exchange holds a normal session on ``day``."""
        if day in self._special:
            return True
        return day.weekday() < 5 and day not in self._holidays

    def next_trading_day(self, day: date) -> date:
        """The first trading day strictly after ``day``."""
        candidate = day + _ONE_DAY
        while not self.is_trading_day(candidate):
            candidate += _ONE_DAY
        return candidate

    def previous_trading_day(self, day: date) -> date:
        """The last trading day strictly before ``day``."""
        candidate = day - _ONE_DAY
        while not self.is_trading_day(candidate):
            candidate -= _ONE_DAY
        return candidate

    def trading_day_on_or_before(self, day: date) -> date:
        """``day`` if it is a trading day, else the previous trading day."""
        return day if self.is_trading_day(day) else self.previous_trading_day(day)

    def trading_days(self, start: date, end: date) -> list[date]:
        """Trading days from ``start`` to ``end``, both included."""
        days: list[date] = []
        day = start
        while day <= end:
            if self.is_trading_day(day):
                days.append(day)
            day += _ONE_DAY
        return days

    # -- sessions --------------------------------------------------------------------------

    def phase_at(self, ts_ns: int, schedule: SessionSchedule = NSE_SCHEDULE) -> SessionPhase:
        """Session phase at ``ts_ns``: CLOSED on non-trading days, else the schedule's phase."""
        if not self.is_trading_day(ist_date_of(ts_ns)):
            return SessionPhase.CLOSED
        return schedule.phase_at_time(ist_time_of(ts_ns))

    def next_open_ns(self, ts_ns: int, schedule: SessionSchedule = NSE_SCHEDULE) -> int:
        """Start of the next continuous session at or after ``ts_ns`` (09:15 IST on NSE).

        While the market is open this is the next trading day's open.
        """
        day = ist_date_of(ts_ns)
        if self.is_trading_day(day):
            open_ns = ist_ns(day, schedule.continuous_start)
            if ts_ns <= open_ns:
                return open_ns
        return ist_ns(self.next_trading_day(day), schedule.continuous_start)

    def __repr__(self) -> str:
        years = ", ".join(f"{y} {s}" for y, s in sorted(self._years.items()))
        return f"HolidayCalendar({self.source!r}: {len(self._holidays)} holidays; {years})"


@lru_cache(maxsize=1)
def default_calendar() -> HolidayCalendar:
    """The bundled NSE calendar (``engine/data/nse_holidays.toml``), loaded once."""
    text = resources.files("engine").joinpath("data/nse_holidays.toml").read_text("utf-8")
    return HolidayCalendar.from_toml(text, source="engine/data/nse_holidays.toml")


# ---------------------------------------------------------------------------------------------
# Parsing with errors that point at the line


def _line_of(text: str, table: str | None, key: str) -> int | None:
    """1-based line where ``key`` is defined (inside ``[table]`` when given), if it can be found."""
    current: str | None = None
    key_pattern = re.compile(
        rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*="""
    )
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"^\s*\[\s*([^\]]+?)\s*\]", line)
        if header:
            current = header.group(1)
            continue
        if current == table and key_pattern.match(line):
            return number
    return None


def _fail(
    text: str, source: str, table: str | None, key: str, problem: str
) -> HolidayCalendarError:
    line = _line_of(text, table, key)
    where = f"line {line}, " if line is not None else ""
    qualified = f"[{table}] {key}" if table else key
    return HolidayCalendarError(f"{source}: {where}key {qualified!r}: {problem}")


def _parse_calendar(data: Mapping[str, object], text: str, source: str) -> HolidayCalendar:
    for key in data:
        if key not in _TOP_LEVEL_KEYS:
            raise _fail(
                text,
                source,
                None,
                key,
                f"unknown key; expected one of {', '.join(_TOP_LEVEL_KEYS)}",
            )
    fmt = data.get("format")
    if fmt != _SUPPORTED_FORMAT:
        raise _fail(text, source, None, "format", f"must be {_SUPPORTED_FORMAT}, got {fmt!r}")
    years = _parse_years(_table(data, "years", text, source), text, source)
    holidays = _parse_dates(_table(data, "holidays", text, source), "holidays", years, text, source)
    special = _parse_dates(
        _table(data, "special_sessions", text, source), "special_sessions", years, text, source
    )
    for day in special:
        if day.weekday() < 5:
            raise _fail(
                text,
                source,
                "special_sessions",
                day.isoformat(),
                "is a weekday; special sessions are weekend days the exchange opens",
            )
    return HolidayCalendar(holidays, special, years, source=source)


def _table(data: Mapping[str, object], name: str, text: str, source: str) -> Mapping[str, object]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise _fail(text, source, None, name, f"must be a table [{name}], got {value!r}")
    return value


def _parse_years(table: Mapping[str, object], text: str, source: str) -> dict[int, str]:
    years: dict[int, str] = {}
    for key, status in table.items():
        if not (key.isdigit() and len(key) == 4):
            raise _fail(text, source, "years", key, "must be a four-digit year such as 2026")
        if status not in _YEAR_STATUSES:
            raise _fail(
                text,
                source,
                "years",
                key,
                f'status must be "official" or "provisional", got {status!r}',
            )
        years[int(key)] = str(status)
    if not years:
        raise HolidayCalendarError(
            f'{source}: [years] lists no year; add e.g. 2026 = "official" for each year covered'
        )
    return years


def _parse_dates(
    table: Mapping[str, object], name: str, years: Mapping[int, str], text: str, source: str
) -> dict[date, str]:
    days: dict[date, str] = {}
    for key, reason in table.items():
        try:
            day = date.fromisoformat(key)
        except ValueError:
            raise _fail(text, source, name, key, "is not a date; write YYYY-MM-DD") from None
        if len(key) != 10:
            raise _fail(text, source, name, key, "write the date as YYYY-MM-DD")
        if not isinstance(reason, str) or not reason.strip():
            raise _fail(text, source, name, key, 'needs a reason string, e.g. "Holi"')
        if day.year not in years:
            raise _fail(
                text,
                source,
                name,
                key,
                f'{day.year} is not listed in [years]; add {day.year} = "official" there',
            )
        days[day] = reason.strip()
    return days


def weekday_calendar(years: Iterable[int] = ()) -> HolidayCalendar:
    """A calendar with no holidays (every weekday trades), for tests and simulations."""
    return HolidayCalendar({}, {}, dict.fromkeys(years, "official"), source="<weekdays>")
