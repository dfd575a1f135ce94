"""``cockpit --paper --replay FILE``: a recorded Angel One feed played back, with paper fills.

:class:`ReplaySession` is a :class:`~cockpit.session_base.TradingSession` over a
:class:`~cockpit.recording.ReplayFeed`: the recorded packets are decoded by the live feed's decoder
and published on the bus at the recorded pace (``speed`` 1), faster, or as fast as possible
(``speed=None``). Orders fill in the paper engine against the replayed quotes
(:class:`~cockpit.paper_fills.PaperFills`: marketable orders walk the best-5 depth, resting limits
fill when trades cross them). The session's clock is the replay's clock (it moves to each record's
receive time), so orders, fills, bars and the status bar's time are those of the recording. The
instruments are the recording's own (its header). No network is used and no credential is needed.

The account is a paper account in the journal the caller names (the CLI starts a fresh one per
replay: a replay's clock goes back to the recording's day, which must not mix with another run's
history). The status bar says ``REPLAY / PAPER FILLS`` and the feed state ``ENDED`` once the file
has been played to the end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

from cockpit.paper_fills import PaperFills
from cockpit.recording import ReplayFeed
from cockpit.session_base import MarketClock, TradingSession
from engine.bus import MarketBus
from engine.calendar import default_calendar
from engine.clock import SessionPhase
from engine.fills import FillModelConfig
from engine.instruments import InstrumentIndex
from engine.models import Instrument, MarketEvent
from engine.money import rupees_to_units
from engine.risk_config import RiskConfig

__all__ = ["REPLAY_ACCOUNT", "REPLAY_MODE", "ReplaySession", "ReplaySessionOptions"]

log = logging.getLogger("cockpit.replay_session")

REPLAY_MODE = "REPLAY / PAPER FILLS"
"""Status-bar mode of ``cockpit --paper --replay FILE``."""

REPLAY_ACCOUNT = "paper-replay"
"""Account name of a replay's paper account (in its journal records)."""


@dataclass(frozen=True, slots=True)
class ReplaySessionOptions:
    """What shapes a replay.

    ``path``: the recording (``cockpit record``). ``speed``: 1.0 the recorded pace, 10.0 ten
    times faster, ``None`` as fast as possible. ``journal_path``: the paper account's journal.
    ``market_phase``: ``calendar`` (the NSE calendar at the replayed time decides when orders are
    taken) or ``always_open``. ``starting_cash`` (rupees), ``fill`` (the fill model) and ``seed``
    (its slippage RNG) as for live data with paper fills.
    """

    path: Path
    journal_path: Path
    speed: float | None = 1.0
    market_phase: Literal["calendar", "always_open"] = "calendar"
    risk: RiskConfig | None = None
    starting_cash: Decimal = Decimal("1000000")
    fill: FillModelConfig | None = None
    seed: int | None = None


class ReplaySession(TradingSession):
    """A recording played back through the bus, the paper fill model and the core."""

    is_live = False
    mode_text = REPLAY_MODE
    watchlist_name = "replay"

    def __init__(self, options: ReplaySessionOptions) -> None:
        super().__init__(MarketBus())
        self.options = options
        self.feed = ReplayFeed(options.path, speed=options.speed)
        """The replay (raises :class:`~cockpit.recording.RecordingFormatError` here for a file
        that is not a recording)."""
        self.by_token: dict[str, Instrument] = self.feed.instruments()
        self.index = InstrumentIndex(list(self.by_token.values()))
        clock = self.feed.clock
        calendar = default_calendar()
        always = options.market_phase == "always_open"

        def phase() -> SessionPhase:
            return SessionPhase.CONTINUOUS if always else calendar.phase_at(clock.now_ns())

        speed = "max" if options.speed is None else f"{options.speed:g}x"
        self.market = MarketClock(clock, phase, f"replay {options.path.name} {speed}")
        self.fills = PaperFills(
            self.by_token, clock=clock, phase=phase, config=options.fill, seed=options.seed
        )
        self.broker = self.fills.broker
        self.ended = False
        """True once the whole file has been played."""

    @property
    def instruments(self) -> list[Instrument]:
        """The recorded instruments, in the recording's order."""
        return list(self.by_token.values())

    async def _open(self) -> None:
        core = self._open_core(
            self.broker,
            account=REPLAY_ACCOUNT,
            journal_path=self.options.journal_path,
            cash=rupees_to_units(self.options.starting_cash),
            instruments=self.by_token,
            clock=self.feed.clock,
            risk=self.options.risk,
        )
        await core.start()
        self._spawn(self._play(), "replay-feed")
        self._spawn(self.fills.watch_close(), "replay-close")

    async def _play(self) -> None:
        await self.feed.run(self.bus.publish, self._stop_event)
        self.ended = True
        stats = self.feed.stats
        log.info(
            "replay of %s ended",
            self.options.path.name,
            extra={"records": stats.records, "published": stats.published,
                   "dropped": stats.dropped},
        )

    def _before_core(self, batch: list[MarketEvent]) -> None:
        self.fills.on_events(batch)

    def _transport_state(self, seen_events: bool) -> str | None:
        """``ENDED`` once the recording has been played to the end."""
        return "ENDED" if self.ended else None
