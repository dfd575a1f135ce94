"""Client-side rate limits for Angel One SmartAPI, one limiter per endpoint group.

Angel counts requests per client code and answers an excess with a plain-text HTTP 403
(research/smartapi.md §7). The adapter must never get there, even when several callers burst at
once, so every request first waits for a slot in its group's limiter. The limiter *waits*; it never
raises.

The table (:data:`DEFAULT_LIMITS`) is the one place the numbers live; a caller may override any
group (``AngelRestClient(limits={...})``). Notes on the numbers:

* ``orders`` (placeOrder + modifyOrder + cancelOrder together) is 9/s per the current table; that is
  also below SEBI's 10 orders/s retail-algo threshold, so one group covers both.
* ``quote`` (market/v1/quote) is listed at 10/s in the rate table but at 1/s on the Live Market
  Data page; the stricter figure is used.
* Endpoints the table does not list (estimateCharges, getOIData) get 1/s, the most conservative
  figure in the table.

How a window is enforced: the server counts *arrivals*, and an arrival happens somewhere between
the moment a request is sent and the moment its answer comes back. Counting send times alone is
not enough (network or event-loop jitter can bunch arrivals closer than the sends were), so each
request holds a :class:`RateSlot` from just before it is sent until its answer (or failure) is in,
and the slot counts against a window until ``span`` after it was *released*. A new request goes
only when fewer than N slots are in flight or were released within the last ``span`` seconds.
That bounds the arrivals in *any* window of the stated length by N whatever the jitter, for a
sliding or a fixed server window alike (which one Angel uses is unconfirmed). The price is a round
trip per window: a 1/s endpoint runs at 1/(1 s + RTT). ``slack`` (default 20 ms) lengthens every
window a little more, for timer and clock granularity.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "DEFAULT_LIMITS",
    "EndpointGroup",
    "RateLimit",
    "RateLimiter",
    "RateSlot",
]


class EndpointGroup:
    """Names of the endpoint groups (keys of :data:`DEFAULT_LIMITS`)."""

    LOGIN: Final = "login"
    GENERATE_TOKENS: Final = "generate_tokens"
    PROFILE: Final = "profile"
    LOGOUT: Final = "logout"
    RMS: Final = "rms"
    ORDERS: Final = "orders"
    ORDER_BOOK: Final = "order_book"
    TRADE_BOOK: Final = "trade_book"
    POSITIONS: Final = "positions"
    HOLDINGS: Final = "holdings"
    SEARCH_SCRIP: Final = "search_scrip"
    LTP: Final = "ltp"
    ORDER_DETAILS: Final = "order_details"
    QUOTE: Final = "quote"
    GTT_WRITE: Final = "gtt_write"
    GTT_READ: Final = "gtt_read"
    CANDLES: Final = "candles"
    CHARGES: Final = "charges"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``per_second`` / ``per_minute`` / ``per_hour`` requests (``None``: no such cap)."""

    per_second: int | None = None
    per_minute: int | None = None
    per_hour: int | None = None

    def __post_init__(self) -> None:
        for name in ("per_second", "per_minute", "per_hour"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 1):
                raise ValueError(f"RateLimit.{name} must be a positive int or None, got {value!r}")
        if self.per_second is None and self.per_minute is None and self.per_hour is None:
            raise ValueError("a RateLimit needs at least one of per_second, per_minute, per_hour")

    def windows(self) -> tuple[tuple[float, int], ...]:
        """``(window length in seconds, max requests)`` pairs."""
        pairs = ((1.0, self.per_second), (60.0, self.per_minute), (3600.0, self.per_hour))
        return tuple((span, limit) for span, limit in pairs if limit is not None)


G = EndpointGroup
DEFAULT_LIMITS: Final[Mapping[str, RateLimit]] = {
    G.LOGIN: RateLimit(per_second=1),
    G.GENERATE_TOKENS: RateLimit(per_second=1, per_hour=1000),
    G.PROFILE: RateLimit(per_second=3, per_hour=1000),
    G.LOGOUT: RateLimit(per_second=1),
    G.RMS: RateLimit(per_second=2),
    G.ORDERS: RateLimit(per_second=9, per_minute=500, per_hour=1000),
    G.ORDER_BOOK: RateLimit(per_second=1),
    G.TRADE_BOOK: RateLimit(per_second=1),
    G.POSITIONS: RateLimit(per_second=1),
    G.HOLDINGS: RateLimit(per_second=1),
    G.SEARCH_SCRIP: RateLimit(per_second=1),
    G.LTP: RateLimit(per_second=10, per_minute=500, per_hour=5000),
    G.ORDER_DETAILS: RateLimit(per_second=10, per_minute=500, per_hour=5000),
    G.QUOTE: RateLimit(per_second=1),
    G.GTT_WRITE: RateLimit(per_second=9, per_minute=500, per_hour=5000),
    G.GTT_READ: RateLimit(per_second=10, per_minute=500, per_hour=5000),
    G.CANDLES: RateLimit(per_second=3, per_minute=180, per_hour=5000),
    G.CHARGES: RateLimit(per_second=1),
}
"""Published limits per endpoint group (research/smartapi.md §7), the stricter figure where two
sources disagree."""

