"""The paper market: seeded synthetic order flow trading through the real matching books.

:class:`SimulatedMarket` keeps one :class:`~engine.book.OrderBook` per tradable instrument
(``market.books[token]``) and drives the agents of :mod:`engine.sim_agents` on a simulated clock.
``step(dt_ns)`` advances the clock and returns what a live feed would have published in that
interval: a :class:`~engine.models.TradePrint` for every trade, in the order they happened, then one
:class:`~engine.models.Quote` per instrument that changed (conflated within the step). ``run()``
paces ``step()`` against the wall clock at ``config.speed`` on the asyncio loop.

The paper broker trades in the same books through :meth:`SimulatedMarket.submit`,
:meth:`~SimulatedMarket.cancel` and :meth:`~SimulatedMarket.modify`; its trades show up in the feed
like anyone's, and :meth:`~SimulatedMarket.set_account_listener` reports every event concerning its
orders, passive fills by synthetic flow and end-of-day expiries included.

Ids: the agents' order ids start at :data:`~engine.sim_config.SYNTHETIC_ORDER_ID_BASE` (2**60) and
their accounts at 1000; callers use order ids ``1 .. 2**60 - 1`` and accounts ``0 .. 999``.

Determinism: every instrument draws from its own ``random.Random`` seeded from ``(seed, token)``
and the market factor from ``(seed, "market")``; nothing in ``step()`` reads the wall clock. The
same seed, config, instruments, start time and sequence of calls produce the same events.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Callable, Iterable, Mapping
from datetime import date

from engine.book import OrderBook
from engine.book_events import BookEvent, Rejected
from engine.clock import NS_PER_MS, NS_PER_SECOND, SessionPhase, SimClock, WallClock, ist_date
from engine.models import Instrument, InstrumentType, MarketEvent, OrderType, Side, Validity
from engine.sim_agents import AccountListener, MarketFactor, SimIndex, SimInstrument
from engine.sim_config import (
    SYNTHETIC_ACCOUNT_BASE,
    SYNTHETIC_ORDER_ID_BASE,
    USER_ACCOUNT,
    SessionMode,
    SimulatorConfig,
)
from engine.sim_session import SessionCalendar, VolProfile

__all__ = [
    "NSE_LABEL",
    "SIMULATED_LABEL",
    "SYNTHETIC_ACCOUNT_BASE",
    "SYNTHETIC_ORDER_ID_BASE",
    "USER_ACCOUNT",
    "AccountListener",
    "SessionMode",
    "SimulatedMarket",
    "SimulatorConfig",
]

_FACTOR = -1
"""Heap entry of the market factor's grid (sorts before instruments at the same time)."""

_AUCTION_TYPES = frozenset({InstrumentType.EQUITY, InstrumentType.FUTIDX, InstrumentType.FUTSTK})
"""Instruments with a pre-open call auction (NSE: equities; since 2025-12 also futures)."""

_FUTURE_TYPES = frozenset(
    {InstrumentType.FUTIDX, InstrumentType.FUTSTK, InstrumentType.FUTCOM, InstrumentType.FUTCUR}
)
_UNDERLYING_TYPES = frozenset({InstrumentType.INDEX, InstrumentType.EQUITY})

SIMULATED_LABEL = "SIMULATED SESSION"
"""Status-bar label of an ``always_open`` market."""
NSE_LABEL = "NSE SESSION"
"""Status-bar label of a ``real`` market (pair it with :attr:`SimulatedMarket.phase`)."""


