"""What every trading session gives the screen: :class:`TradingSession`.

The app and its screens are typed against :class:`TradingSession` alone. Each kind of session
subclasses it and says only what differs:

* :class:`~cockpit.session.PaperSession` (``cockpit --paper``): the simulated market;
* :class:`~cockpit.live_session.LiveSession` (``cockpit``): a real Angel One account;
* :class:`~cockpit.live_session.LiveDataPaperSession` (``cockpit --paper --feed angelone``): the
  live Angel One market with paper fills;
* :class:`~cockpit.replay_session.ReplaySession` (``cockpit --paper --replay FILE``): a recorded
  Angel One feed played back, with paper fills.

What is the same for all of them lives here: the :class:`~engine.bus.MarketBus` (the core's
queue reads every event in order, the UI reads the conflated latest quote per instrument), the
bars for the chart, the price alerts, the core's events queued for the UI's frame timer, the
journal and :class:`~engine.core.TradingCore` over the kind's broker, the feed rate and the status
bar's figures, and the start/stop sequence. A kind supplies its market view (time, phase, label:
:class:`MarketView`), its status-bar mode text, and the hooks :meth:`TradingSession._open`
(start its feed and broker, open the core), :meth:`TradingSession._close` (stop them),
:meth:`TradingSession._before_core` (what sees every event before the core: a paper fill model)
and :meth:`TradingSession._transport_state` (feed states only the kind knows).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from engine.alerts import AlertBook, AlertFired
from engine.bars import BarAggregator
from engine.broker import Broker
from engine.bus import MarketBus
from engine.charges import ANGEL_ONE, ChargesModel
from engine.clock import Clock, SessionPhase, to_ist
from engine.core import CoreEvent, TradingCore
from engine.instruments import InstrumentIndex
from engine.journal import Journal
from engine.kill_switch import KillSwitchState
from engine.models import Exchange, Instrument, MarketEvent, Product, Quote, Side, TradePrint
from engine.portfolio import Portfolio
from engine.risk import PreTradeRisk
from engine.risk_config import RiskConfig
from widgets.status_bar import StatusBarInfo

__all__ = [
    "STALE_AFTER_S",
    "BrokerGttSession",
    "MarketClock",
    "MarketView",
    "TradingSession",
]

log = logging.getLogger("cockpit.session")

STALE_AFTER_S = 3.0
"""The feed shows STALE when nothing arrived for this long while the market is open."""


@runtime_checkable
class MarketView(Protocol):
    """What the screens read as ``session.market``: the time, the session phase and a label."""

    @property
    def now_ns(self) -> int:
        """The session's time now (ns since the epoch)."""
        ...

    @property
    def phase(self) -> SessionPhase:
        """The session phase now."""
        ...

    @property
    def label(self) -> str:
        """What the status bar says about the market (``NSE``, ``NSE (always open)`` ...)."""
        ...


class MarketClock:
    """A :class:`MarketView` over a clock and a phase function (the Angel One sessions)."""

    def __init__(self, clock: Clock, phase: Callable[[], SessionPhase], label: str) -> None:
        self.clock = clock
        self._phase = phase
        self.label = label

    @property
    def now_ns(self) -> int:
        """The clock's time now (ns since the epoch)."""
        return self.clock.now_ns()

    @property
    def phase(self) -> SessionPhase:
        """The session phase now."""
        return self._phase()


@runtime_checkable
class BrokerGttSession(Protocol):
    """A session that places GTT rules at the broker (they survive the cockpit closing).

    The GTT dialog uses this instead of the core's own GTT engine when the session is live."""

    async def create_broker_gtt(
        self, token: str, side: Side, qty: int, price: int, trigger_price: int, *,
        product: Product = ..., oco_stoploss_price: int | None = ...,
        oco_stoploss_trigger: int | None = ...,
    ) -> str:  # fmt: skip
        """Place the rule at the broker; returns its id."""
        ...


