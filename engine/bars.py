"""Ticks to OHLCV bars at 1m, 3m, 5m, 15m, 1h and 1d, aligned to the IST trading session.

Alignment. Intraday bars start at the continuous-session open (09:15 IST for NSE) and step by the
interval: 1h bars are 09:15-10:15, 10:15-11:15, ..., and the last one, 15:15-15:30, is short
because every bar ends at the session close. A 1d bar is the session, 09:15-15:30; its ``start`` is
the session open. All bucketing is integer arithmetic on ns with IST = UTC+05:30 (no DST), so no
``datetime`` is built per tick. The session comes from a :class:`engine.clock.SessionSchedule`
(default :data:`engine.clock.NSE_SCHEDULE`).

Which ticks make bars.

* A :class:`engine.models.TradePrint` is one trade: price and quantity.
* A :class:`engine.models.Quote` carries the cumulative day volume; a trade happened when it
  rises, and the bar gets the increase as volume and ``ltp`` as price. A quote whose volume did not
  rise (a depth-only update) changes no bar. The first quote of a token on an IST day only sets the
  volume baseline when it arrives at or after the session open: we cannot tell how much of its
  cumulative volume, or whether its last price, belongs to the current bar. A quote that arrives
  before the open (pre-open) starts from 0, since all of the day's volume up to then is pre-open
  volume. A cumulative volume that falls within a day is a feed reset: it becomes the new baseline
  (counted in ``volume_resets``). Quotes without volume (LTP mode, ``volume == 0``) make a
  price-only print (volume 0) when ``ltp`` differs from the previous quote's ``ltp`` of the same
  day, during the continuous session only.
* Once a token has produced a TradePrint, its quotes no longer build bars (the prints are exact,
  and counting both would double the volume); they are counted in ``quotes_ignored``.
* The bucketing time is ``exchange_ts`` when the feed sets it, else ``ts``.

No bar is invented: a minute without trades has no bar, and a bar's prices are traded prices.

Ticks outside the continuous session. Trades in the pre-open window (09:00-09:15 IST, the call
auction) belong to the first bar of the session, so the auction price is the open of the 09:15 bar
(as exchanges and brokers' charts show it). Trades at any other time outside the session (the
closing session 15:40-16:00, or anything overnight) build no bar: they are counted in
``off_session`` and the last few per token are kept in :meth:`BarAggregator.off_session`.

Closing. A bar closes when a tick of a later bucket arrives for the same token, or when
:meth:`BarAggregator.close_due` is called with a time at or after the bar's end (pass ``now``
minus a grace period for feed latency). A closed bar is final and emitted once: to the
listeners, and into the buffer that :meth:`BarAggregator.take_closed` drains. A tick for a bar
that has already closed is late: it is counted in ``late`` and changes no bar. A trade print that
arrives out of order but still inside the open bar adds its volume and extremes but does not
become the close; an out-of-order quote is stale (its cumulative volume is older) and is skipped
entirely.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import time as dtime
from typing import NamedTuple

from engine.clock import NSE_SCHEDULE, SessionSchedule
from engine.models import Bar, Interval, MarketEvent, Quote, TradePrint

NS_PER_S = 1_000_000_000
IST_OFFSET_S = 19_800
"""IST is UTC+05:30 all year."""
SECONDS_PER_DAY = 86_400

ALL_INTERVALS: tuple[Interval, ...] = (
    Interval.M1,
    Interval.M3,
    Interval.M5,
    Interval.M15,
    Interval.H1,
    Interval.D1,
)

DEFAULT_HISTORY = 1_000
"""Closed bars kept per token and interval."""
DEFAULT_CLOSED_BUFFER = 100_000
"""Closed bars waiting for :meth:`BarAggregator.take_closed` before the oldest are discarded."""
DEFAULT_OFF_SESSION_KEEP = 64
"""Off-session trades kept per token."""

BarListener = Callable[[Bar], None]


def _seconds(at: dtime) -> int:
    """Seconds since midnight of a wall time (sub-second parts are not supported in a schedule)."""
    if at.microsecond:
        raise ValueError(f"session times must be whole seconds, got {at}")
    return at.hour * 3600 + at.minute * 60 + at.second


class OffSessionTrade(NamedTuple):
    """A trade seen outside the continuous session and the pre-open window."""

    ts: int
    price: int
    qty: int


@dataclass(frozen=True, slots=True)
class AggregatorStats:
    """Counters of a :class:`BarAggregator`.

    ``ticks`` counts events received; ``applied`` the trades that went into bars; ``no_trade``
    quotes whose volume did not rise; ``baselines`` quotes that only set the volume baseline;
    ``late`` ticks for already closed bars or stale quotes; ``off_session`` trades outside the
    session; ``invalid`` ticks with a zero price or a negative quantity; ``closed_unread_dropped``
    closed bars discarded from the :meth:`BarAggregator.take_closed` buffer because nobody read it.
    """

    ticks: int
    applied: int
    no_trade: int
    baselines: int
    late: int
    off_session: int
    invalid: int
    volume_resets: int
    quotes_ignored: int
    bars_closed: int
    closed_unread_dropped: int


class _Slot:
    """The live bar and history of one token at one interval."""

    __slots__ = ("bar", "end", "history", "interval", "length")

    def __init__(self, interval: Interval, history: int) -> None:
        self.interval = interval
        self.length = 0 if interval is Interval.D1 else interval.seconds
        self.bar: Bar | None = None
        self.end = 0
        self.history: deque[Bar] = deque(maxlen=history)


class _TokenState:
    """Per-token state: one slot per interval (finest first) and the tick bookkeeping."""

    __slots__ = (
        "accept_from",
        "cum",
        "day",
        "last_ltp",
        "last_ts",
        "off_session",
        "prints_seen",
        "slots",
        "token",
    )

    def __init__(self, token: str, intervals: Sequence[Interval], history: int) -> None:
        self.token = token
        self.slots = [_Slot(i, history) for i in intervals]
        self.accept_from = 0
        self.last_ts = 0
        self.day = -1
        self.cum: int | None = None
        self.last_ltp = 0
        self.prints_seen = False
        self.off_session: deque[OffSessionTrade] | None = None


class BarAggregator:
    """Builds OHLCV bars per token at several intervals from quotes and trade prints.

    ``intervals`` are any of :data:`ALL_INTERVALS` (all of them by default); ``history`` bounds the
    closed bars kept per token and interval; ``on_bar`` (and :meth:`add_listener`) is called with
    each bar as it closes.
    """

    def __init__(
        self,
        intervals: Iterable[Interval] = ALL_INTERVALS,
        *,
        history: int = DEFAULT_HISTORY,
        schedule: SessionSchedule = NSE_SCHEDULE,
        on_bar: BarListener | None = None,
        closed_buffer: int = DEFAULT_CLOSED_BUFFER,
        off_session_keep: int = DEFAULT_OFF_SESSION_KEEP,
    ) -> None:
        chosen = sorted({Interval(i) for i in intervals}, key=lambda i: i.seconds)
        if not chosen:
            raise ValueError("a BarAggregator needs at least one interval (e.g. Interval.M1)")
        if history <= 0:
            raise ValueError(f"history must be a positive number of bars, got {history}")
        if closed_buffer <= 0:
            raise ValueError(
                f"closed_buffer must be a positive number of bars, got {closed_buffer}"
            )
        if off_session_keep <= 0:
            raise ValueError(f"off_session_keep must be positive, got {off_session_keep}")
        self._intervals: tuple[Interval, ...] = tuple(chosen)
        self._history = history
        self._pre_open_s = _seconds(schedule.pre_open_start)
        self._open_s = _seconds(schedule.continuous_start)
        self._close_s = _seconds(schedule.continuous_end)
        if not self._pre_open_s <= self._open_s < self._close_s:
            raise ValueError(
                "the schedule must have pre_open_start <= continuous_start < continuous_end, got "
                f"{schedule.pre_open_start}, {schedule.continuous_start}, {schedule.continuous_end}"
            )
        self._tokens: dict[str, _TokenState] = {}
        self._listeners: list[BarListener] = [] if on_bar is None else [on_bar]
        self._closed: deque[Bar] = deque(maxlen=closed_buffer)
        self._off_keep = off_session_keep
        self._next_due = 1 << 62
        self._ticks = 0
        self._applied = 0
        self._no_trade = 0
        self._baselines = 0
        self._late = 0
        self._off_session = 0
        self._invalid = 0
        self._volume_resets = 0
        self._quotes_ignored = 0
        self._bars_closed = 0
        self._closed_unread_dropped = 0

    # -- public queries --------------------------------------------------------------------

    @property
    def intervals(self) -> tuple[Interval, ...]:
        """The intervals built, finest first."""
        return self._intervals

    def tokens(self) -> list[str]:
        """Tokens seen so far (by ticks or loaded history)."""
        return list(self._tokens)

    def add_listener(self, listener: BarListener) -> None:
        """Call ``listener(bar)`` for every bar as it closes."""
        self._listeners.append(listener)

    def remove_listener(self, listener: BarListener) -> None:
        """Stop calling ``listener``."""
        self._listeners.remove(listener)

    def bars(self, token: str, interval: Interval) -> list[Bar]:
        """Closed bars of ``token`` at ``interval``, oldest first (a copy of the bounded history).

        The bars themselves are final and must not be mutated.
        """
        slot = self._slot_or_none(token, interval)
        return list(slot.history) if slot is not None else []

    def current(self, token: str, interval: Interval) -> Bar | None:
        """A copy of the bar being built for ``token`` at ``interval``, or None."""
        slot = self._slot_or_none(token, interval)
        if slot is None or slot.bar is None:
            return None
        return dataclasses.replace(slot.bar)

    def off_session(self, token: str) -> list[OffSessionTrade]:
        """The most recent trades of ``token`` seen outside the session (not in any bar)."""
        st = self._tokens.get(token)
        if st is None or st.off_session is None:
            return []
        return list(st.off_session)

    def take_closed(self) -> list[Bar]:
        """Bars closed since the previous call, in closing order."""
        out = list(self._closed)
        self._closed.clear()
        return out

    def stats(self) -> AggregatorStats:
        """A snapshot of the counters."""
        return AggregatorStats(
            ticks=self._ticks,
            applied=self._applied,
            no_trade=self._no_trade,
            baselines=self._baselines,
            late=self._late,
            off_session=self._off_session,
            invalid=self._invalid,
            volume_resets=self._volume_resets,
            quotes_ignored=self._quotes_ignored,
            bars_closed=self._bars_closed,
            closed_unread_dropped=self._closed_unread_dropped,
        )

    def bucket(self, ts_ns: int, interval: Interval) -> tuple[int, int] | None:
        """``(start, end)`` in ns of the ``interval`` bar that a trade at ``ts_ns`` belongs to.

        Pre-open trades map to the first bar of the session; None for trades outside the session.
        """
        interval = Interval(interval)
        eff = self._effective_ts(ts_ns)
        if eff is None:
            return None
        length = 0 if interval is Interval.D1 else interval.seconds
        return self._bounds(eff, length)

    # -- ticks -----------------------------------------------------------------------------

    def on_event(self, event: MarketEvent) -> None:
        """Feed one market event (a Quote or a TradePrint)."""
        if type(event) is Quote:
            self.on_quote(event)
        elif type(event) is TradePrint:
            self.on_trade(event)
        elif isinstance(event, Quote):
            self.on_quote(event)
        elif isinstance(event, TradePrint):
            self.on_trade(event)
        else:
            raise TypeError(f"expected a Quote or a TradePrint, got {type(event).__name__}")

    def on_events(self, events: Iterable[MarketEvent]) -> None:
        """Feed a burst of market events in order."""
        on_quote = self.on_quote
        on_trade = self.on_trade
        for event in events:
            cls = type(event)
            if cls is Quote:
                on_quote(event)  # type: ignore[arg-type]
            elif cls is TradePrint:
                on_trade(event)  # type: ignore[arg-type]
            else:
                self.on_event(event)

    def on_trade(self, trade: TradePrint) -> None:
        """Feed one trade print."""
        self._ticks += 1
        st = self._tokens.get(trade.token)
        if st is None:
            st = self._new_state(trade.token)
        st.prints_seen = True
        if trade.price == 0 or trade.qty < 0:
            self._invalid += 1
            return
        ts = trade.ts
        in_order = ts >= st.last_ts
        if in_order:
            st.last_ts = ts
        self._apply(st, ts, trade.price, trade.qty, in_order)

    def on_quote(self, quote: Quote) -> None:
        """Feed one quote (see the module docstring for when a quote counts as a trade)."""
        self._ticks += 1
        st = self._tokens.get(quote.token)
        if st is None:
            st = self._new_state(quote.token)
        if st.prints_seen:
            self._quotes_ignored += 1
            return
        ts = quote.exchange_ts or quote.ts
        if ts < st.last_ts:
            self._late += 1
            return
        st.last_ts = ts
        s = ts // NS_PER_S + IST_OFFSET_S
        day = s // SECONDS_PER_DAY
        if day != st.day:
            st.day = day
            st.cum = 0 if s % SECONDS_PER_DAY < self._open_s else None
            st.last_ltp = 0
        ltp = quote.ltp
        vol = quote.volume
        if vol > 0:
            prev = st.cum
            st.last_ltp = ltp
            if prev is None:
                st.cum = vol
                self._baselines += 1
                return
            if vol > prev:
                st.cum = vol
                if ltp == 0:
                    self._invalid += 1
                    return
                self._apply(st, ts, ltp, vol - prev, True)
            elif vol == prev:
                self._no_trade += 1
            else:
                st.cum = vol
                self._volume_resets += 1
            return
        # No volume in this quote (LTP mode): a change of last price is a trade of unknown size.
        last = st.last_ltp
        st.last_ltp = ltp
        if ltp == 0:
            self._invalid += 1
            return
        if last == 0:
            self._baselines += 1
            return
        if ltp == last:
            self._no_trade += 1
            return
        sod = s % SECONDS_PER_DAY
        if self._open_s <= sod < self._close_s:
            self._apply(st, ts, ltp, 0, True)
        else:
            self._no_trade += 1

    def _new_state(self, token: str) -> _TokenState:
        st = _TokenState(token, self._intervals, self._history)
        self._tokens[token] = st
        return st

    def _effective_ts(self, ts: int) -> int | None:
        secs = ts // NS_PER_S
        sod = (secs + IST_OFFSET_S) % SECONDS_PER_DAY
        if sod < self._open_s:
            if sod < self._pre_open_s:
                return None
            return (secs - sod + self._open_s) * NS_PER_S
        if sod >= self._close_s:
            return None
        return ts

    def _bounds(self, eff: int, length: int) -> tuple[int, int]:
        secs = eff // NS_PER_S
        sod = (secs + IST_OFFSET_S) % SECONDS_PER_DAY
        midnight = secs - sod
        session_end = midnight + self._close_s
        if length == 0:
            return (midnight + self._open_s) * NS_PER_S, session_end * NS_PER_S
        offset = sod - self._open_s
        start = midnight + self._open_s + offset - offset % length
        return start * NS_PER_S, min(start + length, session_end) * NS_PER_S

    def _apply(self, st: _TokenState, ts: int, price: int, qty: int, in_order: bool) -> None:
        # Session classification, inlined: this runs for every trade.
        secs = ts // NS_PER_S
        sod = (secs + IST_OFFSET_S) % SECONDS_PER_DAY
        if sod < self._open_s:
            if sod < self._pre_open_s:
                self._record_off_session(st, ts, price, qty)
                return
            eff = (secs - sod + self._open_s) * NS_PER_S
        elif sod >= self._close_s:
            self._record_off_session(st, ts, price, qty)
            return
        else:
            eff = ts
        if eff < st.accept_from:
            self._late += 1
            return
        self._applied += 1
        for slot in st.slots:
            bar = slot.bar
            if bar is not None and eff < slot.end:
                if price > bar.high:
                    bar.high = price
                elif price < bar.low:
                    bar.low = price
                if in_order:
                    bar.close = price
                bar.volume += qty
            else:
                self._roll(st, slot, eff, price, qty)

    def _roll(self, st: _TokenState, slot: _Slot, eff: int, price: int, qty: int) -> None:
        if slot.bar is not None:
            self._close_slot(st, slot)
        start, end = self._bounds(eff, slot.length)
        history = slot.history
        if history and not history[-1].closed:
            # The newest loaded historical bar, possibly partial: continue it if it is this very
            # bucket, otherwise time has moved past it and it is final.
            if history[-1].start == start:
                bar = history.pop()
                bar.high = max(bar.high, price)
                bar.low = min(bar.low, price)
                bar.close = price
                bar.volume += qty
            else:
                history[-1].closed = True
                bar = Bar(st.token, slot.interval, start, price, price, price, price, qty)
        else:
            bar = Bar(st.token, slot.interval, start, price, price, price, price, qty)
        slot.bar = bar
        slot.end = end
        if start > st.accept_from:
            st.accept_from = start
        if end < self._next_due:
            self._next_due = end

    def _close_slot(self, st: _TokenState, slot: _Slot) -> None:
        bar = slot.bar
        if bar is None:
            return
        bar.closed = True
        slot.bar = None
        slot.history.append(bar)
        if slot.end > st.accept_from:
            st.accept_from = slot.end
        self._bars_closed += 1
        if len(self._closed) == self._closed.maxlen:
            self._closed_unread_dropped += 1
        self._closed.append(bar)
        for listener in self._listeners:
            listener(bar)

    def _record_off_session(self, st: _TokenState, ts: int, price: int, qty: int) -> None:
        self._off_session += 1
        keep = st.off_session
        if keep is None:
            keep = st.off_session = deque(maxlen=self._off_keep)
        keep.append(OffSessionTrade(ts, price, qty))

    def close_due(self, now_ns: int) -> list[Bar]:
        """Close every bar whose end is at or before ``now_ns``; return them (also emitted)."""
        if now_ns < self._next_due:
            return []
        closed: list[Bar] = []
        next_due = 1 << 62
        for st in self._tokens.values():
            for slot in st.slots:
                if slot.bar is None:
                    continue
                if slot.end <= now_ns:
                    closed.append(slot.bar)
                    self._close_slot(st, slot)
                elif slot.end < next_due:
                    next_due = slot.end
        self._next_due = next_due
        return closed

    # -- history ---------------------------------------------------------------------------

    def load_history(self, token: str, interval: Interval, bars: Iterable[Bar]) -> int:
        """Merge historical candles (e.g. from the broker) into the history of ``token``.

        Intraday bars must start on this aggregator's grid (09:15 IST plus whole intervals); 1d
        bars may start at any time of their IST day (brokers stamp them at midnight) and are moved
        to the session open. Loaded bars replace closed bars with the same start. A loaded bar of
        the bucket now being built is merged into it (its open, the extremes of both, and the larger
        volume, since the overlap is unknown); a loaded bar newer than the bar being built closes
        it. The newest loaded bar may be partial (``closed=False`` in :meth:`bars`): if ticks then
        arrive for its bucket, they continue it, and a tick of a later bucket makes it final.
        Ticks older than the newest loaded bar are late. Returns the number of bars loaded.
        Loaded bars are not emitted to listeners.
        """
        interval = Interval(interval)
        if interval not in self._intervals:
            built = ", ".join(i.value for i in self._intervals)
            raise ValueError(f"interval {interval.value} is not built here (intervals: {built})")
        length = 0 if interval is Interval.D1 else interval.seconds
        loaded: dict[int, Bar] = {}
        for bar in bars:
            loaded_bar = self._validated(token, interval, length, bar)
            loaded[loaded_bar.start] = loaded_bar
        if not loaded:
            return 0
        st = self._tokens.get(token)
        if st is None:
            st = self._new_state(token)
        slot = next(s for s in st.slots if s.interval is interval)
        live = slot.bar
        if live is not None and max(loaded) > live.start:
            self._close_slot(st, slot)
            live = None
        if live is not None:
            same = loaded.pop(live.start, None)
            if same is not None:
                live.open = same.open
                live.high = max(live.high, same.high)
                live.low = min(live.low, same.low)
                live.volume = max(live.volume, same.volume)
        merged: dict[int, Bar] = {b.start: b for b in slot.history}
        merged.update(loaded)
        ordered = [merged[k] for k in sorted(merged)]
        slot.history.clear()
        slot.history.extend(ordered)
        # Every loaded bar is final except the newest bar of the history when it was loaded and
        # nothing is being built: it may be the broker's still-forming candle, and ticks of its
        # bucket continue it.
        last = ordered[-1].start
        partial = last if live is None and last in loaded else None
        for b in slot.history:
            if b.start in loaded:
                b.closed = b.start != partial
        # Ticks older than the newest loaded bar would build bars behind the history: late.
        if last > st.accept_from:
            st.accept_from = last
        return len(loaded)

    def _validated(self, token: str, interval: Interval, length: int, bar: Bar) -> Bar:
        if bar.token != token:
            raise ValueError(f"history for token {token!r} contains a bar of token {bar.token!r}")
        if Interval(bar.interval) is not interval:
            raise ValueError(
                f"history for {interval.value} contains a bar of interval {bar.interval}"
            )
        if not (bar.low <= min(bar.open, bar.close) and bar.high >= max(bar.open, bar.close)):
            raise ValueError(
                f"bar at {bar.start} of {token!r} is not a valid OHLC (need low <= open, close <= "
                f"high): open={bar.open} high={bar.high} low={bar.low} close={bar.close}"
            )
        if bar.volume < 0:
            raise ValueError(f"bar at {bar.start} of {token!r} has negative volume {bar.volume}")
        secs = bar.start // NS_PER_S
        sod = (secs + IST_OFFSET_S) % SECONDS_PER_DAY
        if length == 0:
            start = (secs - sod + self._open_s) * NS_PER_S
        else:
            eff = self._effective_ts(bar.start)
            expected = None if eff is None else self._bounds(eff, length)[0]
            if expected != bar.start or sod < self._open_s:
                hh, mm = divmod(sod // 60, 60)
                raise ValueError(
                    f"{interval.value} bar of {token!r} starts at {hh:02d}:{mm:02d}:{sod % 60:02d}"
                    f" IST, which is not on the session grid (bars start at the session open "
                    f"and step by {interval.value})"
                )
            start = bar.start
        return Bar(
            token=token,
            interval=interval,
            start=start,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
            closed=True,
        )

    def _slot_or_none(self, token: str, interval: Interval) -> _Slot | None:
        st = self._tokens.get(token)
        if st is None:
            return None
        for slot in st.slots:
            if slot.interval is interval:
                return slot
        return None