class SimulatedMarket:
    """A complete simulated exchange: books, synthetic traders, session clock and feed.

    ``start_prices`` gives each instrument's previous close in price units (a future may be left
    out when its underlying is in the market: it starts at the underlying's price plus the basis).
    ``clock`` is advanced by the market (default: a :class:`SimClock` starting now).
    """

    def __init__(
        self,
        instruments: Iterable[Instrument],
        start_prices: Mapping[str, int],
        *,
        seed: int,
        config: SimulatorConfig,
        clock: SimClock | None = None,
    ) -> None:
        self._cfg = config
        self._clock = clock if clock is not None else SimClock(WallClock().now_ns())
        self._speed = config.speed
        self._calendar = SessionCalendar(config.mode, config.holidays)
        self._profile = VolProfile(config.intraday_u_shape)
        self._factor = MarketFactor(
            random.Random(f"{seed}:market"),
            config.market_volatility,
            config.factor_interval_ms * NS_PER_MS,
        )
        self._out: list[MarketEvent] = []
        self._listeners: dict[int, AccountListener] = {}
        self.books: dict[str, OrderBook] = {}
        """The matching book of every tradable instrument, by token (read-only for callers:
        trade through submit/cancel/modify so the feed and the listeners see the events)."""
        self._sims: list[SimInstrument] = []
        self._by_token: dict[str, SimInstrument] = {}
        self._indices: list[SimIndex] = []
        self._index_by_token: dict[str, SimIndex] = {}
        self._feed: list[SimInstrument | SimIndex] = []
        self._heap: list[tuple[int, int]] = []
        self._flowing = False
        self._session_day: date | None = None
        self._skipped_ns = 0
        self._build(list(instruments), start_prices, seed)
        now = self._clock.now_ns()
        self._phase = self._calendar.phase_at(now)
        self._next_boundary = self._calendar.next_boundary(now)
        self._enter(self._phase, now)

    # ------------------------------------------------------------------ construction

    def _build(
        self, instruments: list[Instrument], start_prices: Mapping[str, int], seed: int
    ) -> None:
        cfg = self._cfg
        seen: set[str] = set()
        for inst in instruments:
            if inst.token in seen:
                raise ValueError(f"instrument token {inst.token!r} ({inst.symbol}) appears twice")
            seen.add(inst.token)
        unknown = sorted(set(cfg.index_weights) - seen) + sorted(
            {t for w in cfg.index_weights.values() for t in w} - seen
        )
        if unknown:
            raise ValueError(f"index_weights names tokens that are not instruments: {unknown}")

        def start_of(inst: Instrument) -> int:
            price = start_prices.get(inst.token)
            if price is None:
                raise ValueError(
                    f"start_prices has no entry for {inst.token!r} ({inst.symbol}); give its "
                    f"previous close in price units (e.g. 250000 for ₹2,500.00)"
                )
            if price <= 0 or price % (inst.tick_size if inst.tradable else 1):
                raise ValueError(
                    f"start price of {inst.token!r} ({inst.symbol}) must be a positive multiple of "
                    f"its tick {inst.tick_size}, got {price}"
                )
            return price

        def rng(token: str) -> random.Random:
            return random.Random(f"{seed}:{token}")

        for inst in instruments:
            if inst.instrument_type is InstrumentType.INDEX:
                index = SimIndex(
                    inst, start_of(inst), rng=rng(inst.token), cfg=cfg, factor=self._factor
                )
                self._indices.append(index)
                self._index_by_token[inst.token] = index
        # Underlyings first (equities and others), then futures that track them.
        ordered = [i for i in instruments if i.tradable and i.instrument_type not in _FUTURE_TYPES]
        ordered += [i for i in instruments if i.instrument_type in _FUTURE_TYPES]
        for inst in ordered:
            under = (
                self._underlying_of(inst, instruments)
                if inst.instrument_type in _FUTURE_TYPES
                else None
            )
            book = OrderBook(inst, cfg.book_config)  # checks the tick and lot sizes
            if under is not None and inst.token not in start_prices:
                basis = 1.0 + cfg.futures_basis_bps * 1e-4
                start = int(under.fair * basis / inst.tick_size + 0.5) * inst.tick_size
            else:
                start = start_of(inst)
            sim = SimInstrument(
                inst,
                book,
                start,
                rng=rng(inst.token),
                cfg=cfg,
                factor=self._factor,
                out=self._out,
                listeners=self._listeners,
                under=under,
                beta=cfg.betas.get(inst.token, 1.0),
                rate=cfg.events_per_s_by_token.get(inst.token, cfg.events_per_s),
                has_auction=inst.instrument_type in _AUCTION_TYPES,
            )
            self.books[inst.token] = book
            self._by_token[inst.token] = sim
        # Feed order and instrument order follow the caller's list.
        self._sims = [self._by_token[i.token] for i in instruments if i.token in self._by_token]
        for index_token, weights in cfg.index_weights.items():
            weighted = self._index_by_token.get(index_token)
            if weighted is None:
                raise ValueError(f"index_weights key {index_token!r} is not an INDEX instrument")
            pairs = []
            for token, weight in weights.items():
                member = self._by_token.get(token)
                if member is None:
                    raise ValueError(
                        f"index_weights[{index_token!r}] constituent {token!r} is not tradable"
                    )
                pairs.append((member, weight))
            weighted.set_constituents(pairs)
        for inst in instruments:
            feed: SimInstrument | SimIndex | None = self._by_token.get(inst.token)
            self._feed.append(feed if feed is not None else self._index_by_token[inst.token])

    def _underlying_of(
        self, inst: Instrument, instruments: list[Instrument]
    ) -> SimInstrument | SimIndex | None:
        """The index or equity a future tracks: ``underlying`` (or ``name``) as a token, symbol
        or name of an index/equity in the market; None when there is none (own walk)."""
        keys = [k for k in (inst.underlying, inst.name) if k]
        candidates = [i for i in instruments if i.instrument_type in _UNDERLYING_TYPES]
        for key in keys:
            for field in ("token", "symbol", "name"):
                for cand in candidates:
                    if getattr(cand, field) == key:
                        index = self._index_by_token.get(cand.token)
                        return index if index is not None else self._by_token.get(cand.token)
        return None

    # ------------------------------------------------------------------ read-only views

    @property
    def label(self) -> str:
        """What the status bar shows: "SIMULATED SESSION" (always open) or "NSE SESSION"."""
        return SIMULATED_LABEL if self._cfg.mode is SessionMode.ALWAYS_OPEN else NSE_LABEL

    @property
    def phase(self) -> SessionPhase:
        """The session phase now (always CONTINUOUS in ``always_open``)."""
        return self._phase

    @property
    def config(self) -> SimulatorConfig:
        """The configuration the market was built with."""
        return self._cfg

    @property
    def clock(self) -> SimClock:
        """The simulated clock the market advances."""
        return self._clock

    @property
    def now_ns(self) -> int:
        """Simulated time now."""
        return self._clock.now_ns()

    @property
    def tokens(self) -> list[str]:
        """Tokens of all instruments (tradable and indices) in the caller's order."""
        return [f.token for f in self._feed]

    @property
    def skipped_ns(self) -> int:
        """Simulated time the driver skipped without flow because it fell too far behind."""
        return self._skipped_ns

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second for :meth:`run`."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"speed must be > 0 (1.0 = real time), got {value!r}")
        self._speed = value

    def fair_value(self, token: str) -> float:
        """The model's current fair value of an instrument or index (for tests and diagnostics)."""
        sim = self._by_token.get(token)
        if sim is not None:
            return sim.fair
        return self._index(token).fair

    def ltp(self, token: str) -> int:
        """Last traded price (an index's last value; the previous close before any trade)."""
        sim = self._by_token.get(token)
        if sim is not None:
            return sim.ltp
        return self._index(token).value

    def _index(self, token: str) -> SimIndex:
        index = self._index_by_token.get(token)
        if index is None:
            raise KeyError(f"unknown token {token!r}; the market has {self.tokens}")
        return index

    # ------------------------------------------------------------------ caller orders

    def _sim(self, token: str) -> SimInstrument:
        sim = self._by_token.get(token)
        if sim is None:
            if token in self._index_by_token:
                raise ValueError(f"{token!r} is an index; indices are not tradable")
            raise ValueError(f"unknown token {token!r}; tradable tokens are {list(self.books)}")
        return sim

    @staticmethod
    def _check_id(order_id: int) -> None:
        if not 0 < order_id < SYNTHETIC_ORDER_ID_BASE:
            raise ValueError(
                f"order id {order_id} is outside the callers' range "
                f"1..{SYNTHETIC_ORDER_ID_BASE - 1} (ids from {SYNTHETIC_ORDER_ID_BASE} belong to "
                f"the simulator's agents)"
            )

    def _closed_reason(self, sim: SimInstrument) -> str | None:
        phase = self._phase
        if phase is SessionPhase.CONTINUOUS:
            return None
        if phase is SessionPhase.PRE_OPEN and sim.has_auction:
            return None
        if phase is SessionPhase.PRE_OPEN:
            return f"{sim.instrument.symbol} has no pre-open session; orders open at 09:15 IST"
        return (
            f"the simulated exchange is not taking orders in phase {phase} (pre-open order entry "
            f"09:00-09:08 and continuous 09:15-15:30 IST, Monday-Friday)"
        )

    def submit(
        self,
        token: str,
        order_id: int,
        account: int,
        side: Side,
        qty: int,
        *,
        order_type: OrderType = OrderType.LIMIT,
        price: int = 0,
        trigger: int = 0,
        validity: Validity = Validity.DAY,
        disclosed_qty: int = 0,
    ) -> list[BookEvent]:
        """Send a caller's order to the book of ``token`` at the simulated time now.

        Returns the book's events (which the account listener also receives, in the same order,
        before this returns). Trades become TradePrints and a Quote in the next ``step()``. Outside
        order-entry phases (``real`` mode) the order is rejected with the phase and hours; in the
        pre-open the book accepts only DAY LIMIT and MARKET orders, as on NSE.
        """
        sim = self._sim(token)
        self._check_id(order_id)
        if not 0 <= account < SYNTHETIC_ACCOUNT_BASE:
            raise ValueError(
                f"account {account} is outside the callers' range 0..{SYNTHETIC_ACCOUNT_BASE - 1} "
                f"(accounts from {SYNTHETIC_ACCOUNT_BASE} belong to the simulator's agents)"
            )
        ts = self._clock.now_ns()
        if sim.book.is_live(order_id):
            # A duplicate id: the book refuses it. Only the submitter hears of it; the live
            # order keeps its owner.
            refused = sim.book.submit(order_id, account, side, qty, price=price, ts=ts)
            callback = self._listeners.get(account)
            if callback is not None:
                for event in refused:
                    callback(token, event)
            return refused
        sim.caller_orders[order_id] = account
        reason = self._closed_reason(sim)
        if reason is not None:
            events: list[BookEvent] = [Rejected(order_id, reason, ts)]
        else:
            events = sim.book.submit(
                order_id,
                account,
                side,
                qty,
                order_type=order_type,
                price=price,
                trigger=trigger,
                validity=validity,
                disclosed_qty=disclosed_qty,
                ts=ts,
            )
        sim.absorb(events)
        return events

    def cancel(self, token: str, order_id: int) -> list[BookEvent]:
        """Cancel a caller's order (the book rejects unknown or finished ids)."""
        sim = self._sim(token)
        self._check_id(order_id)
        ts = self._clock.now_ns()
        reason = self._closed_reason(sim)
        if reason is not None:
            events: list[BookEvent] = [Rejected(order_id, reason, ts)]
        else:
            events = sim.book.cancel(order_id, ts)
        sim.absorb(events)
        return events

    def modify(
        self,
        token: str,
        order_id: int,
        *,
        qty: int | None = None,
        price: int | None = None,
        trigger: int | None = None,
    ) -> list[BookEvent]:
        """Modify a caller's order: ``qty`` is the new total quantity (see the book's rules)."""
        sim = self._sim(token)
        self._check_id(order_id)
        ts = self._clock.now_ns()
        reason = self._closed_reason(sim)
        if reason is not None:
            events: list[BookEvent] = [Rejected(order_id, reason, ts)]
        else:
            events = sim.book.modify(order_id, qty=qty, price=price, trigger=trigger, ts=ts)
        sim.absorb(events)
        return events

    def set_account_listener(self, account: int, callback: AccountListener | None) -> None:
        """Call ``callback(token, event)`` for every book event concerning ``account``'s orders:
        results of its own submit/cancel/modify (before those return), passive fills by synthetic
        flow, stops triggered by others' trades, and expiries. Called synchronously, in the order
        the book reported them; the callback may itself submit, cancel or modify. ``None`` removes
        the listener; a new callback replaces the old one."""
        if not 0 <= account < SYNTHETIC_ACCOUNT_BASE:
            raise ValueError(
                f"account {account} is outside the callers' range 0..{SYNTHETIC_ACCOUNT_BASE - 1}"
            )
        if callback is None:
            self._listeners.pop(account, None)
        else:
            self._listeners[account] = callback

    # ------------------------------------------------------------------ time

    def step(self, dt_ns: int) -> list[MarketEvent]:
        """Advance simulated time by ``dt_ns`` and return the feed of that interval.

        The interval is half-open: agent events due in ``[now, now + dt_ns)`` happen, session
        transitions (pre-open, auction uncross, open, close) happen at their exact times. The list
        holds the TradePrints of every trade (including trades of the caller's orders since the
        previous step) in order, then one Quote per instrument that changed.
        """
        if dt_ns < 0:
            raise ValueError(f"step() needs a non-negative dt_ns, got {dt_ns}")
        end = self._clock.now_ns() + dt_ns
        self._advance(end, flow=True)
        return self._drain(end)

    def fast_forward(self, to_ns: int) -> list[MarketEvent]:
        """Jump the clock to ``to_ns`` without synthetic flow in between (session transitions still
        happen: auctions uncross, DAY orders expire). Returns what changed, like ``step()``."""
        now = self._clock.now_ns()
        if to_ns < now:
            raise ValueError(f"cannot fast-forward into the past ({to_ns} < {now})")
        self._skipped_ns += to_ns - now
        self._advance(to_ns, flow=False)
        return self._drain(to_ns)

    def _drain(self, ts: int) -> list[MarketEvent]:
        out = self._out
        for item in self._feed:
            if item.dirty:
                out.append(item.quote(ts))
        events = out[:]
        out.clear()
        return events

    def _advance(self, end: int, *, flow: bool) -> None:
        clock = self._clock
        while True:
            boundary = self._next_boundary
            stop = end if end < boundary else boundary
            if self._flowing and flow:
                self._run_agents(stop)
            if boundary > end:
                break
            if boundary > clock.now_ns():
                clock.set(boundary)
            self._phase = self._calendar.phase_at(boundary)
            self._next_boundary = self._calendar.next_boundary(boundary)
            self._enter(self._phase, boundary)
        if end > clock.now_ns():
            clock.set(end)
        if self._flowing and not flow:
            self._schedule(end)

    def _run_agents(self, stop: int) -> None:
        heap = self._heap
        sims = self._sims
        clock = self._clock
        factor = self._factor
        replace = heapq.heapreplace
        while heap and heap[0][0] < stop:
            t, i = heap[0]
            now = clock.now_ns()
            if t > now:
                clock.set(t)
            else:
                t = now
            if i < 0:
                self._factor_tick(t)
                replace(heap, (heap[0][0] + factor.interval_ns, _FACTOR))
            else:
                sim = sims[i]
                sim.act(t)
                replace(heap, (heap[0][0] + sim.next_delay_ns(), i))

    def _factor_tick(self, t: int) -> None:
        multiplier = self._profile.multiplier(t)
        self._factor.advance(multiplier)
        interval_s = self._factor.interval_ns / NS_PER_SECOND
        for index in self._indices:
            index.advance(t, interval_s, multiplier)

    def _schedule(self, t: int) -> None:
        """(Re)start the agents' clocks at ``t`` for the phase now in force."""
        heap: list[tuple[int, int]] = [(t + self._factor.interval_ns, _FACTOR)]
        auction = self._phase is SessionPhase.PRE_OPEN
        for i, sim in enumerate(self._sims):
            if auction and not sim.book.in_auction:
                continue
            sim.last_t = t
            heap.append((t + sim.next_delay_ns(), i))
        heapq.heapify(heap)
        self._heap = heap

    # ------------------------------------------------------------------ sessions

    def _band_pct(self, token: str) -> int:
        return self._cfg.band_pct_by_token.get(token, self._cfg.band_pct)

    def _begin_session(self, ts: int) -> None:
        first = self._session_day is None
        self._session_day = ist_date(ts)
        if not first:
            self._factor.gap(self._cfg.overnight_gap)
        for sim in self._sims:
            reference = sim.ltp
            sim.begin_session(ts, reference, self._band_pct(sim.token), gap=not first)
        for index in self._indices:
            index.begin_session(ts)

    def _enter(self, phase: SessionPhase, ts: int) -> None:
        """Do what the exchange does when ``phase`` starts at ``ts`` (or when we start in it)."""
        if self._cfg.mode is SessionMode.ALWAYS_OPEN:
            self._anchor_profile(ts, ts, 22_500 * NS_PER_SECOND, cyclic=True)
            self._begin_session(ts)
            self._open_continuous(ts)
            return
        today = ist_date(ts)
        started = self._session_day == today
        if phase is SessionPhase.PRE_OPEN:
            self._begin_session(ts)
            open_ns, close_ns = self._calendar.continuous_bounds(ts)
            self._anchor_profile(ts, open_ns, close_ns - open_ns, cyclic=False)
            for sim in self._sims:
                if sim.has_auction:
                    sim.begin_auction(ts)
            self._flowing = True
            self._schedule(ts)
        elif phase is SessionPhase.PRE_OPEN_MATCH:
            if not started:
                self._begin_session(ts)
            for sim in self._sims:
                if sim.book.in_auction:
                    sim.uncross(ts)
            self._flowing = False
        elif phase is SessionPhase.CONTINUOUS:
            if not started:
                self._begin_session(ts)
            open_ns, close_ns = self._calendar.continuous_bounds(ts)
            self._anchor_profile(ts, open_ns, close_ns - open_ns, cyclic=False)
            self._open_continuous(ts)
        else:
            if phase is SessionPhase.CLOSING and started:
                for sim in self._sims:
                    sim.expire(ts)
            for index in self._indices:
                index.trading = False
            self._flowing = False

    def _anchor_profile(self, ts: int, open_ns: int, length_ns: int, *, cyclic: bool) -> None:
        self._profile.anchor(open_ns, length_ns, cyclic=cyclic)
        self._factor.vol = self._profile.multiplier(ts)

    def _open_continuous(self, ts: int) -> None:
        for sim in self._sims:
            sim.open_continuous(ts)
        for index in self._indices:
            index.trading = True
        self._flowing = True
        self._schedule(ts)

    # ------------------------------------------------------------------ async driver

    async def run(self, publish: Callable[[MarketEvent], None], *, stop: asyncio.Event) -> None:
        """Drive the market on the running loop until ``stop`` is set.

        Every ``config.tick_ms`` of wall time the simulated clock is moved to where ``speed``
        says it should be and the events of that interval are published. A step covers at most
        ``max_step_ms`` of simulated time and the driver yields between steps; if it falls more
        than ``max_lag_ms`` behind, the excess is fast-forwarded without flow (see skipped_ns).
        """
        loop = asyncio.get_running_loop()
        period = self._cfg.tick_ms / 1000.0
        max_step = self._cfg.max_step_ms * NS_PER_MS
        max_lag = self._cfg.max_lag_ms * NS_PER_MS
        wall0 = loop.time()
        sim0 = self._clock.now_ns()
        speed = self._speed
        while not stop.is_set():
            await asyncio.sleep(period)
            if stop.is_set():
                break
            wall = loop.time()
            if self._speed != speed:  # re-anchor so a new speed applies from now on
                speed = self._speed
                wall0 = wall
                sim0 = self._clock.now_ns()
            target = sim0 + int((wall - wall0) * speed * NS_PER_SECOND)
            lag = target - self._clock.now_ns()
            if lag > max_lag:
                for event in self.fast_forward(target - max_step):
                    publish(event)
                lag = max_step
            while lag > 0 and not stop.is_set():
                chunk = lag if lag < max_step else max_step
                for event in self.step(chunk):
                    publish(event)
                lag -= chunk
                if lag > 0:
                    await asyncio.sleep(0)
