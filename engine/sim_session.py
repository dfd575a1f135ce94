"""Session hours and the intraday volatility profile of the simulated market.

:class:`SessionCalendar` answers "which phase is it and when does it change" for both session
modes: ``real`` follows the NSE schedule of :mod:`engine.clock` on weekdays that are not in the
configured holidays, ``always_open`` is one continuous session that
never changes phase. :class:`VolProfile` gives the U-shaped intraday volatility multiplier.
"""

from __future__ import annotations

from datetime import date, timedelta

from engine.clock import (
    NS_PER_SECOND,
    NSE_SCHEDULE,
    SessionPhase,
    SessionSchedule,
    ist_date,
    ist_ns,
    to_ist,
)
from engine.sim_config import SessionMode

NEVER = 1 << 63
"""A timestamp later than any real one: the next boundary of a session that never changes."""


class SessionCalendar:
    """Phases and phase boundaries of the simulated exchange's trading days."""

    def __init__(
        self,
        mode: SessionMode,
        holidays: frozenset[date] = frozenset(),
        schedule: SessionSchedule = NSE_SCHEDULE,
    ) -> None:
        self.mode = mode
        self.holidays = holidays
        self.schedule = schedule
        self._times = (
            schedule.pre_open_start,
            schedule.pre_open_end,
            schedule.continuous_start,
            schedule.continuous_end,
            schedule.post_close_start,
            schedule.post_close_end,
        )

    def is_trading_day(self, day: date) -> bool:
        """Monday to Friday, except the configured holidays."""
        return day.weekday() < 5 and day not in self.holidays

    def phase_at(self, ts: int) -> SessionPhase:
        """The phase at ``ts``."""
        if self.mode is SessionMode.ALWAYS_OPEN:
            return SessionPhase.CONTINUOUS
        moment = to_ist(ts)
        if not self.is_trading_day(moment.date()):
            return SessionPhase.CLOSED
        return self.schedule.phase_at_time(moment.time())

    def next_boundary(self, ts: int) -> int:
        """The first phase change strictly after ``ts`` (:data:`NEVER` in ``always_open``)."""
        if self.mode is SessionMode.ALWAYS_OPEN:
            return NEVER
        day = ist_date(ts)
        if self.is_trading_day(day):
            for at in self._times:
                boundary = ist_ns(day, at)
                if boundary > ts:
                    return boundary
        day += timedelta(days=1)
        while not self.is_trading_day(day):
            day += timedelta(days=1)
        return ist_ns(day, self.schedule.pre_open_start)

    def continuous_bounds(self, ts: int) -> tuple[int, int]:
        """(open, close) in ns of the continuous session on the IST day of ``ts``."""
        return self.schedule.session_bounds(ist_date(ts))


class VolProfile:
    """U-shaped intraday volatility: ``multiplier(ts)`` averages 1 over a session.

    ``m(u) = (1 + k (2u - 1)^2) / (1 + k / 3)`` where ``u`` in 0..1 is the elapsed share of the
    continuous session: at the open and the close the volatility is ``1 + k`` times the midday
    volatility. In a cyclic profile (``always_open``) ``u`` wraps around every session length;
    otherwise it is clipped to 0..1 (the pre-open counts as the open).
    """

    __slots__ = ("_k", "_len", "_norm", "_open", "cyclic")

    def __init__(self, k: float) -> None:
        self._k = k
        self._norm = 1.0 / (1.0 + k / 3.0)
        self._open = 0
        self._len = 22_500 * NS_PER_SECOND
        self.cyclic = False

    def anchor(self, open_ns: int, length_ns: int, *, cyclic: bool) -> None:
        """Measure the session from ``open_ns``; it lasts ``length_ns``."""
        if length_ns <= 0:
            raise ValueError(f"session length must be positive, got {length_ns} ns")
        self._open = open_ns
        self._len = length_ns
        self.cyclic = cyclic

    def multiplier(self, ts: int) -> float:
        """Volatility multiplier at ``ts``."""
        u = (ts - self._open) / self._len
        if self.cyclic:
            u %= 1.0
        elif u < 0.0:
            u = 0.0
        elif u > 1.0:
            u = 1.0
        c = 2.0 * u - 1.0
        return (1.0 + self._k * c * c) * self._norm
