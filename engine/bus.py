"""The market bus: one producer fans market events out to consumers, plus a conflated UI view.

The feed task publishes every :data:`engine.models.MarketEvent` (``Quote`` or ``TradePrint``) once;
the bus hands it to each subscribed consumer's bounded queue and updates the UI view inline.

Transport (see research/perf-baselines.md §5): each consumer owns a ``collections.deque`` and an
``asyncio.Event``; the consumer drains a whole burst per wakeup (:meth:`BusQueue.get_batch`). Events
are appended by reference, never copied.

Delivery guarantees:

* A **strict** consumer (``lossy=False``, e.g. the trading core) gets every event, in publish
  order. Its ``maxsize`` is the backpressure bound: :meth:`MarketBus.publish_async` and
  :meth:`MarketBus.publish_many_async` wait for room before publishing. The sync
  :meth:`MarketBus.publish` (and the thread handoff) cannot wait, so it appends anyway and the
  queue overflows its bound instead of dropping. Either way every time the producer finds the queue
  full is counted in ``slow`` (per event for the sync paths, per wait for the async paths) and the
  high-water mark in ``max_depth``: a slow consumer is visible, never silently skipped.
* A **lossy** consumer (``lossy=True``, e.g. a logger or a strategy monitor) keeps only the newest
  ``maxsize`` events: when its queue is full the oldest queued event is discarded and counted in
  ``dropped``.
* The UI does not get a queue: :class:`UiView` keeps the latest quote per token and a set of dirty
  tokens that a frame timer collects with :meth:`UiView.take_dirty`, plus a small ring of recent
  trade prints per token for the tape. Every quote replaced before the UI read it, and every unread
  trade print pushed out of its ring, is counted in ``conflated``.

Lag is the time from an event's stamp to the moment a consumer dequeues it. The stamp is the publish
time (:attr:`LagFrom.PUBLISH`, default: measures the bus alone) or the event's own ``ts``
(:attr:`LagFrom.EVENT_TS`: includes decode and handoff; events with ``ts == 0`` fall back to the
publish time). Samples go into a fixed-size ring per consumer; percentiles are computed on demand
over the most recent samples, while the maximum is exact over the whole run.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import repeat

from engine.clock import Clock
from engine.models import MarketEvent, Quote, TradePrint

DEFAULT_BATCH = 512
"""Default maximum number of events :meth:`BusQueue.get_batch` returns per wakeup."""

DEFAULT_LAG_SAMPLES = 4096
"""Default size of each consumer's ring of lag samples."""

DEFAULT_TAPE_SIZE = 64
"""Default number of recent trade prints the UI view keeps per token."""


class BusClosedError(RuntimeError):
    """Raised when publishing to, or subscribing on, a bus that has been closed."""


class LagFrom(StrEnum):
    """Where a lag measurement starts."""

    PUBLISH = "publish"
    """From the moment the event was published (or handed over by a thread)."""

    EVENT_TS = "event_ts"
    """From the event's own ``ts`` (falls back to the publish time when ``ts`` is 0)."""


# ---------------------------------------------------------------------------------------------
# Lag samples


@dataclass(frozen=True, slots=True)
class LagStats:
    """Lag percentiles (nearest-rank, over the most recent ``samples``) and the all-time maximum."""

    samples: int
    p50_ns: int
    p99_ns: int
    max_ns: int


EMPTY_LAG = LagStats(samples=0, p50_ns=0, p99_ns=0, max_ns=0)


def nearest_rank(sorted_values: Sequence[int], pct: float) -> int:
    """The ``pct`` percentile of ascending ``sorted_values`` by the nearest-rank method.

    The result is the smallest value such that at least ``pct`` % of the values are <= it, i.e. the
    value at 1-based rank ``ceil(pct / 100 * n)`` (rank 1 for ``pct == 0``).
    """
    n = len(sorted_values)
    if n == 0:
        raise ValueError("cannot take a percentile of no values")
    if not 0.0 <= pct <= 100.0:
        raise ValueError(f"percentile must be between 0 and 100, got {pct}")
    rank = max(1, math.ceil(pct / 100.0 * n))
    return sorted_values[rank - 1]