class TradingSession:
    """The feed, the bus, the core and what the UI drains each frame (see the module docs).

    Subclasses set :attr:`market`, :attr:`index`, :attr:`mode_text` and implement
    :meth:`_open` and :meth:`_close`; they call :meth:`_open_core` to get their core.
    """

    is_live: bool = False
    """True when orders reach a real broker (the review then asks for the symbol to be typed)."""

    mode_text: str = ""
    """The status bar's mode (``PAPER``, ``LIVE``, ``LIVE DATA / PAPER FILLS`` ...)."""

    bracket_note: str = ""
    """What the bracket dialog says about where bracket exits are protected ("" = nothing)."""

    watchlist_name: str = "paper"
    """Which saved watchlists this session uses (instrument tokens differ between the simulated
    universe, the Angel One master and a recording's instruments)."""

    market: MarketView
    index: InstrumentIndex

    def __init__(self, bus: MarketBus, *, now_s: Callable[[], float] = time.monotonic) -> None:
        self.bus = bus
        self._core_queue = bus.subscribe("core", maxsize=100_000)
        self.journal: Journal | None = None
        self.core: TradingCore | None = None
        self.bars = BarAggregator()
        self.alerts = AlertBook()
        self._fired: deque[AlertFired] = deque(maxlen=1000)
        self._core_events: deque[CoreEvent] = deque(maxlen=10_000)
        self._unsubscribe: Callable[[], None] | None = None
        self.problems: list[str] = []
        """What did not work but did not stop the session (the app shows these at start)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._stop_event = asyncio.Event()
        self._started = False
        self._stopped = False
        self._feeds_core = True
        """False when the caller feeds the core itself (a stepped paper market)."""
        self._now_s = now_s
        self._rate_window: tuple[float, int] = (now_s(), 0)
        self._ticks_per_s = 0.0
        self._last_event_s: float | None = None
        self.events_seen = 0
        """Market events the core has been fed."""

    # -- what the app reads -------------------------------------------------------------------

    @property
    def instruments(self) -> list[Instrument]:
        """The instruments the session streams, in order."""
        return list(self.index)

    @property
    def trading(self) -> TradingCore:
        """The core; raises when the session has none (not started, or no journal)."""
        if self.core is None:
            raise RuntimeError(
                f"this {self.mode_text} session has no trading core: start it first (a paper "
                "session also needs a journal_path)"
            )
        return self.core

    def instrument(self, token: str) -> Instrument | None:
        """An instrument by token."""
        return self.index.by_token(token)

    def subscribe(self, tokens: Iterable[str] | str) -> None:
        """Stream these instruments (the screen shows them). A session whose feed already
        carries every instrument it knows (the simulated market, a replay) has nothing to do."""

    def unsubscribe(self, tokens: Iterable[str] | str) -> None:
        """Stop streaming instruments the screen no longer shows (see :meth:`subscribe`)."""

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the kind's feed, broker and core, then the task feeding the core. A second
        call does nothing (so the CLI may start the session before the app does); after
        :meth:`stop` it raises: make a new session."""
        if self._stopped:
            raise RuntimeError(f"this {self.mode_text} session was stopped; start a new one")
        if self._started:
            return
        self._started = True
        self.bus.attach_loop(asyncio.get_running_loop())
        await self._open()
        if self._feeds_core:
            self._spawn(self._feed_core(), "session-core-feed")

    async def _open(self) -> None:
        """Hook: start the feed and the broker and open the core (:meth:`_open_core`)."""

    async def _close(self) -> None:
        """Hook: stop the feed and the broker (after the tasks, before the core stops)."""

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` as a task the session cancels on :meth:`stop`."""
        self._tasks.append(asyncio.create_task(work, name=name))

    def _open_core(
        self,
        broker: Broker,
        *,
        account: str,
        journal_path: Path,
        cash: int,
        instruments: Mapping[str, Instrument],
        clock: Clock,
        risk: RiskConfig | None,
    ) -> TradingCore:
        """Open the journal and build the core over ``broker`` (the caller starts it)."""
        self.journal = Journal.open(journal_path)
        self.core = TradingCore(
            broker=broker,
            journal=self.journal,
            instruments=instruments,
            risk=PreTradeRisk(risk or RiskConfig(), clock),
            portfolio=Portfolio(cash),
            charges=ChargesModel(ANGEL_ONE),
            clock=clock,
            account=account,
            phase_of=self._phase_of,
        )
        self._unsubscribe = self.core.subscribe(self._core_events.append)
        return self.core

    def _phase_of(self, exchange: Exchange) -> SessionPhase:
        return self.market.phase

    async def stop(self) -> None:
        """Stop the tasks, the feed and broker, the core and the journal (flushed first); safe
        to call twice and after a failed start."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_event.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        try:
            await self._close_feed()
        finally:
            self.bus.close()
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            if self.core is not None:
                try:
                    await self.core.stop()
                except Exception:
                    log.exception("stopping the core failed")
                self.core = None
            if self.journal is not None:
                self.journal.close()
                self.journal = None
            await self._close()
        log.info("%s session stopped", self.mode_text, extra={"events": self.events_seen})

    async def _close_feed(self) -> None:
        """Hook: stop a market-data feed the session owns (before the bus closes)."""

    # -- the core's feed ----------------------------------------------------------------------

    async def _feed_core(self) -> None:
        while True:
            batch = await self._core_queue.get_batch(4096)
            if not batch:
                return
            self._process(batch)

    def _process(self, batch: list[MarketEvent]) -> None:
        """One batch from the bus: counted, into the bars, the kind's hook, the core, the
        alerts."""
        if not batch:
            return
        self._count(len(batch))
        self.bars.on_events(batch)
        self._before_core(batch)
        quotes = [e for e in batch if isinstance(e, Quote)]
        if self.core is not None:
            self.core.on_quotes(quotes)
        watched = self.alerts.tokens()
        if watched:
            for quote in quotes:
                if quote.token in watched:
                    self._fired.extend(
                        self.alerts.on_quote(quote.token, quote.ltp, quote.close, quote.ts)
                    )

    def _before_core(self, batch: list[MarketEvent]) -> None:
        """Hook: what sees every event before the core (a paper fill model)."""

    def _count(self, n: int) -> None:
        self.events_seen += n
        start, count = self._rate_window
        count += n
        now = self._now_s()
        self._last_event_s = now
        if now - start >= 1.0:
            self._ticks_per_s = count / (now - start)
            self._rate_window = (now, 0)
        else:
            self._rate_window = (start, count)

    # -- what the UI drains each frame --------------------------------------------------------

    def take_dirty(self) -> dict[str, Quote]:
        """Latest quote of every instrument that changed since the last call (for the UI)."""
        return self.bus.ui_view.take_dirty()

    def latest(self, token: str) -> Quote | None:
        """The latest quote of one instrument the UI has seen (or None)."""
        return self.bus.ui_view.latest(token)

    def ltp(self, token: str) -> int:
        """Last traded price of one instrument in price units (0 before the first quote)."""
        quote = self.bus.ui_view.latest(token)
        return quote.ltp if quote is not None else 0

    def take_new_trades(self) -> dict[str, list[TradePrint]]:
        """Trade prints not yet shown, per token, oldest first (the Angel feed sends none)."""
        return self.bus.ui_view.take_new_trades()

    def tape(self, token: str) -> list[TradePrint]:
        """The recent trade prints of one instrument, oldest first."""
        return self.bus.ui_view.tape(token)

    def take_core_events(self) -> list[CoreEvent]:
        """Durable core events since the last call, oldest first."""
        events = list(self._core_events)
        self._core_events.clear()
        return events

    def take_alerts(self) -> list[AlertFired]:
        """Price alerts fired since the last call, oldest first."""
        fired = list(self._fired)
        self._fired.clear()
        return fired

    def add_events(self, events: Iterable[CoreEvent]) -> None:
        """Queue events for the UI as if the core had announced them (UI-only notes)."""
        self._core_events.extend(events)

    # -- status -------------------------------------------------------------------------------

    def _transport_state(self, seen_events: bool) -> str | None:
        """Hook: a feed state only the kind knows (``DOWN``, ``STALE``, ``ENDED``), or None."""
        return None

    def feed_state(self) -> str:
        """The kind's own state first (:meth:`_transport_state`); else ``WAITING`` before the
        first event, ``CLOSED`` outside the session, ``STALE`` when nothing came for a while in
        an open market, and ``LIVE`` while events flow."""
        seen = self._last_event_s is not None
        own = self._transport_state(seen)
        if own is not None:
            return own
        if self._last_event_s is None:
            return "WAITING"
        if self.market.phase is SessionPhase.CLOSED:
            return "CLOSED"
        if self._now_s() - self._last_event_s > STALE_AFTER_S:
            return "STALE"
        return "LIVE"

    def status(self) -> StatusBarInfo:
        """Figures for the status bar."""
        stats = self.bus.stats()
        lag = stats.consumer("core").lag.p99_ns / 1e6 if "core" in stats.delivered else 0.0
        core = self.core
        day_pnl = margin = open_orders = 0
        risk_pct: float | None = None
        kill = KillSwitchState.ARMED.value
        if core is not None:
            usage = core.risk_usage()
            day_pnl = int(usage["day_pnl"])
            margin = int(usage["margin_used"])
            used = usage.get("daily_loss_used_pct")
            risk_pct = None if used is None else float(used)
            kill = str(usage["kill_switch"])
            open_orders = int(usage["open_orders"])
        market = self.market
        return StatusBarInfo(
            mode=self.mode_text,
            feed=self.feed_state(),
            ticks_per_s=self._ticks_per_s,
            lag_ms=lag,
            day_pnl=day_pnl,
            margin_used=margin,
            risk_used_pct=risk_pct,
            kill_switch=kill,
            clock=to_ist(market.now_ns).strftime("%H:%M:%S"),
            phase=market.phase.value,
            session_label=market.label,
            open_orders=open_orders,
        )
