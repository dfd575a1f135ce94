"""Order-rate limiter: at most N order messages per exchange segment in any one-second window.

SEBI's retail-algo framework (circular 2025-02-04, live 2026-04-01) sets a threshold of 10 orders
per second per exchange segment; brokers reject orders beyond it (Zerodha answers 429). The
exchanges count every order *message*: new orders, modifications and cancellations. So does this
limiter unless ``count_modify_cancel`` is off, in which case modifications and cancellations pass
without using a slot.

The limiter is a **sliding-window log**, not a token bucket: a bucket of N tokens refilled at N per
second lets almost 2N orders through in one second (a full bucket, then the refill), which is
exactly what the exchange rejects. The log keeps the times of the last N acquisitions per segment
and admits a new one only when the oldest of them is at least ``window_ns`` old, so every
half-open window ``[t, t + 1 s)`` holds at most N acquisitions, whatever the timing.

Time comes from the caller (``now_ns``, from the core's injected clock). Time that goes backwards
(a wall clock stepped back) is treated as the latest time seen, which can only make the limiter
stricter. One limiter is shared by everything that sends orders (manual entry, strategies, the
kill switch) so that together they stay under the cap.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum

__all__ = ["OrderAction", "OrderRateLimiter", "RateLimitError"]

NS_PER_SECOND = 1_000_000_000


class OrderAction(StrEnum):
    """What an order message does: place a new order, modify one, or cancel one."""

    NEW = "NEW"
    MODIFY = "MODIFY"
    CANCEL = "CANCEL"


class RateLimitError(ValueError):
    """A limiter setting or request that makes no sense, with the reason."""


class OrderRateLimiter:
    """At most ``max_per_window`` order messages per segment in any ``window_ns`` (default 1 s).

    Segments are plain strings (``"NSE"``, ``"NFO"``: :class:`engine.models.Exchange` values).
    """

    __slots__ = ("_count_modify_cancel", "_last_ns", "_log", "_max", "_window")

    def __init__(
        self,
        max_per_window: int = 10,
        *,
        window_ns: int = NS_PER_SECOND,
        count_modify_cancel: bool = True,
    ) -> None:
        if type(max_per_window) is not int or max_per_window < 1:
            raise RateLimitError(
                f"max_per_window must be a positive int (orders per window), got {max_per_window!r}"
            )
        if type(window_ns) is not int or window_ns < 1:
            raise RateLimitError(f"window_ns must be a positive int (ns), got {window_ns!r}")
        self._max = max_per_window
        self._window = window_ns
        self._count_modify_cancel = count_modify_cancel
        self._log: dict[str, deque[int]] = {}
        self._last_ns: dict[str, int] = {}

    @property
    def max_per_window(self) -> int:
        """Most acquisitions allowed in one window per segment."""
        return self._max

    @property
    def window_ns(self) -> int:
        """Length of the window in nanoseconds."""
        return self._window

    @property
    def count_modify_cancel(self) -> bool:
        """Whether modifications and cancellations use a slot."""
        return self._count_modify_cancel

    def counts(self, action: OrderAction) -> bool:
        """True when a message of kind ``action`` uses a slot."""
        return action is OrderAction.NEW or self._count_modify_cancel

    def _now(self, segment: str, now_ns: int) -> int:
        """``now_ns`` clamped so that time never goes backwards for ``segment``."""
        last = self._last_ns.get(segment)
        if last is not None and now_ns < last:
            return last
        return now_ns

    def _in_window(self, segment: str, now: int) -> deque[int]:
        """The segment's log with entries older than one window dropped."""
        log = self._log.get(segment)
        if log is None:
            log = deque()
            self._log[segment] = log
        edge = now - self._window
        while log and log[0] <= edge:
            log.popleft()
        return log

    def available(self, segment: str, now_ns: int) -> int:
        """How many slots ``segment`` has free at ``now_ns`` (nothing is consumed)."""
        now = self._now(segment, now_ns)
        return self._max - len(self._in_window(segment, now))

    def try_acquire(self, segment: str, now_ns: int, action: OrderAction = OrderAction.NEW) -> bool:
        """Use one slot of ``segment`` at ``now_ns`` if one is free; True when it was."""
        return self.try_acquire_many(segment, 1, now_ns, action)

    def try_acquire_many(
        self, segment: str, n: int, now_ns: int, action: OrderAction = OrderAction.NEW
    ) -> bool:
        """Use ``n`` slots at once (all or none): for the slices of one order."""
        if type(n) is not int or n < 1:
            raise RateLimitError(f"n must be a positive int, got {n!r}")
        if not self.counts(action):
            return True
        if n > self._max:
            return False
        now = self._now(segment, now_ns)
        log = self._in_window(segment, now)
        if len(log) + n > self._max:
            return False
        log.extend([now] * n)
        self._last_ns[segment] = now
        return True

    def time_until_available(self, segment: str, now_ns: int, n: int = 1) -> int:
        """Nanoseconds from ``now_ns`` until ``n`` slots are free in ``segment`` (0 = now).

        ``n`` larger than the window's capacity can never be admitted at once; that raises.
        """
        if type(n) is not int or n < 1 or n > self._max:
            raise RateLimitError(f"n must be between 1 and {self._max}, got {n!r}")
        now = self._now(segment, now_ns)
        log = self._in_window(segment, now)
        excess = len(log) + n - self._max
        if excess <= 0:
            return 0
        # The excess-th oldest entry must leave the window: it does at entry + window.
        free_at = log[excess - 1] + self._window
        return free_at - now_ns if free_at > now_ns else 0