class LagReservoir:
    """A fixed-size ring of the most recent lag samples (ns) plus the exact all-time maximum."""

    __slots__ = ("_buf", "_capacity", "_count", "_max", "_pos")

    def __init__(self, capacity: int = DEFAULT_LAG_SAMPLES) -> None:
        if capacity <= 0:
            raise ValueError(f"lag sample capacity must be positive, got {capacity}")
        self._capacity = capacity
        self._buf: list[int] = [0] * capacity
        self._pos = 0
        self._count = 0
        self._max = 0

    def add(self, lag_ns: int) -> None:
        """Record one sample."""
        self._buf[self._pos] = lag_ns
        self._pos = (self._pos + 1) % self._capacity
        if self._count < self._capacity:
            self._count += 1
        if lag_ns > self._max:
            self._max = lag_ns

    def add_many(self, lags: list[int]) -> None:
        """Record a burst of samples (slice writes: C speed)."""
        k = len(lags)
        if k == 0:
            return
        top = max(lags)
        if top > self._max:
            self._max = top
        cap = self._capacity
        if k >= cap:
            self._buf[:] = lags[k - cap :]
            self._pos = 0
            self._count = cap
            return
        pos = self._pos
        end = pos + k
        if end <= cap:
            self._buf[pos:end] = lags
        else:
            first = cap - pos
            self._buf[pos:] = lags[:first]
            self._buf[: k - first] = lags[first:]
        self._pos = end % cap
        self._count = min(cap, self._count + k)

    def samples(self) -> list[int]:
        """The retained samples, oldest first."""
        if self._count < self._capacity:
            return self._buf[: self._count]
        return self._buf[self._pos :] + self._buf[: self._pos]

    @property
    def max_ns(self) -> int:
        """Largest lag ever recorded (0 when none)."""
        return self._max

    def stats(self) -> LagStats:
        """Percentiles over the retained samples."""
        if self._count == 0:
            return EMPTY_LAG
        ordered = sorted(self.samples())
        return LagStats(
            samples=len(ordered),
            p50_ns=nearest_rank(ordered, 50.0),
            p99_ns=nearest_rank(ordered, 99.0),
            max_ns=self._max,
        )


def merge_lag(reservoirs: Iterable[LagReservoir]) -> LagStats:
    """Percentiles over the union of several reservoirs' samples; the maximum of their maxima."""
    merged: list[int] = []
    top = 0
    for r in reservoirs:
        merged.extend(r.samples())
        top = max(top, r.max_ns)
    if not merged:
        return EMPTY_LAG
    merged.sort()
    return LagStats(
        samples=len(merged),
        p50_ns=nearest_rank(merged, 50.0),
        p99_ns=nearest_rank(merged, 99.0),
        max_ns=top,
    )


# ---------------------------------------------------------------------------------------------
# Snapshots


@dataclass(frozen=True, slots=True)
class ConsumerStats:
    """Counters of one consumer queue at the moment :meth:`MarketBus.stats` was called."""

    name: str
    lossy: bool
    maxsize: int
    depth: int
    max_depth: int
    delivered: int
    dropped: int
    slow: int
    lag: LagStats


@dataclass(frozen=True, slots=True)
class BusStats:
    """A snapshot of the bus counters.

    ``received`` counts events published; ``conflated`` counts UI updates overwritten before the UI
    read them; ``lag`` merges the lag samples of every consumer; ``discarded_after_close`` counts
    events handed over by a thread that arrived after :meth:`MarketBus.close`.
    """

    received: int
    conflated: int
    conflated_quotes: int
    conflated_trades: int
    thread_batches: int
    thread_wakeups: int
    discarded_after_close: int
    closed: bool
    lag: LagStats
    consumers: tuple[ConsumerStats, ...]

    def consumer(self, name: str) -> ConsumerStats:
        """The stats of the consumer called ``name``."""
        for c in self.consumers:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.consumers) or "none"
        raise KeyError(f"no consumer named {name!r} (consumers: {known})")

    @property
    def delivered(self) -> dict[str, int]:
        """Events dequeued, per consumer."""
        return {c.name: c.delivered for c in self.consumers}

    @property
    def dropped(self) -> dict[str, int]:
        """Events dropped, per consumer (always 0 for strict consumers)."""
        return {c.name: c.dropped for c in self.consumers}

    @property
    def slow(self) -> dict[str, int]:
        """Times the producer found each consumer's queue full."""
        return {c.name: c.slow for c in self.consumers}


# ---------------------------------------------------------------------------------------------
# Consumer queue


