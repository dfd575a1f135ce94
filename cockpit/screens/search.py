"""Instrument search as a Textual command-palette provider over ``InstrumentIndex.search``.

The index's ranked search (exact symbol, prefix, words, then fuzzy) picks the candidates; the
palette shows symbol, exchange and name. Choosing one shows it in the watchlist (or adds it to the
shown list, when the search was opened with ``+`` on the watchlist).
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from textual.command import DiscoveryHit, Hit, Hits, Provider

from engine.models import Instrument
from widgets.watchlist import display_symbol

SEARCH_LIMIT = 20
"""Instruments listed per query."""


def instrument_label(instrument: Instrument) -> str:
    """``SBIN  NSE  State Bank of India``."""
    return f"{display_symbol(instrument)}  {instrument.exchange.value}  {instrument.name}"


class InstrumentProvider(Provider):
    """Fuzzy instrument search for the command palette."""

    add_to_watchlist: ClassVar[bool] = False
    """Set by the app before it opens the palette: add the choice to the watchlist."""

    def _choose(self, instrument: Instrument) -> None:
        from cockpit.app import CockpitApp

        app = self.app
        if isinstance(app, CockpitApp):
            app.instrument_chosen(instrument, InstrumentProvider.add_to_watchlist)

    async def search(self, query: str) -> Hits:
        """Rank instruments by the index's search; best first."""
        from cockpit.app import CockpitApp

        app = self.app
        if not isinstance(app, CockpitApp) or not query.strip():
            return
        found = app.session.index.search(query, SEARCH_LIMIT)
        matcher = self.matcher(query)
        for rank, instrument in enumerate(found):
            label = instrument_label(instrument)
            score = 1.0 - rank / (len(found) + 1)
            yield Hit(score, matcher.highlight(label), partial(self._choose, instrument),
                      text=label)

    async def discover(self) -> Hits:
        """The shown watchlist's instruments before anything is typed."""
        from cockpit.app import CockpitApp
        from widgets.watchlist import Watchlist

        app = self.app
        if not isinstance(app, CockpitApp):
            return
        for instrument in app.main.query_one(Watchlist).instruments:
            label = instrument_label(instrument)
            yield DiscoveryHit(label, partial(self._choose, instrument), text=label)
