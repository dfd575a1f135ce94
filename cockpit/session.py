"""Session wiring: the simulated market, the bus, the paper broker, the journal and the core.

``PaperSession`` owns everything ``cockpit --paper`` runs:

* the bundled universe (NIFTY 50 + indices + near-month futures, expiries derived from today);
* a :class:`~engine.simulator.SimulatedMarket` driven on the loop at the configured speed (or
  stepped by the caller with :meth:`PaperSession.step` when ``drive`` is off: tests, snapshots);
* a :class:`~engine.bus.MarketBus`: the core reads every event in order from its queue, the UI
  reads the conflated latest quote per instrument at its frame rate;
* the paper broker trading account 1 in the same books as the synthetic traders;
* the journal (one per account) and the :class:`~engine.core.TradingCore` over all of it;
* what the screen needs besides the core (bars, alerts, the core's events for the frame timer,
  the status bar): :class:`~cockpit.session_base.TradingSession`, which every session kind shares.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal

from brokers.paper import PaperBroker
from cockpit.session_base import TradingSession
from engine.bus import MarketBus
from engine.calendar import default_calendar
from engine.clock import NS_PER_MS, SessionPhase, SimClock, WallClock, ist_date
from engine.models import Instrument
from engine.money import rupees_to_units
from engine.paper_universe import build_paper_universe
from engine.risk_config import RiskConfig
from engine.sim_config import SessionMode, SimulatorConfig
from engine.simulator import SimulatedMarket

PAPER_ACCOUNT = "paper"

PAPER_MODE = "PAPER"
"""Status-bar mode of ``cockpit --paper``."""


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


class PaperSession(TradingSession):
    """Everything ``cockpit --paper`` runs, started and stopped as one."""

    is_live = False
    """A paper session never sends orders to a real broker (the LIVE review gate is off)."""

    mode_text = PAPER_MODE
    market: SimulatedMarket

    def __init__(self, options: PaperSessionOptions) -> None:
        self.options = options
        now = options.clock_start_ns if options.clock_start_ns is not None else (
            WallClock().now_ns()
        )
        today = options.today or ist_date(now)
        self.universe = build_paper_universe(today)
        self.index = self.universe.index()
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
                holidays=frozenset(default_calendar().holidays),
                index_weights={
                    k: {t: float(w) for t, w in v.items()}
                    for k, v in self.universe.index_weights.items()
                },
            ),
            clock=clock,
        )
        # Without the driver, lag and rates are measured on the simulated clock (deterministic).
        super().__init__(
            MarketBus(clock=None if options.drive else self.market.clock),
            now_s=time.monotonic if options.drive else (lambda: self.market.now_ns / 1e9),
        )
        self._feeds_core = options.drive
        self.broker = PaperBroker(self.market)

    @property
    def instruments(self) -> list[Instrument]:
        """The instruments, in the bundled order."""
        return self.universe.instruments

    async def _open(self) -> None:
        """Open the journal, rebuild the account, start the market driver."""
        if self.options.journal_path is not None:
            core = self._open_core(
                self.broker,
                account=PAPER_ACCOUNT,
                journal_path=self.options.journal_path,
                cash=rupees_to_units(self.options.starting_cash),
                instruments={i.token: i for i in self.universe.instruments},
                clock=self.market.clock,
                risk=self.options.risk,
            )
            await core.start()
        if self.options.drive:
            self._spawn(self.market.run(self.bus.publish, stop=self._stop_event), "paper-market")

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