class BusQueue:
    """One consumer's bounded queue on the bus (create it with :meth:`MarketBus.subscribe`).

    One task consumes a queue: ``while batch := await queue.get_batch(): ...`` handles a burst per
    wakeup and ends when the bus (or this queue) is closed and the queue is empty.
    """

    __slots__ = (
        "_closed",
        "_events",
        "_lag",
        "_now",
        "_ready",
        "_space",
        "_space_wanted",
        "_stamps",
        "delivered",
        "dropped",
        "lossy",
        "max_depth",
        "maxsize",
        "name",
        "slow",
    )

    def __init__(
        self, name: str, maxsize: int, lossy: bool, now: Callable[[], int], lag_samples: int
    ) -> None:
        self.name = name
        self.maxsize = maxsize
        self.lossy = lossy
        bound = maxsize if lossy else None
        self._events: deque[MarketEvent] = deque(maxlen=bound)
        self._stamps: deque[int] = deque(maxlen=bound)
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space_wanted = False
        self._closed = False
        self._now = now
        self._lag = LagReservoir(lag_samples)
        self.delivered = 0
        self.dropped = 0
        self.slow = 0
        self.max_depth = 0

    def __len__(self) -> int:
        return len(self._events)

    def __repr__(self) -> str:
        kind = "lossy" if self.lossy else "strict"
        return f"BusQueue({self.name!r}, {kind}, depth={len(self._events)}/{self.maxsize})"

    @property
    def closed(self) -> bool:
        """True once the bus or this queue was closed (queued events can still be drained)."""
        return self._closed

    async def get_batch(self, max_n: int = DEFAULT_BATCH) -> list[MarketEvent]:
        """Wait for events and return up to ``max_n`` of them, oldest first.

        Returns an empty list only when the queue is closed and fully drained: the consumer's loop
        should end then.
        """
        if max_n <= 0:
            raise ValueError(f"max_n must be a positive number of events, got {max_n}")
        events = self._events
        while not events:
            if self._closed:
                return []
            self._ready.clear()
            await self._ready.wait()
        return self._take(max_n)

    def drain(self, max_n: int | None = None) -> list[MarketEvent]:
        """Return the queued events (at most ``max_n``) without waiting; ``[]`` when empty."""
        if max_n is not None and max_n <= 0:
            raise ValueError(f"max_n must be a positive number of events or None, got {max_n}")
        if not self._events:
            return []
        return self._take(len(self._events) if max_n is None else max_n)

    def _take(self, max_n: int) -> list[MarketEvent]:
        events = self._events
        stamps = self._stamps
        now = self._now()
        if len(events) <= max_n:
            out = list(events)
            lags = [now - s for s in stamps]
            events.clear()
            stamps.clear()
        else:
            pop = events.popleft
            spop = stamps.popleft
            out = [pop() for _ in range(max_n)]
            lags = [now - spop() for _ in range(max_n)]
        self._lag.add_many(lags)
        self.delivered += len(out)
        if self._space_wanted and len(events) < self.maxsize:
            self._space_wanted = False
            self._space.set()
        return out

    def _close(self) -> None:
        self._closed = True
        self._ready.set()
        self._space.set()

    def stats(self) -> ConsumerStats:
        """A snapshot of this queue's counters."""
        return ConsumerStats(
            name=self.name,
            lossy=self.lossy,
            maxsize=self.maxsize,
            depth=len(self._events),
            max_depth=self.max_depth,
            delivered=self.delivered,
            dropped=self.dropped,
            slow=self.slow,
            lag=self._lag.stats(),
        )


# ---------------------------------------------------------------------------------------------
# UI view


