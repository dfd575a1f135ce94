"""Time: IST conversions, an injectable clock, and the NSE session schedule.

The core never calls ``time.time()`` directly: it asks a :class:`Clock`, so tests, the simulated
market and backtests run on simulated time. Timestamps are ``int`` nanoseconds since the Unix epoch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dtime
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")
NS_PER_SECOND = 1_000_000_000
NS_PER_MS = 1_000_000


class Clock(Protocol):
    """Something that tells the time in ns since the epoch."""

    def now_ns(self) -> int:
        """Current time in nanoseconds since the Unix epoch (UTC)."""
        ...


class WallClock:
    """The real clock."""

    def now_ns(self) -> int:
        """Current wall time."""
        return time.time_ns()


class SimClock:
    """A clock that moves only when told to (simulated sessions, backtests, tests)."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        """Current simulated time."""
        return self._now

    def set(self, ts_ns: int) -> None:
        """Jump to ``ts_ns``; time never goes backwards."""
        if ts_ns < self._now:
            raise ValueError(f"simulated time cannot go backwards ({ts_ns} < {self._now})")
        self._now = ts_ns

    def advance(self, ns: int) -> int:
        """Move forward by ``ns`` and return the new time."""
        if ns < 0:
            raise ValueError(f"cannot advance by a negative amount ({ns})")
        self._now += ns
        return self._now


def to_ist(ts_ns: int) -> datetime:
    """Aware IST datetime of a timestamp."""
    return datetime.fromtimestamp(ts_ns / NS_PER_SECOND, tz=IST)


def ist_ns(day: date, at: dtime) -> int:
    """Timestamp (ns) of wall time ``at`` in IST on ``day``. IST has no DST, so this is exact."""
    moment = datetime.combine(day, at, tzinfo=IST)
    return int(moment.timestamp()) * NS_PER_SECOND + moment.microsecond * 1000


def ist_date(ts_ns: int) -> date:
    """The IST calendar date of a timestamp."""
    return to_ist(ts_ns).date()


class SessionPhase(StrEnum):
    """Phases of an NSE trading day (equity cash; F&O follows the same clock)."""

    CLOSED = "CLOSED"  # holiday, weekend, or before pre-open / after post-close
    PRE_OPEN = "PRE_OPEN"  # call-auction order entry 09:00-09:08
    PRE_OPEN_MATCH = "PRE_OPEN_MATCH"  # auction matching and buffer 09:08-09:15, no entry
    CONTINUOUS = "CONTINUOUS"  # normal market 09:15-15:30
    CLOSING = "CLOSING"  # 15:30-15:40 closing price calculation, no entry
    POST_CLOSE = "POST_CLOSE"  # closing session 15:40-16:00 (trades at the close price)

    @property
    def accepts_orders(self) -> bool:
        """True where the exchange takes new orders."""
        return self in (SessionPhase.PRE_OPEN, SessionPhase.CONTINUOUS, SessionPhase.POST_CLOSE)


@dataclass(frozen=True, slots=True)
class SessionSchedule:
    """IST times of the phases of one trading day. Defaults are NSE's equity schedule."""

    pre_open_start: dtime = dtime(9, 0)
    pre_open_end: dtime = dtime(9, 8)
    continuous_start: dtime = dtime(9, 15)
    continuous_end: dtime = dtime(15, 30)
    post_close_start: dtime = dtime(15, 40)
    post_close_end: dtime = dtime(16, 0)

    def phase_at_time(self, at: dtime) -> SessionPhase:
        """Phase at wall time ``at`` on a trading day."""
        if at < self.pre_open_start:
            return SessionPhase.CLOSED
        if at < self.pre_open_end:
            return SessionPhase.PRE_OPEN
        if at < self.continuous_start:
            return SessionPhase.PRE_OPEN_MATCH
        if at < self.continuous_end:
            return SessionPhase.CONTINUOUS
        if at < self.post_close_start:
            return SessionPhase.CLOSING
        if at < self.post_close_end:
            return SessionPhase.POST_CLOSE
        return SessionPhase.CLOSED

    def session_bounds(self, day: date) -> tuple[int, int]:
        """(open, close) of the continuous session on ``day`` in ns."""
        return ist_ns(day, self.continuous_start), ist_ns(day, self.continuous_end)


NSE_SCHEDULE = SessionSchedule()


def seconds_since_midnight_ist(ts_ns: int) -> int:
    """Whole seconds since IST midnight (IST is UTC+05:30 with no DST)."""
    return (ts_ns // NS_PER_SECOND + 19800) % 86400


def ist_midnight_ns(ts_ns: int) -> int:
    """Timestamp of the IST midnight that starts the day of ``ts_ns``."""
    secs = ts_ns // NS_PER_SECOND
    return (secs - (secs + 19800) % 86400) * NS_PER_SECOND


ONE_DAY = timedelta(days=1)
