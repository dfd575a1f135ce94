"""The paper session follows the NSE calendar in ``real`` mode: holidays are closed."""

from __future__ import annotations

from datetime import date
from datetime import time as dtime

from cockpit.session import PaperSession, PaperSessionOptions
from engine.calendar import default_calendar
from engine.clock import SessionPhase, ist_ns


def _session_at(day: date) -> PaperSession:
    return PaperSession(
        PaperSessionOptions(
            session="real", today=day, clock_start_ns=ist_ns(day, dtime(10, 0)), drive=False
        )
    )


def test_real_mode_is_closed_on_an_nse_holiday() -> None:
    holiday = next(
        d for d in sorted(default_calendar().holidays) if d.year == 2026 and d.weekday() < 5
    )
    assert _session_at(holiday).market.phase is SessionPhase.CLOSED


def test_real_mode_trades_on_an_ordinary_weekday() -> None:
    day = date(2026, 11, 20)
    assert default_calendar().is_trading_day(day)
    assert _session_at(day).market.phase is SessionPhase.CONTINUOUS
