"""Paper fills against quotes from outside (the live Angel One feed, or a replayed recording).

:class:`PaperFills` is the part :class:`~cockpit.live_session.LiveDataPaperSession` and
:class:`~cockpit.replay_session.ReplaySession` share: a :class:`~brokers.paper_live.PaperLiveBroker`
that every market event reaches before the core (marketable orders walk the quote's best-5 depth,
resting limits fill when trades cross them), and the end of the day: working DAY orders expire
when the market leaves continuous trading.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping

from brokers.paper_live import PaperLiveBroker
from engine.clock import Clock, SessionPhase
from engine.fills import FillModelConfig
from engine.models import Instrument, MarketEvent

__all__ = ["PaperFills"]


class PaperFills:
    """The paper broker over an external feed, and its end-of-day expiry."""

    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        *,
        clock: Clock,
        phase: Callable[[], SessionPhase],
        config: FillModelConfig | None,
        seed: int | None,
    ) -> None:
        self.broker = PaperLiveBroker(
            instruments, clock=clock, config=config, rng=random.Random(seed), phase=phase
        )
        self._phase = phase
        self._last_phase = phase()

    def on_events(self, batch: list[MarketEvent]) -> None:
        """Every event, in order, into the fill model (before the core sees it)."""
        on_event = self.broker.on_event
        for event in batch:
            on_event(event)

    def check_close(self) -> bool:
        """Expire working paper orders if the market left continuous trading since the last
        check; True when it did."""
        phase = self._phase()
        was, self._last_phase = self._last_phase, phase
        if was is SessionPhase.CONTINUOUS and phase is not SessionPhase.CONTINUOUS:
            self.broker.expire_day_orders()
            return True
        return False

    async def watch_close(self, every_s: float = 1.0) -> None:
        """Run :meth:`check_close` every ``every_s`` seconds until cancelled."""
        while True:
            await asyncio.sleep(every_s)
            self.check_close()