DEFAULT_SLACK_S: Final = 0.02
"""Extra length added to every window, in seconds (timer and clock granularity)."""

_INFINITY: Final = float("inf")


class RateSlot:
    """One request's claim on its group: counts from acquisition until ``span`` after release."""

    __slots__ = ("_clock", "_group", "end")

    def __init__(self, group: _GroupLimiter, clock: Callable[[], float]) -> None:
        self._group = group
        self._clock = clock
        self.end = _INFINITY
        """When the request finished (monotonic seconds); infinity while it is in flight."""

    def release(self) -> None:
        """The answer (or the failure) is in. Idempotent."""
        if self.end == _INFINITY:
            self.end = self._clock()
            self._group.released()


class _GroupLimiter:
    """The slots of one group, and a FIFO lock so waiters are served in arrival order."""

    __slots__ = ("_horizon", "_lock", "_released", "_slots", "_windows")

    def __init__(self, limit: RateLimit, slack: float) -> None:
        self._windows = tuple((span + slack, n) for span, n in limit.windows())
        self._horizon = max(span for span, _ in self._windows)
        self._slots: list[RateSlot] = []
        self._lock = asyncio.Lock()
        self._released = asyncio.Event()

    def released(self) -> None:
        self._released.set()

    def wait_needed(self, now: float) -> float:
        """Seconds until a request may be sent: 0 now, infinity until an in-flight one ends."""
        self._slots = [slot for slot in self._slots if slot.end > now - self._horizon]
        wait = 0.0
        for span, limit in self._windows:
            ends = sorted(slot.end for slot in self._slots if slot.end > now - span)
            if len(ends) < limit:
                continue
            # The (len - limit + 1)-th slot to drop out of the window frees the place.
            end = ends[len(ends) - limit]
            wait = max(wait, _INFINITY if end == _INFINITY else end + span - now)
        return wait

    async def acquire(self, clock: Callable[[], float]) -> RateSlot:
        async with self._lock:
            while True:
                wait = self.wait_needed(clock())
                if wait <= 0:
                    break
                if wait == _INFINITY:
                    self._released.clear()
                    await self._released.wait()
                else:
                    await asyncio.sleep(wait)
            slot = RateSlot(self, clock)
            self._slots.append(slot)
            return slot


class RateLimiter:
    """Waits until a request of a group may be sent without exceeding that group's limits.

    One limiter should be shared by everything that talks to one Angel account (the limits are per
    client code). Groups missing from ``limits`` fall back to :data:`DEFAULT_LIMITS`; a group in
    neither is refused with :class:`KeyError` (a programming error, not a runtime condition).
    ``clock`` is a monotonic seconds clock (tests may pass their own).

    Use ``async with limiter.slot(group): <send and read the answer>``; :meth:`acquire` returns
    the :class:`RateSlot` for callers that release it themselves.
    """

    def __init__(
        self,
        limits: Mapping[str, RateLimit] | None = None,
        *,
        slack: float = DEFAULT_SLACK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if slack < 0:
            raise ValueError(f"rate-limit slack must be >= 0 seconds, got {slack!r}")
        self.limits: dict[str, RateLimit] = {**DEFAULT_LIMITS, **(limits or {})}
        self._slack = slack
        self._clock = clock
        self._groups: dict[str, _GroupLimiter] = {}

    def _group(self, group: str) -> _GroupLimiter:
        limiter = self._groups.get(group)
        if limiter is None:
            if group not in self.limits:
                known = ", ".join(sorted(self.limits))
                raise KeyError(f"no rate limit for endpoint group {group!r}; known: {known}")
            limiter = self._groups[group] = _GroupLimiter(self.limits[group], self._slack)
        return limiter

    async def acquire(self, group: str) -> RateSlot:
        """Wait for a place in ``group``; the caller must :meth:`RateSlot.release` the slot when
        the request's answer (or failure) is in."""
        return await self._group(group).acquire(self._clock)

    @contextlib.asynccontextmanager
    async def slot(self, group: str) -> AsyncIterator[RateSlot]:
        """``async with limiter.slot(group):`` holds a place for the duration of one request."""
        claimed = await self.acquire(group)
        try:
            yield claimed
        finally:
            claimed.release()

    def wait_needed(self, group: str) -> float:
        """Seconds a request of ``group`` would wait right now (0 when a place is free,
        infinity while it must wait for a request in flight)."""
        limiter = self._groups.get(group)
        return 0.0 if limiter is None else max(0.0, limiter.wait_needed(self._clock()))