class UiView:
    """The UI's conflated view of the market, updated inline by the bus.

    Quotes: the latest per token, and the tokens changed since the last :meth:`take_dirty`.
    Trade prints: the last ``tape_size`` per token, and how many of them the UI has not read yet
    (:meth:`take_new_trades`).
    """

    __slots__ = (
        "_dirty",
        "_latest",
        "_tape_size",
        "_tapes",
        "_unread",
        "conflated_quotes",
        "conflated_trades",
    )

    def __init__(self, tape_size: int = DEFAULT_TAPE_SIZE) -> None:
        if tape_size <= 0:
            raise ValueError(f"tape_size must be a positive number of trades, got {tape_size}")
        self._tape_size = tape_size
        self._latest: dict[str, Quote] = {}
        self._dirty: dict[str, Quote] = {}
        self._tapes: dict[str, deque[TradePrint]] = {}
        self._unread: dict[str, int] = {}
        self.conflated_quotes = 0
        self.conflated_trades = 0

    @property
    def conflated(self) -> int:
        """Quotes overwritten, plus unread trade prints evicted, before the UI read them."""
        return self.conflated_quotes + self.conflated_trades

    def on_quote(self, quote: Quote) -> None:
        """Record a quote (the bus calls this; O(1))."""
        token = quote.token
        if token in self._dirty:
            self.conflated_quotes += 1
        self._dirty[token] = quote
        self._latest[token] = quote

    def on_trade(self, trade: TradePrint) -> None:
        """Record a trade print (the bus calls this; O(1))."""
        token = trade.token
        tape = self._tapes.get(token)
        if tape is None:
            tape = self._tapes[token] = deque(maxlen=self._tape_size)
        tape.append(trade)
        unread = self._unread.get(token, 0)
        if unread >= self._tape_size:
            self.conflated_trades += 1
        else:
            self._unread[token] = unread + 1

    def take_dirty(self) -> dict[str, Quote]:
        """Latest quote of every token changed since the previous call; resets the dirty set."""
        dirty = self._dirty
        self._dirty = {}
        return dirty

    def latest(self, token: str) -> Quote | None:
        """Latest quote of ``token``, or None when none arrived yet."""
        return self._latest.get(token)

    def snapshot(self) -> dict[str, Quote]:
        """A copy of the latest quote of every token seen."""
        return dict(self._latest)

    def tape(self, token: str) -> list[TradePrint]:
        """The retained recent trade prints of ``token``, oldest first."""
        tape = self._tapes.get(token)
        return list(tape) if tape is not None else []

    def take_new_trades(self) -> dict[str, list[TradePrint]]:
        """Trade prints not yet read, per token, oldest first; marks them read."""
        out: dict[str, list[TradePrint]] = {}
        for token, unread in self._unread.items():
            tape = self._tapes[token]
            out[token] = list(tape)[len(tape) - unread :]
        self._unread.clear()
        return out


# ---------------------------------------------------------------------------------------------
# The bus

_KINDS = frozenset({Quote, TradePrint})


def _check_kinds(batch: list[MarketEvent]) -> None:
    """Reject a batch holding anything but Quote/TradePrint before any of it is delivered."""
    if set(map(type, batch)) <= _KINDS:
        return
    for i, event in enumerate(batch):
        if type(event) not in _KINDS and not isinstance(event, Quote | TradePrint):
            raise TypeError(
                f"the market bus carries Quote or TradePrint events; event #{i} of the batch is a "
                f"{type(event).__name__} (nothing of this batch was published)"
            )


