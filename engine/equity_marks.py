"""Daily equity marks: the account's figures at the end of each IST trading day, in the journal.

The core journals one ``equity_mark`` record when an IST day ends (for the day that ended, at
the first market data of the new day, before the new day's prices move anything) and one when it
stops (for the current day). A later mark for the same date replaces an earlier one, so a
restart during the day simply refreshes that day's mark. These marks are what the Account screen
draws the equity curve and the day P&L history from: the journal's fills alone cannot say what
open positions were worth at a past day's close.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from engine.journal import Journal
from engine.portfolio import Funds

K_EQUITY_MARK = "equity_mark"
"""Journal record kind of a daily equity mark."""


@dataclass(frozen=True, slots=True)
class EquityMark:
    """The account at the end of one IST trading day (money in paise, ``ts`` in ns)."""

    day: date
    ts: int
    equity: int
    cash: int
    realized: int
    unrealized: int
    charges: int

    def to_payload(self) -> dict[str, Any]:
        """The journal payload (plain JSON data)."""
        return {
            "date": self.day.isoformat(),
            "ts": self.ts,
            "equity": self.equity,
            "cash": self.cash,
            "realized": self.realized,
            "unrealized": self.unrealized,
            "charges": self.charges,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> EquityMark:
        """Read a journal payload back; a malformed one raises ValueError naming the field."""
        try:
            day = date.fromisoformat(str(payload["date"]))
            values = {
                name: payload[name]
                for name in ("ts", "equity", "cash", "realized", "unrealized", "charges")
            }
        except (KeyError, ValueError) as exc:
            raise ValueError(f"malformed equity mark {payload!r}: {exc}") from None
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"equity mark field {name} must be an int, got {value!r}")
        return cls(day=day, **values)

    @classmethod
    def of(cls, day: date, ts: int, funds: Funds) -> EquityMark:
        """The mark of ``day`` from the portfolio's figures."""
        return cls(
            day=day,
            ts=ts,
            equity=funds.equity,
            cash=funds.cash,
            realized=funds.realized,
            unrealized=funds.unrealized,
            charges=funds.charges,
        )


def latest_per_day(marks: Iterable[EquityMark]) -> list[EquityMark]:
    """One mark per date (the last one given for it), in date order."""
    by_day: dict[date, EquityMark] = {}
    for mark in marks:
        by_day[mark.day] = mark
    return [by_day[d] for d in sorted(by_day)]


def read_equity_marks(journal: Journal, account: str | None = None) -> list[EquityMark]:
    """Every day's latest mark in the journal (of ``account`` when given), in date order.

    Runs a read query on the journal file: call it from a thread when the loop must not wait.
    """
    records = journal.query(kind=K_EQUITY_MARK, account=account)
    return latest_per_day(EquityMark.from_payload(rec.payload) for rec in records)
