"""Session wiring: the simulated market, the bus, the paper broker, the journal and the core.

``PaperSession`` owns everything ``cockpit --paper`` runs:

* the bundled universe (NIFTY 50 + indices + near-month futures, expiries derived from today);
* a :class:`~engine.simulator.SimulatedMarket` driven on the loop at the configured speed (or
  stepped by the caller with :meth:`PaperSession.step` when ``drive`` is off: tests, snapshots);
* a :class:`~engine.bus.MarketBus`: the core reads every event in order from its queue, the UI
  reads the conflated latest quote per instrument at its frame rate;
* the paper broker trading account 1 in the same books as the synthetic traders;
* the journal (one per account) and the :class:`~engine.core.TradingCore` over all of it;
* what the screen needs besides the core: bars for the chart (:class:`~engine.bars.BarAggregator`),
  price alerts evaluated on every quote (:class:`~engine.alerts.AlertBook`), and the core's
  durable events queued for the UI's frame timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

from brokers.paper import PaperBroker
from engine.alerts import AlertBook, AlertFired
from engine.bars import BarAggregator
from engine.bus import MarketBus
from engine.calendar import default_calendar
from engine.charges import ANGEL_ONE, ChargesModel
from engine.clock import NS_PER_MS, SessionPhase, SimClock, WallClock, ist_date, to_ist
from engine.core import CoreEvent, TradingCore
from engine.instruments import InstrumentIndex
from engine.journal import Journal
from engine.kill_switch import KillSwitchState
from engine.models import Exchange, Instrument, MarketEvent, Quote, TradePrint
from engine.money import rupees_to_units
from engine.paper_universe import build_paper_universe
from engine.portfolio import Portfolio
from engine.risk import PreTradeRisk
from engine.risk_config import RiskConfig
from engine.sim_config import SessionMode, SimulatorConfig
from engine.simulator import SimulatedMarket
from widgets.status_bar import StatusBarInfo

log = logging.getLogger("cockpit.session")

PAPER_ACCOUNT = "paper"

STALE_AFTER_S = 3.0
"""The feed shows STALE when nothing arrived for this long (market open)."""


@dataclass(frozen=True, slots=True)
class PaperSessionOptions:
    """What shapes a paper session (from config and the command line).

    ``clock_start_ns`` starts the simulated clock at a fixed time (tests and snapshots; default
    now). ``drive`` runs the wall-clock market driver; with ``drive=False`` nothing moves until
    the caller calls :meth:`PaperSession.step`. ``tick_ms`` is the driver's step period.
    """

    seed: int = 42
    speed: float = 1.0
    session: Literal["auto", "real", "always_open"] = "auto"
    events_per_s: float = 20.0
    starting_cash: Decimal = Decimal("1000000")
    journal_path: Path | None = None
    risk: RiskConfig | None = None
    today: date | None = None
    clock_start_ns: int | None = None
    drive: bool = True
    tick_ms: int = 20


def choose_mode(choice: str, now_ns: int) -> SessionMode:
    """``auto`` follows the real NSE clock on a trading day during market hours, else it runs an
    always-open simulated session (so the paper market works evenings and weekends)."""
    if choice == "real":
        return SessionMode.REAL
    if choice == "always_open":
        return SessionMode.ALWAYS_OPEN
    phase = default_calendar().phase_at(now_ns)
    open_phases = (SessionPhase.PRE_OPEN, SessionPhase.PRE_OPEN_MATCH, SessionPhase.CONTINUOUS)
    return SessionMode.REAL if phase in open_phases else SessionMode.ALWAYS_OPEN


class PaperSession:
    """Everything ``cockpit --paper`` runs, started and stopped as one."""

    is_live = False
    """A paper session never sends orders to a real broker (the LIVE review gate is off)."""

    def __init__(self, options: PaperSessionOptions) -> None:
        self.options = options
        now = options.clock_start_ns if options.clock_start_ns is not None else (
            WallClock().now_ns()
        )
        today = options.today or ist_date(now)
        self.universe = build_paper_universe(today)
        self.index: InstrumentIndex = self.universe.index()
        self.mode = choose_mode(options.session, now)
        clock = SimClock(options.clock_start_ns) if options.clock_start_ns is not None else None
        self.market = SimulatedMarket(
            self.universe.instruments,
            self.universe.start_prices,
            seed=options.seed,
            config=SimulatorConfig(
                mode=self.mode,
                speed=options.speed,
                events_per_s=options.events_per_s,
                tick_ms=options.tick_ms,
                index_weights={
                    k: {t: float(w) for t, w in v.items()}
                    for k, v in self.universe.index_weights.items()
                },
            ),
            clock=clock,
        )
        # Without the driver, lag and rates are measured on the simulated clock (deterministic).
        self.bus = MarketBus(clock=None if options.drive else self.market.clock)
        self._core_queue = self.bus.subscribe("core", maxsize=100_000)
        self.broker = PaperBroker(self.market)
        self.journal: Journal | None = None
        self.core: TradingCore | None = None
        self.bars = BarAggregator()
        self.alerts = AlertBook()
        self._fired: deque[AlertFired] = deque(maxlen=1000)
        self._core_events: deque[CoreEvent] = deque(maxlen=10_000)
        self._unsubscribe: Callable[[], None] | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._now_s: Callable[[], float] = (
            time.monotonic if options.drive else (lambda: self.market.now_ns / 1e9)
        )
        self._rate_window: tuple[float, int] = (self._now_s(), 0)
        self._ticks_per_s = 0.0
        self._last_event_s: float | None = None
        self.events_seen = 0
        """Market events the core has been fed (for the bench and the log)."""

    @property
    def instruments(self) -> list[Instrument]:
        """The instruments, in the bundled order."""
        return self.universe.instruments

    @property
    def trading(self) -> TradingCore:
        """The core; raises if the session has no journal (it then cannot trade)."""
        if self.core is None:
            raise RuntimeError(
                "this paper session has no trading core: start it with a journal_path"
            )
        return self.core

    def instrument(self, token: str) -> Instrument | None:
        """An instrument by token."""
        return self.index.by_token(token)

    def _phase_of(self, exchange: Exchange) -> SessionPhase:
        return self.market.phase

    async def start(self) -> None:
        """Open the journal, rebuild the account, start the market and the core's feed task."""
        if self.options.journal_path is not None:
            self.journal = Journal.open(self.options.journal_path)
            risk = PreTradeRisk(self.options.risk or RiskConfig(), self.market.clock)
            cash = rupees_to_units(self.options.starting_cash)
            self.core = TradingCore(
                broker=self.broker,
                journal=self.journal,
                instruments={i.token: i for i in self.universe.instruments},
                risk=risk,
                portfolio=Portfolio(cash),
                charges=ChargesModel(ANGEL_ONE),
                clock=self.market.clock,
                account=PAPER_ACCOUNT,
                phase_of=self._phase_of,
            )
            self._unsubscribe = self.core.subscribe(self._core_events.append)
            await self.core.start()
        self.bus.attach_loop(asyncio.get_running_loop())
        if self.options.drive:
            self._tasks.append(
                asyncio.create_task(self.market.run(self.bus.publish, stop=self._stop))
            )
            self._tasks.append(asyncio.create_task(self._feed_core()))

    async def step(self, seconds: float, *, dt_ms: int = 20) -> None:
        """Advance the market ``seconds`` of simulated time in ``dt_ms`` steps (``drive=False``),
        feeding the bus and the core as the driver would and letting the core settle each step."""
        if self.options.drive:
            raise RuntimeError("step() is for sessions built with drive=False")
        steps = max(1, round(seconds * 1000 / dt_ms))
        for _ in range(steps):
            events = self.market.step(dt_ms * NS_PER_MS)
            self.bus.publish_many(events)
            self._process(self._core_queue.drain())
            if self.core is not None:
                await self.core.settle()

    async def _feed_core(self) -> None:
        while True:
            batch = await self._core_queue.get_batch(4096)
            if not batch:
                return
            self._process(batch)

    def _process(self, batch: list[MarketEvent]) -> None:
        if not batch:
            return
        self._count(len(batch))
        self.bars.on_events(batch)
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

    async def stop(self) -> None:
        """Stop the market, the core and the journal (flushed first); safe to call twice."""
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.bus.close()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.core is not None:
            await self.core.stop()
            self.core = None
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        log.info("paper session stopped", extra={"events": self.events_seen})

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
        """Trade prints not yet shown, per token, oldest first."""
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
        """Queue events for the UI as if the core had announced them (used for UI-only notes)."""
        self._core_events.extend(events)

    # -- status -------------------------------------------------------------------------------

    def feed_state(self) -> str:
        """``LIVE`` while events flow, ``STALE`` when none came for a while in an open market,
        ``CLOSED`` outside the session, ``WAITING`` before the first event."""
        phase = self.market.phase
        if self._last_event_s is None:
            return "WAITING"
        if phase is SessionPhase.CLOSED:
            return "CLOSED"
        if self._now_s() - self._last_event_s > STALE_AFTER_S:
            return "STALE"
        return "LIVE"

    def status(self) -> StatusBarInfo:
        """Figures for the status bar."""
        stats = self.bus.stats()
        lag = stats.consumer("core").lag.p99_ns / 1e6 if "core" in stats.delivered else 0.0
        core = self.core
        day_pnl = margin = 0
        risk_pct: float | None = None
        kill = KillSwitchState.ARMED.value
        open_orders = 0
        if core is not None:
            usage = core.risk_usage()
            day_pnl = int(usage["day_pnl"])
            margin = int(usage["margin_used"])
            used = usage.get("daily_loss_used_pct")
            risk_pct = None if used is None else float(used)
            kill = str(usage["kill_switch"])
            open_orders = int(usage["open_orders"])
        return StatusBarInfo(
            mode="PAPER",
            feed=self.feed_state(),
            ticks_per_s=self._ticks_per_s,
            lag_ms=lag,
            day_pnl=day_pnl,
            margin_used=margin,
            risk_used_pct=risk_pct,
            kill_switch=kill,
            clock=to_ist(self.market.now_ns).strftime("%H:%M:%S"),
            phase=self.market.phase.value,
            session_label=self.market.label,
            open_orders=open_orders,
        )