class MarketBus:
    """Fan-out of market events from one producer to bounded consumer queues and the UI view.

    ``clock`` measures lag; by default ``time.perf_counter_ns`` for :attr:`LagFrom.PUBLISH` and
    ``time.time_ns`` for :attr:`LagFrom.EVENT_TS` (event timestamps are epoch ns).
    """

    def __init__(
        self,
        *,
        lag_from: LagFrom = LagFrom.PUBLISH,
        clock: Clock | None = None,
        tape_size: int = DEFAULT_TAPE_SIZE,
        lag_samples: int = DEFAULT_LAG_SAMPLES,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if lag_samples <= 0:
            raise ValueError(f"lag_samples must be positive, got {lag_samples}")
        self._lag_from = LagFrom(lag_from)
        if clock is not None:
            self._now: Callable[[], int] = clock.now_ns
        elif self._lag_from is LagFrom.EVENT_TS:
            self._now = time.time_ns
        else:
            self._now = time.perf_counter_ns
        self._use_event_ts = self._lag_from is LagFrom.EVENT_TS
        self._lag_samples = lag_samples
        self._ui = UiView(tape_size)
        self._by_name: dict[str, BusQueue] = {}
        self._queues: tuple[BusQueue, ...] = ()
        self._strict: tuple[BusQueue, ...] = ()
        self._received = 0
        self._closed = False
        self._loop = loop
        self._inbox: deque[tuple[int, list[MarketEvent]]] = deque()
        self._wake_pending = False
        self._thread_batches = 0
        self._thread_wakeups = 0
        self._discarded_after_close = 0

    # -- setup -----------------------------------------------------------------------------

    @property
    def ui_view(self) -> UiView:
        """The conflated view for the UI."""
        return self._ui

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    @property
    def received(self) -> int:
        """Events published so far."""
        return self._received

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the loop that :meth:`publish_threadsafe` wakes (done automatically when a consumer
        subscribes or waits inside a running loop)."""
        self._loop = loop

    def _attach_running_loop(self) -> None:
        if self._loop is None:
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_running_loop()

    def subscribe(self, name: str, *, maxsize: int, lossy: bool = False) -> BusQueue:
        """Add a consumer queue named ``name`` holding at most ``maxsize`` events.

        Strict consumers (the default) receive every event; lossy ones keep the newest ``maxsize``.
        """
        if self._closed:
            raise BusClosedError(f"cannot subscribe {name!r}: the market bus is closed")
        if not name:
            raise ValueError("a consumer needs a non-empty name")
        if name in self._by_name:
            raise ValueError(f"a consumer named {name!r} is already subscribed; names are unique")
        if maxsize <= 0:
            raise ValueError(
                f"maxsize of {name!r} must be a positive number of events, got {maxsize}"
            )
        self._attach_running_loop()
        queue = BusQueue(name, maxsize, lossy, self._now, self._lag_samples)
        self._by_name[name] = queue
        self._refresh()
        return queue

    def unsubscribe(self, name: str) -> None:
        """Remove the consumer ``name`` and close its queue (queued events can still be drained)."""
        queue = self._by_name.pop(name, None)
        if queue is None:
            raise KeyError(f"no consumer named {name!r} is subscribed")
        queue._close()
        self._refresh()

    def _refresh(self) -> None:
        self._queues = tuple(self._by_name.values())
        self._strict = tuple(q for q in self._queues if not q.lossy)

    def close(self) -> None:
        """Close the bus: publishing stops and every consumer's ``get_batch`` returns what is left,
        then ``[]``. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for queue in self._queues:
            queue._close()

    # -- publishing ------------------------------------------------------------------------

    def publish(self, event: MarketEvent) -> None:
        """Publish one event to every consumer and the UI view. Never waits, never drops for a
        strict consumer (a full strict queue overflows and counts ``slow``)."""
        if self._closed:
            raise BusClosedError("cannot publish: the market bus is closed")
        cls = type(event)
        if cls is Quote:
            self._ui.on_quote(event)  # type: ignore[arg-type]
        elif cls is TradePrint:
            self._ui.on_trade(event)  # type: ignore[arg-type]
        else:
            self._ui_dispatch_slow(event)
        now = self._now()
        stamp = (event.ts or now) if self._use_event_ts else now
        self._received += 1
        for q in self._queues:
            events = q._events
            n = len(events)
            if n >= q.maxsize:
                if q.lossy:
                    q.dropped += 1
                else:
                    q.slow += 1
            events.append(event)
            q._stamps.append(stamp)
            if n == 0:
                q._ready.set()
            if n >= q.max_depth:
                q.max_depth = len(events)

    def _ui_dispatch_slow(self, event: object) -> None:
        if isinstance(event, Quote):
            self._ui.on_quote(event)
        elif isinstance(event, TradePrint):
            self._ui.on_trade(event)
        else:
            raise TypeError(
                f"the market bus carries Quote or TradePrint events, got {type(event).__name__}"
            )

    def publish_many(self, events: Iterable[MarketEvent]) -> None:
        """Publish a burst of events (same guarantees as :meth:`publish`, one clock read)."""
        if self._closed:
            raise BusClosedError("cannot publish: the market bus is closed")
        batch = events if isinstance(events, list) else list(events)
        self._publish_batch(batch, self._now())

    def _publish_batch(self, batch: list[MarketEvent], now: int) -> None:
        k = len(batch)
        if k == 0:
            return
        _check_kinds(batch)
        on_quote = self._ui.on_quote
        on_trade = self._ui.on_trade
        for event in batch:
            cls = type(event)
            if cls is Quote:
                on_quote(event)  # type: ignore[arg-type]
            elif cls is TradePrint or isinstance(event, TradePrint):
                on_trade(event)  # type: ignore[arg-type]
            else:
                on_quote(event)
        if self._use_event_ts:
            stamps: Iterable[int] = [e.ts or now for e in batch]
        else:
            stamps = repeat(now, k)
        if len(self._queues) > 1 and not isinstance(stamps, list):
            stamps = list(stamps)
        self._received += k
        for q in self._queues:
            q_events = q._events
            n = len(q_events)
            over = n + k - q.maxsize
            if over > 0:
                if q.lossy:
                    q.dropped += over
                else:
                    q.slow += min(over, k)
            q_events.extend(batch)
            q._stamps.extend(stamps)
            if n == 0:
                q._ready.set()
            depth = len(q_events)
            if depth > q.max_depth:
                q.max_depth = depth

    def _room(self) -> int:
        """Free slots in the fullest strict queue (a large number when there is none)."""
        room = 1 << 62
        for q in self._strict:
            free = q.maxsize - len(q._events)
            if free < room:
                room = free
        return room

    async def _wait_for_space(self) -> None:
        full = [q for q in self._strict if len(q._events) >= q.maxsize]
        for q in full:
            q.slow += 1
        for q in full:
            while len(q._events) >= q.maxsize and not q._closed:
                q._space_wanted = True
                q._space.clear()
                await q._space.wait()
            if self._closed:
                raise BusClosedError("the market bus was closed while waiting for a slow consumer")

    async def publish_async(self, event: MarketEvent) -> None:
        """Publish one event, first waiting while any strict consumer's queue is full."""
        self._attach_running_loop()
        while self._room() <= 0:
            if self._closed:
                raise BusClosedError("cannot publish: the market bus is closed")
            await self._wait_for_space()
        self.publish(event)

    async def publish_many_async(self, events: Iterable[MarketEvent]) -> None:
        """Publish a burst in order, in chunks that fit every strict queue, waiting for room."""
        self._attach_running_loop()
        batch = events if isinstance(events, list) else list(events)
        i = 0
        total = len(batch)
        while i < total:
            if self._closed:
                raise BusClosedError("cannot publish: the market bus is closed")
            room = self._room()
            if room <= 0:
                await self._wait_for_space()
                continue
            chunk = batch[i : i + room] if (i or room < total) else batch
            self._publish_batch(chunk, self._now())
            i += len(chunk)

    # -- thread handoff --------------------------------------------------------------------

    def publish_threadsafe(self, events: Iterable[MarketEvent]) -> None:
        """Hand a batch of events over from another thread (e.g. a broker SDK's socket thread).

        The events are copied into a list and stamped now; the loop is woken at most once per
        pending handoff, however many batches arrive before it runs. Strict consumers get them
        with :meth:`publish` semantics (the thread cannot wait for room).
        """
        if self._closed:
            raise BusClosedError("cannot publish: the market bus is closed")
        loop = self._loop
        if loop is None:
            raise RuntimeError(
                "publish_threadsafe needs the bus's event loop: call attach_loop(loop) first, or "
                "subscribe a consumer from inside the running loop"
            )
        batch = list(events)
        if not batch:
            return
        _check_kinds(batch)
        self._inbox.append((self._now(), batch))
        if not self._wake_pending:
            self._wake_pending = True
            loop.call_soon_threadsafe(self._drain_inbox)

    def _drain_inbox(self) -> None:
        # Clear the flag before draining: a batch appended after this line triggers a new wakeup,
        # and one appended before it is drained below.
        self._wake_pending = False
        self._thread_wakeups += 1
        inbox = self._inbox
        while inbox:
            stamp, batch = inbox.popleft()
            self._thread_batches += 1
            if self._closed:
                self._discarded_after_close += len(batch)
                continue
            self._publish_batch(batch, stamp)

    # -- stats -----------------------------------------------------------------------------

    def stats(self) -> BusStats:
        """A frozen snapshot of every counter (percentiles are computed now)."""
        consumers = tuple(q.stats() for q in self._by_name.values())
        ui = self._ui
        return BusStats(
            received=self._received,
            conflated=ui.conflated,
            conflated_quotes=ui.conflated_quotes,
            conflated_trades=ui.conflated_trades,
            thread_batches=self._thread_batches,
            thread_wakeups=self._thread_wakeups,
            discarded_after_close=self._discarded_after_close,
            closed=self._closed,
            lag=merge_lag(q._lag for q in self._by_name.values()),
            consumers=consumers,
        )

    def queue(self, name: str) -> BusQueue:
        """The consumer queue called ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(self._by_name) or "none"
            raise KeyError(f"no consumer named {name!r} (consumers: {known})") from None
