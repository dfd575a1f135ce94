"""Stateful meters behind two pre-trade checks: the order-to-trade ratio and duplicate orders.

:class:`OrderToTradeMeter` counts order messages (new orders, modifications and cancellations, as
the exchanges count them) and trades (executions) per IST trading day. The ratio is
``messages / max(trades, 1)``: with no trade yet, every message counts fully. Exchanges fine
members whose algo orders run an OTR of 500 or more and bar those at 2,000 or more on 3 days in 30
from the first 15 minutes of the next day (SEBI 2020-06-24); the meter lets the checker warn and
block well before that.

:class:`DuplicateGuard` remembers recently accepted orders by a key (token, side, quantity, price,
trigger, order type) and reports one seen again within the window: the classic double key press.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Mapping
from datetime import date
from fractions import Fraction
from typing import Any

from engine.clock import ist_date
from engine.rate_limit import OrderAction

__all__ = ["DuplicateGuard", "OrderToTradeMeter"]


class OrderToTradeMeter:
    """Order messages and trades of the current IST day; the day rolls over by itself."""

    __slots__ = ("_day", "_messages", "_trades")

    def __init__(self) -> None:
        self._day: date | None = None
        self._messages: dict[OrderAction, int] = dict.fromkeys(OrderAction, 0)
        self._trades = 0

    def _roll(self, ts: int) -> None:
        """Start a new day's counts when ``ts`` falls on a later IST day."""
        day = ist_date(ts)
        if self._day is None or day > self._day:
            self._day = day
            self._messages = dict.fromkeys(OrderAction, 0)
            self._trades = 0

    def record(self, action: OrderAction, ts: int, n: int = 1) -> None:
        """Count ``n`` messages of kind ``action`` sent at ``ts``."""
        self._roll(ts)
        self._messages[action] += n

    def record_trade(self, ts: int, n: int = 1) -> None:
        """Count ``n`` trades (executions) at ``ts``."""
        self._roll(ts)
        self._trades += n

    def messages(self, ts: int) -> int:
        """Order messages so far on the IST day of ``ts``."""
        self._roll(ts)
        return sum(self._messages.values())

    def trades(self, ts: int) -> int:
        """Trades so far on the IST day of ``ts``."""
        self._roll(ts)
        return self._trades

    def ratio(self, ts: int, extra_messages: int = 0) -> Fraction:
        """Exact OTR on the day of ``ts`` if ``extra_messages`` more were sent."""
        self._roll(ts)
        return Fraction(sum(self._messages.values()) + extra_messages, max(self._trades, 1))

    def to_dict(self) -> dict[str, Any]:
        """Plain data so the day's counts survive a restart."""
        return {
            "day": self._day.isoformat() if self._day else None,
            "messages": {action.value: count for action, count in self._messages.items()},
            "trades": self._trades,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderToTradeMeter:
        """Rebuild from :meth:`to_dict` output."""
        meter = cls()
        try:
            meter._day = date.fromisoformat(data["day"]) if data["day"] else None
            for action, count in dict(data["messages"]).items():
                meter._messages[OrderAction(action)] = int(count)
            meter._trades = int(data["trades"])
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"order-to-trade snapshot is malformed: {exc!r}") from None
        return meter


class DuplicateGuard:
    """Remembers accepted order keys for ``window_ns`` and reports repeats within it."""

    __slots__ = ("_last", "_queue", "_window")

    def __init__(self, window_ns: int) -> None:
        if type(window_ns) is not int or window_ns < 0:
            raise ValueError(f"window_ns must be an int >= 0, got {window_ns!r}")
        self._window = window_ns
        self._last: dict[Hashable, int] = {}
        self._queue: deque[tuple[int, Hashable]] = deque()

    @property
    def window_ns(self) -> int:
        """Length of the window (0 = the guard is off)."""
        return self._window

    def _prune(self, now: int) -> None:
        edge = now - self._window
        queue = self._queue
        while queue and queue[0][0] <= edge:
            ts, key = queue.popleft()
            if self._last.get(key) == ts:
                del self._last[key]

    def seen_ago(self, key: Hashable, now: int) -> int | None:
        """Nanoseconds since ``key`` was last recorded, when that is within the window."""
        if self._window == 0:
            return None
        self._prune(now)
        last = self._last.get(key)
        if last is None:
            return None
        return max(now - last, 0)

    def record(self, key: Hashable, now: int) -> None:
        """Remember ``key`` as accepted at ``now``."""
        if self._window == 0:
            return
        self._last[key] = now
        self._queue.append((now, key))
